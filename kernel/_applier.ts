/**
 * A node's state machine side: committed entries are applied in order (the
 * proposal waiting at each index is answered with its result), and reads
 * are served once the state machine has applied their read index.
 * @module
 */
import { yieldNow } from "./async.ts";
import type { RaftCore } from "./core.ts";
import type { StateMachine } from "./node.ts";
import type { PendingRequests } from "./_requests.ts";

const APPLY_SLICE_MS = 5;

/** What the applier needs from its node. */
export interface ApplierHooks {
  /** The state machine. */
  readonly machine: StateMachine<unknown>;
  /** The node's pending requests, answered here. */
  readonly requests: PendingRequests;
  /** A batch of entries was applied, up to `lastApplied`. */
  applied(lastApplied: number): void;
  /** Whether the node stopped. */
  stopped(): boolean;
}

/** Applies one node's committed entries and serves its reads. */
export class Applier {
  readonly #hooks: ApplierHooks;
  #lastApplied = 0;
  #reads: { requestId: number; index: number }[] = [];

  /** Starts with nothing applied. */
  constructor(hooks: ApplierHooks) {
    this.#hooks = hooks;
  }

  /** Highest index the state machine reflects. */
  get lastApplied(): number {
    return this.#lastApplied;
  }

  /** The state machine reflects a snapshot up to `index`. */
  advanceTo(index: number): void {
    if (index > this.#lastApplied) this.#lastApplied = index;
  }

  /** Applies the entries after `lastApplied` up to `upTo`. */
  async apply(core: RaftCore, upTo: number): Promise<void> {
    const h = this.#hooks;
    let sliceStart = performance.now();
    let count = 0;
    while (this.#lastApplied < upTo) {
      const index = this.#lastApplied + 1;
      const entry = core.log.entry(index);
      if (!entry) break; // compacted: a snapshot restore is due first
      let result: unknown = null;
      if (entry.kind === "command") {
        result = h.machine.apply(entry.command, index);
        if (result instanceof Promise) result = await result;
      }
      this.#lastApplied = index;
      h.requests.applied(index, entry.term, result);
      // Long batches yield so timers (heartbeats) keep firing.
      if (
        ++count % 16 === 0 && performance.now() - sliceStart > APPLY_SLICE_MS
      ) {
        await yieldNow();
        sliceStart = performance.now();
        if (h.stopped()) return;
      }
    }
    if (count > 0) h.applied(this.#lastApplied);
  }

  /** Reads that may be served once their index is applied. */
  queueReads(reads: readonly { requestId: number; index: number }[]): void {
    for (const r of reads) this.#reads.push(r);
  }

  /** Serves the reads whose index is applied. */
  serveReads(): void {
    if (this.#reads.length === 0) return;
    const waiting: { requestId: number; index: number }[] = [];
    for (const read of this.#reads) {
      if (read.index <= this.#lastApplied) {
        this.#hooks.requests.settle(read.requestId, read.index);
      } else waiting.push(read);
    }
    this.#reads = waiting;
  }

  /** Drops the reads not served yet (their requests failed). */
  dropReads(): void {
    this.#reads = [];
  }
}
