/**
 * The simulator's agenda: events ordered by virtual time, ties broken by the
 * order they were scheduled, so a run is a pure function of its seed.
 * @module
 */

interface Slot<E> {
  readonly at: number;
  readonly seq: number;
  readonly event: E;
}

/** A binary min-heap of events keyed by `(at, seq)`. */
export class EventQueue<E> {
  #heap: Slot<E>[] = [];
  #seq = 0;

  /** Number of events waiting. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `event` at virtual time `at`. */
  push(at: number, event: E): void {
    const heap = this.#heap;
    heap.push({ at, seq: this.#seq++, event });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  /** Removes and returns the earliest event, or `undefined`. */
  pop(): { at: number; event: E } | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return { at: top.at, event: top.event };
  }
}

function before<E>(a: Slot<E>, b: Slot<E>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
