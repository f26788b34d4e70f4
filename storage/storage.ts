/**
 * The Storage contract every backend implements and
 * `storage/conformance.ts` checks. All methods are async; a rejected promise
 * is a storage failure and poisons the node that sees it (it stops and never
 * acknowledges what it could not persist).
 *
 * @example
 * ```ts
 * import type { Storage } from "./storage.ts";
 * async function lastIndexOf(storage: Storage): Promise<number> {
 *   return (await storage.load()).entries.at(-1)?.index ?? 0;
 * }
 * ```
 * @module
 */
import type { HardState, LogEntry, Snapshot } from "../kernel/types.ts";

/** Everything a node recovers on start. */
export interface PersistedState {
  /** Term and vote; `{ term: 0, votedFor: null }` for a new node. */
  readonly hardState: HardState;
  /** The latest snapshot, or `null`. */
  readonly snapshot: Snapshot | null;
  /**
   * The stored log entries, contiguous and in index order. They may begin
   * at or before the snapshot's index (entries a snapshot covers are kept
   * until `compactPrefix`); the node ignores those.
   */
  readonly entries: LogEntry[];
}

/** Durable storage for one Raft node. */
export interface Storage {
  /** Reads the hard state, the snapshot and the log. */
  load(): Promise<PersistedState>;
  /** Durably replaces the hard state. */
  saveHardState(state: HardState): Promise<void>;
  /**
   * Durably appends contiguous entries as one atomic batch. When
   * `entries[0].index` is not past the last stored index, every stored entry
   * at or after it is replaced (the suffix is truncated in the same batch).
   * `entries[0].index` must be at most `lastIndex + 1` and past the snapshot.
   */
  append(entries: readonly LogEntry[]): Promise<void>;
  /** Durably removes every entry with index `>= fromIndex`. */
  truncateSuffix(fromIndex: number): Promise<void>;
  /** Reads entries with `from <= index < to` (only those that exist). */
  entries(from: number, to: number): Promise<LogEntry[]>;
  /** Index of the last entry (or of the snapshot when the log is empty; 0 for none). */
  lastIndex(): Promise<number>;
  /** Durably stores a snapshot, replacing the previous one. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /** Reads the latest snapshot, or `null`. */
  loadSnapshot(): Promise<Snapshot | null>;
  /** Durably removes every entry with index `<= upToIndex`. */
  compactPrefix(upToIndex: number): Promise<void>;
  /** Releases resources. Further calls reject. */
  close?(): Promise<void>;
}
