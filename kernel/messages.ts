/**
 * The one schema of every message nodes exchange, and its validation. Every
 * message is a plain JSON-safe object with a version field `v`; anything that
 * arrives from outside goes through {@linkcode validateMessage} before the
 * kernel sees it, so a malformed message is dropped without changing state.
 *
 * @example
 * ```ts
 * import { validateMessage } from "./messages.ts";
 * const msg = validateMessage({ v: 1, type: "timeoutNow", term: 3, from: "a", to: "b" });
 * console.log(msg.type); // "timeoutNow"
 * ```
 * @module
 */
import { InvalidMessageError } from "./errors.ts";
import type { LogEntry, NodeId } from "./types.ts";

/** The message schema version this build speaks. */
export const MESSAGE_VERSION = 1;

/** Fields every message carries. */
export interface MessageHeader {
  /** Schema version; see {@linkcode MESSAGE_VERSION}. */
  readonly v: typeof MESSAGE_VERSION;
  /** Sender's current term. */
  readonly term: number;
  /** Sender id. */
  readonly from: NodeId;
  /** Recipient id. */
  readonly to: NodeId;
}

/** Leader → follower: replicate entries after `prevLogIndex` (§5.3). */
export interface AppendEntries extends MessageHeader {
  /** Message tag. */
  readonly type: "append";
  /** Index of the entry just before `entries`. */
  readonly prevLogIndex: number;
  /** Term of the entry at `prevLogIndex`. */
  readonly prevLogTerm: number;
  /** Entries to store (empty for a heartbeat). */
  readonly entries: readonly LogEntry[];
  /** Leader's commit index. */
  readonly leaderCommit: number;
  /** Leader's read round; echoed in the reply to confirm leadership (§6.4). */
  readonly seq: number;
}

/** Follower → leader: the outcome of an AppendEntries. */
export interface AppendEntriesReply extends MessageHeader {
  /** Message tag. */
  readonly type: "appendReply";
  /** Whether the follower's log matched at `prevLogIndex`. */
  readonly success: boolean;
  /** On success: the last index known to match the leader's log. */
  readonly matchIndex: number;
  /** On failure: the `prevLogIndex` that did not match. */
  readonly rejectedIndex: number;
  /** On failure: where the leader should look next (fast back-off, §5.3). */
  readonly hintIndex: number;
  /** On failure: the follower's term at `hintIndex`, or 0. */
  readonly hintTerm: number;
  /** The `seq` of the AppendEntries this answers. */
  readonly seq: number;
}

/** Candidate → voter: a (pre-)vote request (§5.2, thesis §9.6). */
export interface RequestVote extends MessageHeader {
  /** Message tag. */
  readonly type: "vote";
  /** Index of the candidate's last entry. */
  readonly lastLogIndex: number;
  /** Term of the candidate's last entry. */
  readonly lastLogTerm: number;
  /** A PreVote round: `term` is the term the candidate would use. */
  readonly preVote: boolean;
  /** Sent after TimeoutNow: voters ignore their leader lease (§3.10). */
  readonly transfer: boolean;
}

/** Voter → candidate: the answer to a (pre-)vote request. */
export interface RequestVoteReply extends MessageHeader {
  /** Message tag. */
  readonly type: "voteReply";
  /** Whether the vote was granted. */
  readonly granted: boolean;
  /** Whether this answers a PreVote request. */
  readonly preVote: boolean;
}

/** Leader → transfer target: start an election now (thesis §3.10). */
export interface TimeoutNow extends MessageHeader {
  /** Message tag. */
  readonly type: "timeoutNow";
}

/** Any message nodes exchange. */
export type Message =
  | AppendEntries
  | AppendEntriesReply
  | RequestVote
  | RequestVoteReply
  | TimeoutNow;

/** The `type` tag of a message. */
export type MessageType = Message["type"];

/** Largest index or term a message may carry. */
const MAX_NUMBER = Number.MAX_SAFE_INTEGER;

function fail(reason: string): never {
  throw new InvalidMessageError(`Cannot accept the message: ${reason}`);
}

function counter(value: unknown, field: string): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < 0 ||
    value > MAX_NUMBER
  ) {
    fail(`${field} must be a non-negative integer`);
  }
  return value;
}

function nodeId(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 256) {
    fail(`${field} must be a non-empty string of at most 256 characters`);
  }
  return value;
}

function flag(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") fail(`${field} must be a boolean`);
  return value;
}

function entryList(value: unknown, prevLogIndex: number): LogEntry[] {
  if (!Array.isArray(value)) fail("entries must be an array");
  let expected = prevLogIndex + 1;
  for (const entry of value as unknown[]) {
    if (typeof entry !== "object" || entry === null) {
      fail("each entry must be an object");
    }
    const e = entry as Record<string, unknown>;
    if (e.index !== expected) {
      fail(`entry index must be ${expected}, got ${String(e.index)}`);
    }
    counter(e.term, "entry term");
    if (e.kind !== "command" && e.kind !== "noop") {
      fail('entry kind must be "command" or "noop"');
    }
    if (e.command === undefined) fail("entry command must be present");
    expected++;
  }
  return value as LogEntry[];
}

/**
 * Checks that `value` is a well-formed message of this version and returns
 * it typed. Throws {@linkcode InvalidMessageError} (and changes nothing)
 * otherwise. Entry terms are also checked against the message term, since an
 * entry can never be newer than the leader that sends it.
 *
 * @example
 * ```ts
 * import { validateMessage } from "./messages.ts";
 * try {
 *   validateMessage({ v: 9, type: "append" });
 * } catch (e) {
 *   console.log((e as Error).message);
 * }
 * ```
 */
export function validateMessage(value: unknown): Message {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("not an object");
  }
  const m = value as Record<string, unknown>;
  if (m.v !== MESSAGE_VERSION) {
    fail(
      `unknown version ${String(m.v)} (this node speaks ${MESSAGE_VERSION})`,
    );
  }
  const term = counter(m.term, "term");
  nodeId(m.from, "from");
  nodeId(m.to, "to");
  switch (m.type) {
    case "append": {
      const prev = counter(m.prevLogIndex, "prevLogIndex");
      const prevTerm = counter(m.prevLogTerm, "prevLogTerm");
      if (prevTerm > term) fail("prevLogTerm must not exceed term");
      counter(m.leaderCommit, "leaderCommit");
      counter(m.seq, "seq");
      const entries = entryList(m.entries, prev);
      let last = prevTerm;
      for (const e of entries) {
        if (e.term > term || e.term < last) {
          fail("entry terms must not decrease nor exceed the message term");
        }
        last = e.term;
      }
      break;
    }
    case "appendReply":
      flag(m.success, "success");
      counter(m.matchIndex, "matchIndex");
      counter(m.rejectedIndex, "rejectedIndex");
      counter(m.hintIndex, "hintIndex");
      counter(m.hintTerm, "hintTerm");
      counter(m.seq, "seq");
      break;
    case "vote":
      counter(m.lastLogIndex, "lastLogIndex");
      counter(m.lastLogTerm, "lastLogTerm");
      flag(m.preVote, "preVote");
      flag(m.transfer, "transfer");
      break;
    case "voteReply":
      flag(m.granted, "granted");
      flag(m.preVote, "preVote");
      break;
    case "timeoutNow":
      break;
    default:
      fail(`unknown type ${JSON.stringify(m.type)}`);
  }
  return m as unknown as Message;
}
