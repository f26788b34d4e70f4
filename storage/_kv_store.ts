// Private helper of storage/kv.ts: the commit marker and segment index that
// KvStorage caches between calls, and the KV round trips that keep them
// true: recovery, commits guarded by the meta versionstamp, sweeps, deletes
// and scans. Which commits each operation makes, and in what order (what
// makes it crash safe), stays in kv.ts and _kv_append.ts.
import { StorageError } from "../kernel/errors.ts";
import type { LogEntry } from "../kernel/types.ts";
import { deleteOf, type Mutation, packCommits } from "./_kv_commit.ts";
import {
  partitionSegments,
  segmentKeys,
  type SegmentRef,
} from "./_kv_layout.ts";
import { EMPTY_META, type LogMeta, parseMeta } from "./_kv_meta.ts";
import { LogScanner } from "./_kv_scan.ts";

/** The KV under one node's key prefix, with the log state cached from it. */
export class KvStore {
  readonly #kv: Deno.Kv;
  readonly #prefix: readonly string[];
  /** Cached commit marker; `null` means read it again (after any failure). */
  #meta: LogMeta | null = null;
  /** The live segments, sorted by start; `null` together with `#meta`. */
  #segments: SegmentRef[] | null = null;
  #versionstamp: string | null = null;

  constructor(kv: Deno.Kv, prefix: readonly string[]) {
    this.#kv = kv;
    this.#prefix = prefix;
  }

  /** Key parts before the "log", "snapshot", "meta" or "hard" part. */
  get prefixLength(): number {
    return this.#prefix.length;
  }

  /** The cached meta; set by `loadMeta`, `recover` and marker commits. */
  get meta(): LogMeta {
    return this.#meta!;
  }

  /** The live segments, sorted by start; set together with `meta`. */
  get segments(): SegmentRef[] {
    return this.#segments!;
  }

  /** Drops the cache, so that the next call reads the store again. */
  invalidate(): void {
    this.#meta = null;
    this.#segments = null;
  }

  /** The cached meta; after a failure (or before load) it is read again. */
  async loadMeta(): Promise<LogMeta> {
    if (this.#meta === null) await this.recover(false);
    return this.#meta!;
  }

  /**
   * Reads the meta and every log key, rebuilds the segment index, and
   * deletes what the meta does not use (left by a crash or a failed call),
   * so every later call starts from a store that holds only live segments.
   */
  async recover(wantEntries: true): Promise<LogEntry[]>;
  async recover(wantEntries: false): Promise<void>;
  async recover(wantEntries: boolean): Promise<LogEntry[] | void> {
    this.#meta = null;
    this.#segments = null;
    const record = await this.#kv.get(this.key("meta"));
    const meta = record.value === null ? EMPTY_META : parseMeta(record.value);
    const scanner = new LogScanner(meta, this.#prefix.length);
    await this.scan({ prefix: this.key("log") }, scanner);
    const { entries, live, unused } = scanner.finish(meta.first, meta.last + 1);
    this.#meta = meta;
    this.#versionstamp = record.versionstamp;
    this.#segments = live;
    await this.deleteKeys([
      ...scanner.garbage,
      ...unused.flatMap((segment) => segmentKeys(this.logKey, segment)),
    ]);
    if (wantEntries) return entries;
  }

  /**
   * Commits the groups in order, each guarded by the meta versionstamp; the
   * last one also writes `meta`, which is what makes the others visible.
   */
  async commit(commits: Mutation[][], meta: LogMeta | null): Promise<void> {
    const metaKey = this.key("meta");
    const groups = commits.length === 0 && meta !== null ? [[]] : commits;
    for (let k = 0; k < groups.length; k++) {
      const operation = this.#kv.atomic().check({
        key: metaKey,
        versionstamp: this.#versionstamp,
      });
      for (const mutation of groups[k]) {
        if (mutation.value === undefined) operation.delete(mutation.key);
        else operation.set(mutation.key, mutation.value);
      }
      const isMarker = meta !== null && k === groups.length - 1;
      if (isMarker) operation.set(metaKey, meta);
      const result = await operation.commit();
      if (!result.ok) {
        throw new StorageError(
          "Cannot commit as another writer changed this node's log meta",
        );
      }
      if (isMarker) {
        this.#meta = meta;
        this.#versionstamp = result.versionstamp;
      }
    }
  }

  /**
   * Deletes the segments that hold no visible index under the current meta
   * (after a truncation, compaction or snapshot moved it).
   */
  async sweep(): Promise<void> {
    const meta = this.#meta!;
    const candidates = this.#segments!.filter((segment) =>
      segment.start <= meta.last
    );
    const beyond = this.#segments!.filter((segment) =>
      segment.start > meta.last
    );
    const { live, unused } = partitionSegments(
      candidates,
      meta.first,
      meta.last,
    );
    this.#segments = live;
    await this.deleteKeys(
      [...beyond, ...unused].flatMap((segment) =>
        segmentKeys(this.logKey, segment)
      ),
    );
  }

  /** Feeds listed keys to a scanner in key order. */
  async scan(
    selector: Deno.KvListSelector,
    scanner: { push(key: Deno.KvKey, value: unknown): void },
    batchSize = 500,
  ): Promise<void> {
    const items = this.#kv.list(selector, { batchSize });
    for await (const item of items) scanner.push(item.key, item.value);
  }

  async deleteKeys(keys: Deno.KvKey[]): Promise<void> {
    if (keys.length === 0) return;
    const reserve = deleteOf(this.key("meta"));
    await this.commit(packCommits(keys.map(deleteOf), reserve), null);
  }

  key(...rest: Deno.KvKeyPart[]): Deno.KvKey {
    return [...this.#prefix, ...rest];
  }

  readonly logKey = (index: number, gen: number, part?: number): Deno.KvKey =>
    part === undefined
      ? this.key("log", index, gen)
      : this.key("log", index, gen, part);
}
