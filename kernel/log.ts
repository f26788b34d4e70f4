/**
 * The in-memory view of a node's log that the core and behaviors read, and
 * the two ways it changes: a leader appends its own entries, and a follower
 * accepts a leader's entries after the consistency check of §5.3.
 *
 * @example
 * ```ts
 * import { RaftLog } from "./log.ts";
 * const log = new RaftLog();
 * log.appendOwn(1, "command", { op: "put" });
 * console.log(log.lastIndex, log.termAt(1)); // 1 1
 * ```
 * @module
 */
import type { Json, LogEntry } from "./types.ts";

/** What a behavior may read of the log. */
export interface LogView {
  /** Index of the first entry still held (snapshotIndex + 1). */
  readonly firstIndex: number;
  /** Index of the last entry (or of the snapshot when none follow it). */
  readonly lastIndex: number;
  /** Term of the last entry (or of the snapshot). */
  readonly lastTerm: number;
  /** Last index known durable in this node's storage. */
  readonly stableIndex: number;
  /** Index the log was compacted up to (0 when never compacted). */
  readonly snapshotIndex: number;
  /** Term of the entry at `snapshotIndex`. */
  readonly snapshotTerm: number;
  /**
   * Term of the entry at `index`, or `undefined` when the log does not hold
   * it (past the end, or compacted away; the snapshot's own index answers).
   */
  termAt(index: number): number | undefined;
  /** Entries with `from <= index < to` that the log still holds. */
  slice(from: number, to: number): LogEntry[];
  /** The entry at `index`, or `undefined`. */
  entry(index: number): LogEntry | undefined;
}

/** The outcome of {@linkcode RaftLog.accept}. */
export type AcceptResult =
  | {
    readonly ok: true;
    readonly matchIndex: number;
    readonly truncatedFrom: number | null;
    readonly appended: LogEntry[];
  }
  | {
    readonly ok: false;
    readonly hintIndex: number;
    readonly hintTerm: number;
  };

/**
 * A node's log in memory: entries after the last snapshot, with the
 * snapshot's index and term standing in for everything before.
 *
 * @example
 * ```ts
 * import { RaftLog } from "./log.ts";
 * const log = new RaftLog();
 * const r = log.accept(0, 0, [{ index: 1, term: 2, kind: "noop", command: null }]);
 * console.log(r.ok, log.lastTerm); // true 2
 * ```
 */
export class RaftLog implements LogView {
  #entries: LogEntry[] = [];
  #snapshotIndex = 0;
  #snapshotTerm = 0;
  #stableIndex = 0;

  /** Creates a log holding `entries` after a snapshot at (index, term). */
  constructor(
    entries: readonly LogEntry[] = [],
    snapshotIndex = 0,
    snapshotTerm = 0,
  ) {
    this.#snapshotIndex = snapshotIndex;
    this.#snapshotTerm = snapshotTerm;
    this.#entries = entries.slice();
    this.#stableIndex = this.lastIndex;
  }

  /** {@inheritDoc LogView.firstIndex} */
  get firstIndex(): number {
    return this.#snapshotIndex + 1;
  }
  /** {@inheritDoc LogView.lastIndex} */
  get lastIndex(): number {
    return this.#snapshotIndex + this.#entries.length;
  }
  /** {@inheritDoc LogView.lastTerm} */
  get lastTerm(): number {
    const n = this.#entries.length;
    return n === 0 ? this.#snapshotTerm : this.#entries[n - 1].term;
  }
  /** {@inheritDoc LogView.stableIndex} */
  get stableIndex(): number {
    return this.#stableIndex;
  }
  /** {@inheritDoc LogView.snapshotIndex} */
  get snapshotIndex(): number {
    return this.#snapshotIndex;
  }
  /** {@inheritDoc LogView.snapshotTerm} */
  get snapshotTerm(): number {
    return this.#snapshotTerm;
  }

  /** {@inheritDoc LogView.termAt} */
  termAt(index: number): number | undefined {
    if (index === this.#snapshotIndex) return this.#snapshotTerm;
    const entry = this.#entries[index - this.#snapshotIndex - 1];
    return entry?.term;
  }

  /** {@inheritDoc LogView.entry} */
  entry(index: number): LogEntry | undefined {
    return index > this.#snapshotIndex
      ? this.#entries[index - this.#snapshotIndex - 1]
      : undefined;
  }

  /** {@inheritDoc LogView.slice} */
  slice(from: number, to: number): LogEntry[] {
    const base = this.#snapshotIndex + 1;
    return this.#entries.slice(
      Math.max(0, from - base),
      Math.max(0, to - base),
    );
  }

  /** Appends a leader's own new entry of `term` and returns it. */
  appendOwn(term: number, kind: LogEntry["kind"], command: Json): LogEntry {
    const entry: LogEntry = { index: this.lastIndex + 1, term, kind, command };
    this.#entries.push(entry);
    return entry;
  }

  /**
   * The follower side of AppendEntries (§5.3): checks that the log holds
   * `prevLogIndex` with `prevLogTerm`, then stores `entries`, truncating only
   * from the first entry whose term conflicts. Entries the log already holds
   * are never removed by a stale or duplicated message. On a mismatch it
   * returns a hint for the leader's fast back-off (thesis §5.3): the first
   * index of the conflicting term, or the index just past the log's end.
   */
  accept(
    prevLogIndex: number,
    prevLogTerm: number,
    entries: readonly LogEntry[],
  ): AcceptResult {
    if (prevLogIndex > this.lastIndex) {
      return { ok: false, hintIndex: this.lastIndex + 1, hintTerm: 0 };
    }
    let skip = 0;
    if (prevLogIndex < this.#snapshotIndex) {
      // Everything up to the snapshot is committed and so matches the
      // leader; skip the part of the message the snapshot already covers.
      skip = Math.min(entries.length, this.#snapshotIndex - prevLogIndex);
    } else {
      const term = this.termAt(prevLogIndex);
      if (term !== prevLogTerm) {
        let first = prevLogIndex;
        while (
          first - 1 > this.#snapshotIndex && this.termAt(first - 1) === term
        ) {
          first--;
        }
        return { ok: false, hintIndex: first, hintTerm: term ?? 0 };
      }
    }
    let truncatedFrom: number | null = null;
    let i = skip;
    for (; i < entries.length; i++) {
      const entry = entries[i];
      const mine = this.termAt(entry.index);
      if (mine === undefined) break;
      if (mine !== entry.term) {
        truncatedFrom = entry.index;
        this.#entries.length = entry.index - this.#snapshotIndex - 1;
        if (this.#stableIndex >= entry.index) {
          this.#stableIndex = entry.index - 1;
        }
        break;
      }
    }
    const appended = i === 0 ? entries.slice() : entries.slice(i);
    for (const entry of appended) this.#entries.push(entry);
    return {
      ok: true,
      matchIndex: prevLogIndex + entries.length,
      truncatedFrom,
      appended,
    };
  }

  /** Records that storage holds everything up to `index` of `term`. */
  markStable(index: number, term: number): void {
    if (index > this.#stableIndex && this.termAt(index) === term) {
      this.#stableIndex = index;
    }
  }

  /**
   * Installs a snapshot received from the leader (§7): when the log holds
   * the snapshot's last entry with the same term, the entries after it are
   * kept; otherwise the whole log is replaced by the snapshot. Returns
   * whether the suffix was kept.
   */
  installSnapshot(index: number, term: number): boolean {
    const keep = this.termAt(index) === term && index >= this.#snapshotIndex;
    if (keep) {
      this.#entries = this.#entries.slice(index - this.#snapshotIndex);
    } else {
      this.#entries = [];
    }
    this.#snapshotIndex = index;
    this.#snapshotTerm = term;
    if (!keep || this.#stableIndex < index) this.#stableIndex = index;
    return keep;
  }

  /** Drops entries up to `index` (which must be held) after a snapshot. */
  compact(index: number): void {
    if (index <= this.#snapshotIndex || index > this.lastIndex) return;
    const term = this.termAt(index)!;
    this.#entries = this.#entries.slice(index - this.#snapshotIndex);
    this.#snapshotIndex = index;
    this.#snapshotTerm = term;
  }
}
