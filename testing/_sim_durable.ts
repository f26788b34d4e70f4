/**
 * What each node's storage holds, as the invariant checker tracks it: the
 * term of every stored entry and the stored snapshot. Each change returns
 * the range of indexes whose stored entry changed, so the checker re-checks
 * only the committed entries that a write could have taken away.
 * @module
 */
import type { LogEntry, NodeId } from "../kernel/types.ts";

/** Indexes `[from, to]` whose stored entry changed, or `null`. */
export type Changed = readonly [from: number, to: number] | null;

interface Stored {
  /** Term of each stored entry by index (-1 once compacted). */
  terms: number[];
  /** Entries up to here are covered by the stored snapshot. */
  snapshotIndex: number;
  /** Term of the entry at `snapshotIndex`. */
  snapshotTerm: number;
  /** Entries up to here were dropped from the log. */
  compactedTo: number;
}

/** The stored logs of every node. */
export class DurableLogs {
  readonly #logs = new Map<NodeId, Stored>();

  /** Index of the last entry `id` stores (or of its snapshot). */
  lastIndex(id: NodeId): number {
    return this.#get(id).terms.length - 1;
  }

  /** The (term, index) of the last entry `id` stores: what a vote compares. */
  last(id: NodeId): [term: number, index: number] {
    const d = this.#get(id);
    const index = d.terms.length - 1;
    const term = d.terms[index];
    if (term >= 0) return [term, index];
    return [index <= d.snapshotIndex ? d.snapshotTerm : -1, index];
  }

  /** Whether `id` stores the entry `(index, term)`, in its log or snapshot. */
  holds(id: NodeId, index: number, term: number): boolean {
    const d = this.#logs.get(id);
    return d !== undefined &&
      (index <= d.snapshotIndex || d.terms[index] === term);
  }

  /** `id` replaced its log from `entries[0].index` (no gap allowed). */
  append(id: NodeId, entries: readonly LogEntry[]): Changed {
    const d = this.#get(id);
    const first = entries[0].index;
    const replaced = d.terms.splice(first);
    for (const entry of entries) d.terms.push(entry.term);
    let from = Infinity;
    let to = -1;
    for (let i = 0; i < replaced.length; i++) {
      if (d.terms[first + i] === replaced[i]) continue;
      from = Math.min(from, first + i);
      to = first + i;
    }
    return to < 0 ? null : [from, to];
  }

  /** `id` dropped its entries from `from` on. */
  truncate(id: NodeId, from: number): Changed {
    const d = this.#get(id);
    if (from >= d.terms.length) return null;
    const last = d.terms.length - 1;
    d.terms.length = Math.max(1, from);
    return [from, last];
  }

  /** `id` stored a snapshot up to `(index, term)`. */
  snapshot(id: NodeId, index: number, term: number): Changed {
    const d = this.#get(id);
    const before = d.snapshotIndex;
    d.snapshotIndex = index;
    d.snapshotTerm = term;
    if (index >= d.terms.length - 1) {
      // A snapshot at or past the log's end replaces the whole log.
      while (d.terms.length <= index) d.terms.push(-1);
      d.terms.length = index + 1;
      d.compactedTo = Math.max(d.compactedTo, index);
    }
    return index < before ? [index + 1, before] : null;
  }

  /** `id` dropped its entries up to `upTo`. */
  compact(id: NodeId, upTo: number): Changed {
    const d = this.#get(id);
    for (let i = d.compactedTo + 1; i <= upTo && i < d.terms.length; i++) {
      d.terms[i] = -1;
    }
    if (upTo > d.compactedTo) d.compactedTo = upTo;
    return upTo > d.snapshotIndex ? [d.snapshotIndex + 1, upTo] : null;
  }

  #get(id: NodeId): Stored {
    let d = this.#logs.get(id);
    if (!d) {
      d = { terms: [0], snapshotIndex: 0, snapshotTerm: 0, compactedTo: 0 };
      this.#logs.set(id, d);
    }
    return d;
  }
}
