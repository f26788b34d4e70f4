/**
 * {@linkcode KvStorage}: a durable Storage on Deno KV (SQLite on disk, or an
 * in-memory KV when no path is given).
 *
 * ## Key layout
 * Every key starts with `P = ["raft", clusterId, nodeId]`:
 *
 * | key | value |
 * |---|---|
 * | `[...P, "hard"]` | `{ term, votedFor }` |
 * | `[...P, "meta"]` | the commit marker: `{ version: 2, first, last, runs, nextId, snapshot }` |
 * | `[...P, "log", start, gen]` | a **segment**: UTF-8 JSON `[[term, kind, command], ...]` of entries `start, start + 1, ...`, or a chunk header `{ chunks, byteLength }` |
 * | `[...P, "log", start, gen, part]` | chunk `part` (1..chunks) of a segment's JSON |
 * | `[...P, "snapshot", id, part]` | chunk `part` (0..chunks-1) of a snapshot's data |
 *
 * One append writes its entries as segments of up to 64,000 bytes of JSON,
 * so a batch of small entries is one KV mutation, not one per entry (a KV
 * commit costs per mutation: group commit only pays off this way).
 *
 * ## Crash safety
 * Deno KV allows 1,000 mutations, 800 KiB (80 KiB of keys) per atomic commit
 * and 64 KiB per value, so a large batch takes several commits. The meta
 * record is the only thing that makes log keys visible: index `i` is part of
 * the log when `first <= i <= last`; a segment key `[start, gen]` counts
 * when `start <= last` and `gen` is what `runs` (a short list of
 * `[fromIndex, gen]`) assigns to `start`; and index `i` is read from the
 * counted segment with the greatest `start <= i`. Every commit checks the
 * meta versionstamp it started from.
 *
 * Every call starts from a store that holds live segments only: `load()`
 * and the first call after any failure read every log key and delete what
 * the meta does not use (what a crash or a failed commit left behind).
 *
 * - A batch that fits one commit is one `kv.atomic()` commit: its segments,
 *   the deletion of the segments it replaces, and the new meta.
 * - A larger batch that only extends the log writes segments past `last`
 *   over several commits, then moves `last` in the final one.
 * - A larger batch that overwrites a suffix writes its segments under a
 *   fresh generation `gen = nextId`, and the final commit sets `last`,
 *   appends the run `[firstNewIndex, gen]` and bumps `nextId`. Until then
 *   the old suffix stays visible and intact, so a crash shows the old log
 *   or the new one.
 * - Truncation and compaction are one small commit of the meta record;
 *   snapshots are written chunk by chunk under a fresh id and the final
 *   commit switches the meta to it (and empties the log when the snapshot
 *   covers it), so the old snapshot stays valid until the new one is whole.
 *
 * Segments the meta no longer uses are deleted after the marker moves. A
 * file-backed Deno KV syncs its SQLite WAL on every commit, so a resolved
 * write survives `kill -9` (and power loss, if the disk honors flushes).
 *
 * ## Oversize values
 * A segment whose JSON exceeds 64,000 bytes (an entry that large gets a
 * segment of its own) is chunked: its head key holds a
 * `{ chunks, byteLength }` header and the chunks follow it; readers take
 * exactly `chunks` parts, so stale chunks of an earlier write under the same
 * key never mix in. Snapshots are always chunked, so data of many MiB is
 * fine. A key over 2 KiB (a very long cluster or node id) is rejected when
 * the storage is created. A store written by layout 1 (one key per entry)
 * is refused with a StorageError that says so.
 *
 * ## Errors
 * Every failure (bad input, a KV error, a lost check, a corrupt record)
 * rejects with {@linkcode StorageError}, the KV error attached as `cause`.
 *
 * @example
 * ```ts
 * import { KvStorage } from "./kv.ts";
 * const storage = await KvStorage.open(); // in-memory KV
 * await storage.append([{ index: 1, term: 1, kind: "noop", command: null }]);
 * console.log(await storage.lastIndex()); // 1
 * await storage.close();
 * ```
 * @module
 */
import { StorageError } from "../kernel/errors.ts";
import type { HardState, LogEntry, Snapshot } from "../kernel/types.ts";
import type { PersistedState, Storage } from "./storage.ts";
import { appendSegments } from "./_kv_append.ts";
import { checkHardState, checkNumber, checkSnapshot } from "./_kv_checks.ts";
import { packCommits, setOf } from "./_kv_commit.ts";
import { chunkBytes, encodeSegments, prefixOf } from "./_kv_layout.ts";
import { normalizeMeta, withSnapshot } from "./_kv_meta.ts";
import { LogScanner, SnapshotScanner } from "./_kv_scan.ts";
import { KvStore } from "./_kv_store.ts";

// Re-exported so this module documents (and can be used) on its own.
export type { PersistedState, Storage } from "./storage.ts";
export type {
  HardState,
  Json,
  LogEntry,
  NodeId,
  Snapshot,
} from "../kernel/types.ts";

/** Where a {@linkcode KvStorage} keeps its keys within the KV. */
export interface KvStorageOptions {
  /** Cluster the node belongs to (second key segment). Default `"default"`. */
  clusterId?: string;
  /** Node whose state this is (third key segment). Default `"default"`. */
  nodeId?: string;
}

/**
 * Storage on Deno KV. Operations run one at a time in call order.
 *
 * @example
 * ```ts
 * import { KvStorage } from "./kv.ts";
 * const storage = await KvStorage.open(undefined, { nodeId: "a" });
 * await storage.saveHardState({ term: 3, votedFor: "a" });
 * console.log((await storage.load()).hardState); // { term: 3, votedFor: "a" }
 * await storage.close();
 * ```
 */
export class KvStorage implements Storage {
  readonly #kv: Deno.Kv;
  readonly #store: KvStore;
  #ownsKv = false;
  #closed = false;
  #tail: Promise<void> = Promise.resolve();

  /**
   * Opens the KV at `path` (an in-memory KV when omitted) and returns a
   * storage that closes it on {@linkcode KvStorage.close}.
   *
   * @param path A file path for `Deno.openKv`; omit it for `":memory:"`.
   * @param options Cluster and node ids that scope the keys.
   * @returns The storage; rejects with StorageError when the KV cannot open.
   *
   * @example
   * ```ts
   * import { KvStorage } from "./kv.ts";
   * const dir = await Deno.makeTempDir();
   * const storage = await KvStorage.open(`${dir}/a.kv`, { clusterId: "c1", nodeId: "a" });
   * await storage.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async open(
    path?: string,
    options?: KvStorageOptions,
  ): Promise<KvStorage> {
    prefixOf(options);
    let kv: Deno.Kv;
    try {
      kv = await Deno.openKv(path ?? ":memory:");
    } catch (error) {
      throw new StorageError(`Cannot open Deno KV at ${path ?? ":memory:"}`, {
        cause: error,
      });
    }
    const storage = new KvStorage(kv, options);
    storage.#ownsKv = true;
    return storage;
  }

  /**
   * Wraps a KV the caller opened and keeps owning: `close()` leaves it open.
   *
   * @param kv An open Deno KV handle.
   * @param options Cluster and node ids that scope the keys.
   *
   * @example
   * ```ts
   * import { KvStorage } from "./kv.ts";
   * const kv = await Deno.openKv(":memory:");
   * const storage = new KvStorage(kv, { nodeId: "b" });
   * await storage.close();
   * kv.close();
   * ```
   */
  constructor(kv: Deno.Kv, options?: KvStorageOptions) {
    this.#kv = kv;
    this.#store = new KvStore(kv, prefixOf(options));
  }

  /** {@inheritDoc Storage.load} */
  load(): Promise<PersistedState> {
    return this.#run("load the state", async () => {
      const [entries, hardRecord] = await Promise.all([
        this.#store.recover(true),
        this.#kv.get(this.#store.key("hard")),
      ]);
      const meta = this.#store.meta;
      const snapshots = new SnapshotScanner(
        meta.snapshot,
        this.#store.prefixLength,
      );
      // Snapshot values are up to 64 KiB each: smaller list batches.
      await this.#store.scan(
        { prefix: this.#store.key("snapshot") },
        snapshots,
        16,
      );
      const snapshot = snapshots.finish();
      // A crash between a marker commit and its clean-up leaves keys behind.
      await this.#store.deleteKeys(snapshots.garbage);
      const hardState = hardRecord.value === null
        ? { term: 0, votedFor: null }
        : hardRecord.value as HardState;
      return { hardState, snapshot, entries };
    });
  }

  /** {@inheritDoc Storage.saveHardState} */
  saveHardState(state: HardState): Promise<void> {
    return this.#run("save the hard state", async () => {
      const record = setOf(this.#store.key("hard"), checkHardState(state));
      await this.#kv.set(record.key, record.value);
    });
  }

  /** {@inheritDoc Storage.append} */
  append(entries: readonly LogEntry[]): Promise<void> {
    return this.#run("append entries", async () => {
      if (entries.length === 0) return;
      const encoded = encodeSegments(entries);
      const from = entries[0].index;
      const meta = await this.#store.loadMeta();
      if (from > meta.last + 1 || from < meta.first) {
        throw new StorageError(
          `Cannot append at index ${from} as the log holds ${meta.first}..${meta.last}`,
        );
      }
      const to = from + entries.length - 1;
      await appendSegments(this.#store, meta, encoded, from, to);
    });
  }

  /** {@inheritDoc Storage.truncateSuffix} */
  truncateSuffix(fromIndex: number): Promise<void> {
    return this.#run("truncate the log", async () => {
      checkNumber("fromIndex", fromIndex);
      const meta = await this.#store.loadMeta();
      const last = Math.max(fromIndex - 1, meta.first - 1);
      if (last >= meta.last) return;
      await this.#store.commit([], normalizeMeta({ ...meta, last }));
      await this.#store.sweep();
    });
  }

  /** {@inheritDoc Storage.entries} */
  entries(from: number, to: number): Promise<LogEntry[]> {
    return this.#run("read entries", async () => {
      checkNumber("from", from);
      checkNumber("to", to);
      const meta = await this.#store.loadMeta();
      const lo = Math.max(from, meta.first);
      const hi = Math.min(to, meta.last + 1);
      if (lo >= hi) return [];
      // Start at the segment that holds `lo`.
      const segments = this.#store.segments;
      let below = 0; // binary search: the last segment with start <= lo
      let above = segments.length;
      while (above - below > 1) {
        const mid = (below + above) >> 1;
        if (segments[mid].start <= lo) below = mid;
        else above = mid;
      }
      const begin = segments.length > 0 && segments[below].start <= lo
        ? segments[below].start
        : lo;
      const scanner = new LogScanner(meta, this.#store.prefixLength);
      const range = {
        start: this.#store.key("log", begin),
        end: this.#store.key("log", hi),
      };
      await this.#store.scan(range, scanner);
      return scanner.finish(lo, hi).entries;
    });
  }

  /** {@inheritDoc Storage.lastIndex} */
  lastIndex(): Promise<number> {
    return this.#run("read the last index", async () => {
      return (await this.#store.loadMeta()).last;
    });
  }

  /** {@inheritDoc Storage.saveSnapshot} */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.#run("save the snapshot", async () => {
      checkSnapshot(snapshot);
      const meta = await this.#store.loadMeta();
      const id = meta.nextId;
      const chunks = chunkBytes(snapshot.data);
      const next = withSnapshot(meta, id, snapshot, chunks.length);
      const writes = chunks.map((chunk, part) =>
        setOf(this.#store.key("snapshot", id, part), chunk)
      );
      await this.#store.commit(
        packCommits(writes, setOf(this.#store.key("meta"), next)),
        next,
      );
      const old = meta.snapshot;
      if (old !== null) {
        const oldKeys = Array.from(
          { length: old.chunks },
          (_, part) => this.#store.key("snapshot", old.id, part),
        );
        await this.#store.deleteKeys(oldKeys);
      }
      // Segments below a snapshot that emptied the log are garbage now.
      await this.#store.sweep();
    });
  }

  /** {@inheritDoc Storage.loadSnapshot} */
  loadSnapshot(): Promise<Snapshot | null> {
    return this.#run("load the snapshot", async () => {
      const record = (await this.#store.loadMeta()).snapshot;
      if (record === null) return null;
      const snapshots = new SnapshotScanner(record, this.#store.prefixLength);
      await this.#store.scan(
        {
          start: this.#store.key("snapshot", record.id, 0),
          end: this.#store.key("snapshot", record.id, record.chunks),
        },
        snapshots,
        16,
      );
      return snapshots.finish();
    });
  }

  /** {@inheritDoc Storage.compactPrefix} */
  compactPrefix(upToIndex: number): Promise<void> {
    return this.#run("compact the log", async () => {
      checkNumber("upToIndex", upToIndex);
      const meta = await this.#store.loadMeta();
      const first = Math.min(upToIndex, meta.last) + 1;
      if (first <= meta.first) return;
      await this.#store.commit([], normalizeMeta({ ...meta, first }));
      await this.#store.sweep();
    });
  }

  /**
   * Waits for running operations, then closes the KV if
   * {@linkcode KvStorage.open} opened it. Later calls reject; closing twice
   * is harmless.
   *
   * @returns A promise that settles once the KV is closed.
   *
   * @example
   * ```ts
   * import { KvStorage } from "./kv.ts";
   * const storage = await KvStorage.open();
   * await storage.close();
   * await storage.load().catch((e) => console.log(e.name)); // "StorageError"
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    if (!this.#ownsKv) return;
    try {
      this.#kv.close();
    } catch (error) {
      throw new StorageError("Cannot close Deno KV", { cause: error });
    }
  }

  /** Runs `operation` after every earlier one; wraps any failure. */
  #run<T>(action: string, operation: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new StorageError(`Cannot ${action} as the storage is closed`),
      );
    }
    const result = this.#tail.then(async () => {
      try {
        return await operation();
      } catch (error) {
        // A failed commit may or may not have landed: trust only the store.
        this.#store.invalidate();
        if (error instanceof StorageError) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        const message = `Cannot ${action} as Deno KV failed: ${reason}`;
        throw new StorageError(message, { cause: error });
      }
    });
    this.#tail = result.then(() => {}, () => {});
    return result;
  }
}
