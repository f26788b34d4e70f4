/**
 * The error classes every part of deno-raft throws. Callers branch on the
 * class: a proposal rejected with {@linkcode NotLeaderError},
 * {@linkcode IsolatedLeaderError}, {@linkcode TransferInProgressError} or
 * {@linkcode StoppedError} was never appended and is safe to retry; one
 * rejected with {@linkcode OutcomeUnknownError} was appended and may still
 * commit.
 *
 * @example
 * ```ts
 * import { NotLeaderError, RaftError } from "./errors.ts";
 * const e = new NotLeaderError("b");
 * console.log(e instanceof RaftError, e.leaderId); // true "b"
 * ```
 * @module
 */

/**
 * Base class of every error deno-raft raises.
 *
 * @example
 * ```ts
 * import { RaftError, StoppedError } from "./errors.ts";
 * console.log(new StoppedError("a") instanceof RaftError); // true
 * ```
 */
export class RaftError extends Error {
  /** Creates an error with the given message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The node is not the leader; `leaderId` names the leader it knows of, if any.
 * The request was never proposed: retry it on the leader.
 *
 * @example
 * ```ts
 * import { NotLeaderError } from "./errors.ts";
 * const e = new NotLeaderError(null);
 * console.log(e.leaderId); // null
 * ```
 */
export class NotLeaderError extends RaftError {
  /** The leader this node last heard from, or `null` when it knows none. */
  readonly leaderId: string | null;
  /** Creates the error with a hint of the current leader. */
  constructor(leaderId: string | null, message?: string) {
    super(
      message ??
        `Cannot serve the request as this node is not the leader${
          leaderId ? ` (leader: ${leaderId})` : " (no leader known)"
        }`,
    );
    this.leaderId = leaderId;
  }
}

/**
 * The leader has not heard from a majority of voters within the isolation
 * window and refuses new proposals. The request was never proposed.
 *
 * @example
 * ```ts
 * import { IsolatedLeaderError } from "./errors.ts";
 * console.log(new IsolatedLeaderError().message);
 * ```
 */
export class IsolatedLeaderError extends RaftError {
  /** Creates the error. */
  constructor(message?: string) {
    super(
      message ??
        "Cannot accept the proposal as the leader is isolated from a majority of voters",
    );
  }
}

/**
 * A leadership transfer is under way; proposals are refused until it ends.
 * The request was never proposed.
 *
 * @example
 * ```ts
 * import { TransferInProgressError } from "./errors.ts";
 * console.log(new TransferInProgressError("b").target); // "b"
 * ```
 */
export class TransferInProgressError extends RaftError {
  /** The node leadership is being handed to. */
  readonly target: string;
  /** Creates the error naming the transfer target. */
  constructor(target: string) {
    super(
      `Cannot accept the request as leadership is being transferred to ${target}`,
    );
    this.target = target;
  }
}

/**
 * A leadership transfer did not complete: it timed out, the node stopped,
 * leadership was lost to another node, or the target is not a voter.
 *
 * @example
 * ```ts
 * import { TransferFailedError } from "./errors.ts";
 * console.log(new TransferFailedError("b", "timeout").reason); // "timeout"
 * ```
 */
export class TransferFailedError extends RaftError {
  /** The node leadership was to be handed to. */
  readonly target: string;
  /** Why the transfer ended without success. */
  readonly reason: TransferFailureReason;
  /** Creates the error. */
  constructor(target: string, reason: TransferFailureReason, detail?: string) {
    super(
      `Cannot transfer leadership to ${target}: ${reason}${
        detail ? ` (${detail})` : ""
      }`,
    );
    this.target = target;
    this.reason = reason;
  }
}

/** Why a leadership transfer failed. */
export type TransferFailureReason =
  | "timeout"
  | "stopped"
  | "not-a-voter"
  | "not-leader"
  | "superseded";

/**
 * A storage operation failed. The node that saw it stops (it is poisoned) and
 * never acknowledges what it could not persist.
 *
 * @example
 * ```ts
 * import { StorageError } from "./errors.ts";
 * const e = new StorageError("disk full", { cause: new Error("ENOSPC") });
 * console.log(e.cause instanceof Error); // true
 * ```
 */
export class StorageError extends RaftError {
  /**
   * For a proposal that was already appended when storage failed: its log
   * index. It may still commit elsewhere (treat it as outcome unknown).
   * Absent when the request was never proposed.
   */
  readonly index?: number;
  /** Creates the error; pass `index` for an appended proposal. */
  constructor(message: string, options?: ErrorOptions & { index?: number }) {
    super(message, options);
    if (options?.index !== undefined) this.index = options.index;
  }
}

/**
 * The node is stopped (or stopping); the request was not proposed.
 *
 * @example
 * ```ts
 * import { StoppedError } from "./errors.ts";
 * console.log(new StoppedError("a").message);
 * ```
 */
export class StoppedError extends RaftError {
  /** Creates the error for the given node id. */
  constructor(nodeId: string, message?: string) {
    super(message ?? `Cannot serve the request as node ${nodeId} is stopped`);
  }
}

/**
 * The options or the behavior registry are invalid.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./errors.ts";
 * console.log(new ConfigError("voters must not be empty").name); // "ConfigError"
 * ```
 */
export class ConfigError extends RaftError {}

/**
 * The proposal was appended to the leader's log, then leadership was lost or
 * the deadline passed before it committed. It may or may not commit later.
 *
 * @example
 * ```ts
 * import { OutcomeUnknownError } from "./errors.ts";
 * console.log(new OutcomeUnknownError(7, "leadership lost").index); // 7
 * ```
 */
export class OutcomeUnknownError extends RaftError {
  /**
   * The log index the proposal was appended at; 0 for a proposal forwarded
   * to the leader whose answer never came.
   */
  readonly index: number;
  /** Creates the error for the proposal appended at `index`. */
  constructor(index: number, reason: string) {
    super(
      `Cannot tell whether the ${
        index > 0 ? `proposal at index ${index}` : "forwarded proposal"
      } committed: ${reason}`,
    );
    this.index = index;
  }
}

/**
 * A message failed validation at a boundary (transport or kernel). The
 * message was dropped without changing any state.
 *
 * @example
 * ```ts
 * import { InvalidMessageError } from "./errors.ts";
 * console.log(new InvalidMessageError("term must be an integer").message);
 * ```
 */
export class InvalidMessageError extends RaftError {}
