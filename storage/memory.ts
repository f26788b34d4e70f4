/**
 * {@linkcode MemoryStorage}: a Storage kept in process memory. It loses
 * everything when the process exits; use it for tests, demos and nodes whose
 * durability comes from the rest of the cluster.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./memory.ts";
 * const storage = new MemoryStorage();
 * await storage.append([{ index: 1, term: 1, kind: "noop", command: null }]);
 * console.log(await storage.lastIndex()); // 1
 * ```
 * @module
 */
import { StorageError } from "../kernel/errors.ts";
import type { HardState, LogEntry, Snapshot } from "../kernel/types.ts";
import type { PersistedState, Storage } from "./storage.ts";

/**
 * In-memory implementation of the Storage contract.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./memory.ts";
 * const storage = new MemoryStorage();
 * await storage.saveHardState({ term: 2, votedFor: "a" });
 * console.log((await storage.load()).hardState.term); // 2
 * ```
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, votedFor: null };
  #snapshot: Snapshot | null = null;
  /** Entries after the snapshot; `#log[k].index === #offset + k + 1`. */
  #log: LogEntry[] = [];
  #offset = 0;
  #closed = false;

  /** {@inheritDoc Storage.load} */
  load(): Promise<PersistedState> {
    return this.#run(() => {
      return {
        hardState: this.#hardState,
        snapshot: this.#snapshot,
        entries: this.#log.slice(),
      };
    });
  }

  /** {@inheritDoc Storage.saveHardState} */
  saveHardState(state: HardState): Promise<void> {
    return this.#run(() => {
      this.#hardState = { term: state.term, votedFor: state.votedFor };
      return;
    });
  }

  /** {@inheritDoc Storage.append} */
  append(entries: readonly LogEntry[]): Promise<void> {
    return this.#run(() => {
      if (entries.length === 0) return;
      const first = entries[0].index;
      const last = this.#offset + this.#log.length;
      if (first > last + 1 || first <= this.#offset) {
        throw new StorageError(
          `Cannot append at index ${first} as the log holds ${
            this.#offset + 1
          }..${last}`,
        );
      }
      if (first <= last) this.#log.length = first - this.#offset - 1;
      for (const entry of entries) this.#log.push(entry);
      return;
    });
  }

  /** {@inheritDoc Storage.truncateSuffix} */
  truncateSuffix(fromIndex: number): Promise<void> {
    return this.#run(() => {
      const keep = Math.max(0, fromIndex - this.#offset - 1);
      if (keep < this.#log.length) this.#log.length = keep;
      return;
    });
  }

  /** {@inheritDoc Storage.entries} */
  entries(from: number, to: number): Promise<LogEntry[]> {
    return this.#run(() => {
      const start = Math.max(0, from - this.#offset - 1);
      const end = Math.max(start, to - this.#offset - 1);
      return this.#log.slice(start, end);
    });
  }

  /** {@inheritDoc Storage.lastIndex} */
  lastIndex(): Promise<number> {
    return this.#run(() => {
      return this.#offset + this.#log.length;
    });
  }

  /** {@inheritDoc Storage.saveSnapshot} */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.#run(() => {
      this.#snapshot = snapshot;
      const last = this.#offset + this.#log.length;
      if (snapshot.index >= last) {
        this.#log = [];
        this.#offset = snapshot.index;
      }
      return;
    });
  }

  /** {@inheritDoc Storage.loadSnapshot} */
  loadSnapshot(): Promise<Snapshot | null> {
    return this.#run(() => {
      return this.#snapshot;
    });
  }

  /** {@inheritDoc Storage.compactPrefix} */
  compactPrefix(upToIndex: number): Promise<void> {
    return this.#run(() => {
      const drop = Math.min(this.#log.length, upToIndex - this.#offset);
      if (drop > 0) {
        this.#log = this.#log.slice(drop);
        this.#offset += drop;
      }
      return;
    });
  }

  /** {@inheritDoc Storage.close} */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #run<T>(operation: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new StorageError("Cannot use the storage as it is closed"),
      );
    }
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
