// The body format of the HTTP transport, in both directions: a JSON array
// of messages, built by joining messages encoded one at a time (so a queue
// can hold bytes and count them against the body limit), and parsed back
// with every check a 400 stands for.
import { InvalidMessageError } from "../kernel/errors.ts";
import {
  type Message,
  MESSAGE_VERSION,
  validateMessage,
} from "../kernel/messages.ts";
import type { NodeId } from "../kernel/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** One message as the UTF-8 JSON bytes a batch is joined from. */
export function encodeMessage(message: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

/** Size of the batch `join` would build from messages of these sizes. */
export function batchBytes(messageBytes: number, count: number): number {
  return messageBytes + 2 + Math.max(0, count - 1);
}

/** Joins encoded messages into one body: `[m1,m2,...]`. */
export function joinBatch(messages: readonly Uint8Array[]): Uint8Array {
  let size = 2;
  for (const m of messages) size += m.byteLength;
  size += Math.max(0, messages.length - 1);
  const bytes = new Uint8Array(size);
  bytes[0] = 0x5b; // [
  let offset = 1;
  messages.forEach((message, i) => {
    if (i > 0) bytes[offset++] = 0x2c; // ,
    bytes.set(message, offset);
    offset += message.byteLength;
  });
  bytes[offset] = 0x5d; // ]
  return bytes;
}

/**
 * Parses and checks a batch addressed to `self`; throws an
 * {@linkcode InvalidMessageError} with the reason a 400 carries. With
 * `from`, every message must come from that member (a batch in a response
 * comes from the peer that was asked).
 */
export function parseBatch(
  body: Uint8Array,
  self: NodeId,
  members: ReadonlySet<NodeId>,
  from?: NodeId,
): Message[] {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch {
    throw new InvalidMessageError("Cannot parse the body as UTF-8 JSON");
  }
  if (!Array.isArray(value)) {
    throw new InvalidMessageError("Cannot accept the body: not an array");
  }
  const messages: Message[] = [];
  for (const raw of value) {
    const v = (raw as { v?: unknown } | null)?.v;
    if (v !== MESSAGE_VERSION) {
      throw new InvalidMessageError(
        `Cannot accept a message of version ${
          String(v)
        } (this node speaks ${MESSAGE_VERSION})`,
      );
    }
    const message = validateMessage(raw);
    if (message.to !== self) {
      throw new InvalidMessageError(
        `Cannot accept a message for ${message.to} on ${self}`,
      );
    }
    if (
      !members.has(message.from) || message.from === self ||
      (from !== undefined && message.from !== from)
    ) {
      throw new InvalidMessageError(
        `Cannot accept a message from ${message.from}: not a peer`,
      );
    }
    messages.push(message);
  }
  return messages;
}

/**
 * Messages whose answer is worth holding the response open for: the
 * receiver answers them as soon as it can (after its write, at most). A
 * forwarded proposal is not one: its answer waits on the leader's own
 * replication, and a held response would stall the forwarder's next batch.
 */
const ASKING = new Set<string>(["append", "vote", "snapshot"]);
/** Messages that answer another one. */
const ANSWERS = new Set<string>([
  "appendReply",
  "voteReply",
  "snapshotReply",
  "proposeReply",
]);

/**
 * Whether a message answers another one: it may overtake a request in
 * flight to the same peer (answers are matched by term and index, never by
 * order), where an AppendEntries overtaking the one before it would only be
 * refused for the gap.
 */
export function isAnswer(message: { readonly type: string }): boolean {
  return ANSWERS.has(message.type);
}

/**
 * The one member every message of a batch that asks for an answer comes
 * from, or null: only such a batch waits for its answers to travel back in
 * the response.
 */
export function replyingTo(messages: readonly Message[]): NodeId | null {
  let asker: NodeId | null = null;
  for (const m of messages) {
    if (!ASKING.has(m.type)) continue;
    if (asker !== null && asker !== m.from) return null;
    asker = m.from;
  }
  return asker;
}
