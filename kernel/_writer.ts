/**
 * The node's log writer: it persists Readies in order, one storage batch
 * for every Ready that queued up while the previous write ran (group
 * commit), releases each Ready's messages only after that write, and runs
 * every storage call one at a time.
 * @module
 */
import type { Ready } from "./core.ts";
import { StorageError } from "./errors.ts";
import type { Message } from "./messages.ts";
import type { HardState, LogEntry, NodeId, Snapshot } from "./types.ts";
import type { Storage } from "../storage/storage.ts";

/** What the writer tells its node. */
export interface WriterHooks {
  /** A message may leave now. */
  send(message: Message): void;
  /** Entries up to (index, term) are durable. */
  persisted(index: number, term: number): void;
  /** A snapshot installed from the leader is durable. */
  installed(snapshot: Snapshot): void;
  /** Storage failed: the node must stop. */
  failed(error: StorageError): void;
  /** Whether the node stopped (pending work is dropped). */
  stopped(): boolean;
}

/** Persists Readies for one node. */
export class LogWriter {
  readonly #nodeId: NodeId;
  readonly #storage: Storage;
  readonly #hooks: WriterHooks;
  #queue: Ready[] = [];
  #running = false;
  #done: Promise<void> = Promise.resolve();
  #tail: Promise<void> = Promise.resolve();
  #hardStateJobs = 0;

  /** Creates the writer of node `nodeId` over `storage`. */
  constructor(nodeId: NodeId, storage: Storage, hooks: WriterHooks) {
    this.#nodeId = nodeId;
    this.#storage = storage;
    this.#hooks = hooks;
  }

  /** Whether a term or vote is queued or being written. */
  get hardStatePending(): boolean {
    return this.#hardStateJobs > 0;
  }

  /** Whether a write is queued or running (later messages wait for it). */
  get busy(): boolean {
    return this.#running || this.#queue.length > 0;
  }

  /** Resolves once everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.#done.then(() => this.#tail);
  }

  /** Queues a Ready: its writes, then its messages. */
  push(ready: Ready): void {
    this.#queue.push(ready);
    if (ready.hardState) this.#hardStateJobs++;
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#drain().catch((error) =>
      this.#hooks.failed(error as StorageError)
    );
  }

  /**
   * Runs a storage call after every call before it, turning any failure
   * into a {@linkcode StorageError}.
   */
  call<T>(operation: (storage: Storage) => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => operation(this.#storage)).catch(
      (error) => {
        throw error instanceof StorageError ? error : new StorageError(
          `Cannot persist on node ${this.#nodeId}: ${
            (error as Error)?.message
          }`,
          { cause: error },
        );
      },
    );
    this.#tail = run.then(() => {}, () => {});
    return run;
  }

  async #drain(): Promise<void> {
    try {
      await this.#drainQueue();
    } catch (error) {
      this.#running = false;
      throw error;
    }
  }

  async #drainQueue(): Promise<void> {
    for (;;) {
      if (this.#queue.length === 0 || this.#hooks.stopped()) {
        // Cleared in the same turn as the empty-queue check: a push that
        // comes after it starts a new drain instead of being stranded.
        this.#running = false;
        return;
      }
      const jobs = this.#queue;
      this.#queue = [];
      let entries: LogEntry[] = [];
      let hardState: HardState | null = null;
      // The last entry written before an install that kept the log stays
      // stored after it and must be reported too: otherwise a follower
      // that merged an append and an install into one batch never learns
      // that entry is durable, and never applies it while the cluster is
      // idle (found by the simulator's settle check: 5 nodes with 2
      // non-voters, seed 77, 10,000 steps, maxAppendBytes Infinity).
      let keptBeforeInstall: LogEntry | null = null;
      for (const job of jobs) {
        if (job.snapshot) {
          // Entries queued before a snapshot install go first, in order.
          await this.#persist(entries, hardState);
          keptBeforeInstall = job.snapshotKeptLog && entries.length > 0
            ? entries[entries.length - 1]
            : null;
          entries = [];
          hardState = null;
          await this.#install(job.snapshot, job.snapshotKeptLog);
        }
        if (job.hardState) hardState = job.hardState;
        if (job.entries.length > 0) mergeEntries(entries, job.entries);
      }
      await this.#persist(entries, hardState);
      for (const job of jobs) if (job.hardState) this.#hardStateJobs--;
      let compactTo = 0;
      for (const job of jobs) compactTo = Math.max(compactTo, job.compactTo);
      if (compactTo > 0) await this.call((s) => s.compactPrefix(compactTo));
      if (this.#hooks.stopped()) return;
      for (const job of jobs) {
        for (const message of job.messages) this.#hooks.send(message);
      }
      const last = entries.length > 0
        ? entries[entries.length - 1]
        : keptBeforeInstall;
      if (last) this.#hooks.persisted(last.index, last.term);
    }
  }

  async #persist(
    entries: LogEntry[],
    hardState: HardState | null,
  ): Promise<void> {
    // Term and vote first: a crash in between then never leaves entries of
    // a term newer than the stored current term.
    if (hardState) await this.call((s) => s.saveHardState(hardState));
    if (entries.length > 0) await this.call((s) => s.append(entries));
  }

  /**
   * Persists a snapshot installed from the leader. Conflicting entries after
   * it are removed before the snapshot is saved, so a crash in between can
   * never leave a log whose entries after the snapshot disagree with it.
   */
  async #install(snapshot: Snapshot, keptLog: boolean): Promise<void> {
    if (!keptLog) await this.call((s) => s.truncateSuffix(snapshot.index + 1));
    await this.call((s) => s.saveSnapshot(snapshot));
    await this.call((s) => s.compactPrefix(snapshot.index));
    this.#hooks.installed(snapshot);
  }
}

/** Appends `next` to `batch`, replacing the suffix it overwrites. */
function mergeEntries(batch: LogEntry[], next: readonly LogEntry[]): void {
  const first = next[0].index;
  if (batch.length > 0 && first <= batch[batch.length - 1].index) {
    batch.length = Math.max(0, first - batch[0].index);
  }
  for (const entry of next) batch.push(entry);
}
