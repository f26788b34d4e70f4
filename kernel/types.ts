/**
 * Plain data types shared by the kernel, the behaviors, storage and
 * transports: log entries, hard state, snapshots and JSON values.
 *
 * @example
 * ```ts
 * import type { LogEntry } from "./types.ts";
 * const entry: LogEntry = { index: 1, term: 1, kind: "command", command: { op: "put" } };
 * console.log(entry.index);
 * ```
 * @module
 */

/** A JSON-safe value: what commands, results and messages are made of. */
export type Json =
  | null
  | boolean
  | number
  | string
  | Json[]
  | { [key: string]: Json };

/** A node's identifier within its cluster. */
export type NodeId = string;

/**
 * One entry of the replicated log. `noop` entries are appended by a new
 * leader (§5.4.2, §6.4) and never reach the state machine.
 */
export interface LogEntry {
  /** Position in the log, starting at 1. */
  readonly index: number;
  /** Term of the leader that created the entry. */
  readonly term: number;
  /** Whether the entry carries a client command or is a leader's no-op. */
  readonly kind: "command" | "noop";
  /** The client command (`null` for no-ops). */
  readonly command: Json;
}

/** The state that must be durable before a node answers anyone (§5.1, §5.2). */
export interface HardState {
  /** Latest term the node has seen. */
  readonly term: number;
  /** Candidate the node voted for in `term`, or `null`. */
  readonly votedFor: NodeId | null;
}

/**
 * A state-machine snapshot covering the log up to and including `index`.
 */
export interface Snapshot {
  /** Last log index the snapshot covers. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Voters at the time of the snapshot. */
  readonly voters: readonly NodeId[];
  /** Non-voting members at the time of the snapshot. */
  readonly nonVoters: readonly NodeId[];
  /** The state machine's serialized state. */
  readonly data: Uint8Array;
}

/** The membership of a cluster. Non-voters get the log but never vote. */
export interface Membership {
  /** Members that vote and count toward quorum. */
  readonly voters: readonly NodeId[];
  /** Members that only replicate. */
  readonly nonVoters: readonly NodeId[];
}
