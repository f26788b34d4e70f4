/**
 * A node's durable storage in the simulator: what survives a crash. It
 * follows `storage/memory.ts` operation by operation (append replaces the
 * suffix, a snapshot at or past the log's end empties it, compaction drops
 * a prefix), synchronously, and reports every change to the checker.
 * @module
 */
import type { HardState, LogEntry, NodeId, Snapshot } from "../kernel/types.ts";
import { type InvariantChecker, InvariantViolation } from "./invariants.ts";

/** One storage call of the driver's writer. */
export type StorageOp =
  | { readonly op: "append"; readonly entries: readonly LogEntry[] }
  | { readonly op: "hardState"; readonly hardState: HardState }
  | { readonly op: "truncate"; readonly from: number }
  | { readonly op: "snapshot"; readonly snapshot: Snapshot }
  | { readonly op: "compact"; readonly upTo: number };

/** What a restarting node loads. */
export interface Loaded {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot, in order. */
  readonly entries: LogEntry[];
}

/** Durable hard state, snapshot and log of one node. */
export class SimStorage {
  readonly #id: NodeId;
  readonly #checker: InvariantChecker;
  #hardState: HardState = { term: 0, votedFor: null };
  #snapshot: Snapshot | null = null;
  /** `#log[k].index === #offset + k + 1`. */
  #log: LogEntry[] = [];
  #offset = 0;

  /** Creates empty storage for node `id`. */
  constructor(id: NodeId, checker: InvariantChecker) {
    this.#id = id;
    this.#checker = checker;
  }

  /** Durable term and vote. */
  get hardState(): HardState {
    return this.#hardState;
  }

  /** Index of the last stored entry (or of the snapshot). */
  get lastIndex(): number {
    return this.#offset + this.#log.length;
  }

  /** Carries out one storage call. */
  apply(op: StorageOp): void {
    const checker = this.#checker;
    switch (op.op) {
      case "append": {
        if (op.entries.length === 0) return;
        const first = op.entries[0].index;
        if (first > this.lastIndex + 1 || first <= this.#offset) {
          this.#fail(
            `append at ${first} while the log holds ${
              this.#offset + 1
            }..${this.lastIndex}`,
          );
        }
        checker.durableEntries(this.#id, op.entries);
        this.#log.length = first - this.#offset - 1;
        for (const entry of op.entries) this.#log.push(entry);
        return;
      }
      case "hardState":
        this.#hardState = op.hardState;
        checker.durableHardState(this.#id, op.hardState);
        return;
      case "truncate": {
        checker.durableTruncate(this.#id, op.from);
        const keep = Math.max(0, op.from - this.#offset - 1);
        if (keep < this.#log.length) this.#log.length = keep;
        return;
      }
      case "snapshot": {
        const s = op.snapshot;
        checker.durableSnapshot(this.#id, s.index, s.term);
        this.#snapshot = s;
        if (s.index >= this.lastIndex) {
          this.#log = [];
          this.#offset = s.index;
        }
        this.#checkCovered();
        return;
      }
      case "compact": {
        const drop = Math.min(this.#log.length, op.upTo - this.#offset);
        if (drop <= 0) return;
        checker.durableCompact(this.#id, this.#offset + drop);
        this.#log = this.#log.slice(drop);
        this.#offset += drop;
        this.#checkCovered();
        return;
      }
    }
  }

  /**
   * What `kernel/node.ts` loads on start: the snapshot and the entries
   * after it. The entries must follow the snapshot without a gap, or the
   * rebuilt log would put entries at the wrong indexes.
   */
  load(): Loaded {
    const base = this.#snapshot?.index ?? 0;
    const entries = this.#log.filter((e) => e.index > base);
    if (entries.length > 0 && entries[0].index !== base + 1) {
      this.#fail(
        `restart loads a snapshot at ${base} and entries from ${
          entries[0].index
        }`,
      );
    }
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries };
  }

  /** Whether the stored log after the snapshot matches `termAt`. */
  matches(lastIndex: number, termAt: (index: number) => number | undefined) {
    const base = this.#snapshot?.index ?? 0;
    if (
      this.lastIndex !== lastIndex &&
      !(this.#log.length === 0 && lastIndex === base)
    ) {
      return false;
    }
    return this.#log.every((e) =>
      e.index <= base || termAt(e.index) === e.term
    );
  }

  /** Entries compacted away must be covered by the stored snapshot. */
  #checkCovered(): void {
    const covered = this.#snapshot?.index ?? 0;
    if (this.#offset > covered) {
      this.#fail(
        `entries up to ${this.#offset} were compacted but the stored snapshot ends at ${covered}`,
      );
    }
  }

  #fail(detail: string): never {
    throw new InvariantViolation(
      "Storage Contract",
      `${this.#id}: ${detail}`,
    );
  }
}
