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
import { Buffer } from "node:buffer";
import { InvalidMessageError } from "./errors.ts";
import type { Json, LogEntry, NodeId } from "./types.ts";

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

/**
 * Leader → follower: one chunk of a snapshot (§7), for a follower whose
 * next entry the leader has compacted away. Chunks go one at a time; the
 * follower answers each with the byte offset it expects next, so a lost or
 * repeated chunk resumes instead of restarting.
 */
export interface InstallSnapshot extends MessageHeader {
  /** Message tag. */
  readonly type: "snapshot";
  /** Last index the snapshot covers. */
  readonly lastIncludedIndex: number;
  /** Term of the entry at `lastIncludedIndex`. */
  readonly lastIncludedTerm: number;
  /** Byte offset of this chunk in the snapshot data. */
  readonly offset: number;
  /** Total size of the snapshot data in bytes. */
  readonly total: number;
  /** The chunk, base64-encoded. */
  readonly data: string;
  /** Whether this is the last chunk. */
  readonly done: boolean;
  /** Voters recorded in the snapshot. */
  readonly voters: readonly NodeId[];
  /** Non-voters recorded in the snapshot. */
  readonly nonVoters: readonly NodeId[];
}

/** Follower → leader: progress of a snapshot transfer. */
export interface InstallSnapshotReply extends MessageHeader {
  /** Message tag. */
  readonly type: "snapshotReply";
  /** The snapshot this answers (its last included index). */
  readonly lastIncludedIndex: number;
  /** Bytes received so far: the offset of the chunk wanted next. */
  readonly offset: number;
  /** Whether the snapshot is installed and durable. */
  readonly done: boolean;
}

/**
 * Member → leader: a client proposal made on a member that is not the
 * leader, forwarded when `forwardProposals` is on. It sits outside the term
 * rules (the leader appends it in its own term, whatever the sender's).
 */
export interface ForwardProposal extends MessageHeader {
  /** Message tag. */
  readonly type: "propose";
  /** Random id of the sender's run; a restarted member reuses no request ids. */
  readonly session: string;
  /** The sender's request id (unique within `session`). */
  readonly requestId: number;
  /** The command to append. */
  readonly command: Json;
}

/**
 * Leader → member: where a forwarded proposal went (`index`, `entryTerm`),
 * or why it was refused, in which case it was never appended.
 */
export interface ForwardProposalReply extends MessageHeader {
  /** Message tag. */
  readonly type: "proposeReply";
  /** The `session` of the proposal this answers. */
  readonly session: string;
  /** The `requestId` of the proposal this answers. */
  readonly requestId: number;
  /** Log index of the appended entry (0 when refused). */
  readonly index: number;
  /** Term of the appended entry (0 when refused). */
  readonly entryTerm: number;
  /** Why it was not appended, or `null` when it was. */
  readonly refused: ForwardRefusal | null;
  /** On refusal: the leader as the receiver knows it. */
  readonly leaderId: NodeId | null;
}

/**
 * Member → leader: asks for a read index (§6.4) for a read made on a member
 * that is not the leader (`forwardReads`). Outside the term rules.
 */
export interface ForwardRead extends MessageHeader {
  /** Message tag. */
  readonly type: "readIndex";
  /** Random id of the sender's run. */
  readonly session: string;
  /** The sender's request id. */
  readonly requestId: number;
}

/**
 * Leader → member: the read index, confirmed by a majority after the
 * request arrived, or why there is none.
 */
export interface ForwardReadReply extends MessageHeader {
  /** Message tag. */
  readonly type: "readIndexReply";
  /** The `session` of the request this answers. */
  readonly session: string;
  /** The `requestId` of the request this answers. */
  readonly requestId: number;
  /** Serve the read once this index is applied (0 when refused). */
  readonly index: number;
  /** Why there is no read index, or `null`. */
  readonly refused: ForwardRefusal | null;
  /** On refusal: the leader as the receiver knows it. */
  readonly leaderId: NodeId | null;
}

/**
 * Why a forwarded request was not taken. Every refusal but `"unknown"` means
 * it was never appended; `"unknown"` means the receiver cannot tell whether
 * an earlier copy of the same request was (it restarted, or forgot).
 */
export type ForwardRefusal = "not-leader" | "isolated" | "transfer" | "unknown";

/** The refusals a {@linkcode ForwardProposalReply} may carry. */
export const FORWARD_REFUSALS: readonly ForwardRefusal[] = [
  "not-leader",
  "isolated",
  "transfer",
  "unknown",
];

/** Any message nodes exchange. */
export type Message =
  | AppendEntries
  | AppendEntriesReply
  | RequestVote
  | RequestVoteReply
  | TimeoutNow
  | InstallSnapshot
  | InstallSnapshotReply
  | ForwardProposal
  | ForwardProposalReply
  | ForwardRead
  | ForwardReadReply;

/** The `type` tag of a message. */
export type MessageType = Message["type"];

/**
 * Encodes snapshot bytes for an {@linkcode InstallSnapshot} chunk.
 *
 * @example
 * ```ts
 * import { decodeChunk, encodeChunk } from "./messages.ts";
 * console.log(decodeChunk(encodeChunk(new Uint8Array([1, 2]))).length); // 2
 * ```
 */
export function encodeChunk(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString("base64");
}

/**
 * Decodes the data of an {@linkcode InstallSnapshot} chunk.
 *
 * @example
 * ```ts
 * import { decodeChunk } from "./messages.ts";
 * console.log(decodeChunk("AQI=")); // Uint8Array(2) [ 1, 2 ]
 * ```
 */
export function decodeChunk(data: string): Uint8Array {
  const buffer = Buffer.from(data, "base64");
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

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

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64Size(text: string): number {
  if (text.length % 4 !== 0) fail("data must be padded base64");
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

function idList(value: unknown, field: string): void {
  if (!Array.isArray(value) || value.length > 1000) {
    fail(`${field} must be an array of node ids`);
  }
  for (const id of value as unknown[]) nodeId(id, field);
}

function session(value: unknown): void {
  if (typeof value !== "string" || value.length === 0 || value.length > 64) {
    fail("session must be a non-empty string of at most 64 characters");
  }
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
    case "snapshot": {
      counter(m.lastIncludedIndex, "lastIncludedIndex");
      const snapshotTerm = counter(m.lastIncludedTerm, "lastIncludedTerm");
      if (snapshotTerm > term) fail("lastIncludedTerm must not exceed term");
      const offset = counter(m.offset, "offset");
      const total = counter(m.total, "total");
      if (typeof m.data !== "string" || !BASE64.test(m.data)) {
        fail("data must be a base64 string");
      }
      const size = base64Size(m.data as string);
      if (offset + size > total) fail("chunk must end within total");
      if (flag(m.done, "done") && offset + size !== total) {
        fail("the last chunk must end at total");
      }
      idList(m.voters, "voters");
      idList(m.nonVoters, "nonVoters");
      break;
    }
    case "snapshotReply":
      counter(m.lastIncludedIndex, "lastIncludedIndex");
      counter(m.offset, "offset");
      flag(m.done, "done");
      break;
    case "propose":
      session(m.session);
      counter(m.requestId, "requestId");
      if (m.command === undefined) fail("command must be present");
      break;
    case "proposeReply": {
      session(m.session);
      counter(m.requestId, "requestId");
      const index = counter(m.index, "index");
      counter(m.entryTerm, "entryTerm");
      if (m.refused === null) {
        if (index === 0) fail("an accepted proposal must have an index");
      } else if (!FORWARD_REFUSALS.includes(m.refused as ForwardRefusal)) {
        fail(`refused must be null or one of ${FORWARD_REFUSALS.join(", ")}`);
      }
      if (m.leaderId !== null) nodeId(m.leaderId, "leaderId");
      break;
    }
    case "readIndex":
      session(m.session);
      counter(m.requestId, "requestId");
      break;
    case "readIndexReply":
      session(m.session);
      counter(m.requestId, "requestId");
      counter(m.index, "index");
      if (
        m.refused !== null &&
        !FORWARD_REFUSALS.includes(m.refused as ForwardRefusal)
      ) {
        fail(`refused must be null or one of ${FORWARD_REFUSALS.join(", ")}`);
      }
      if (m.leaderId !== null) nodeId(m.leaderId, "leaderId");
      break;
    default:
      fail(`unknown type ${JSON.stringify(m.type)}`);
  }
  return m as unknown as Message;
}
