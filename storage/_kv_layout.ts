// Private helpers of storage/kv.ts: the key layout, the log meta record, the
// segment encoding, input checks and the packing of mutations into commits
// that respect Deno KV's limits. The design they implement is described in the
// module doc of storage/kv.ts; _kv_scan.ts reads the keys back.
import { StorageError } from "../kernel/errors.ts";
import type { HardState, LogEntry, Snapshot } from "../kernel/types.ts";

/** Deno KV limits per atomic commit, measured on Deno 2 (see kv.ts). */
export const KV_LIMITS = {
  mutations: 1000,
  /** Keys plus values; the real limit is 819,200 bytes, this leaves margin. */
  totalBytes: 760_000,
  /** The real limit is 81,920 bytes of keys per commit. */
  keyBytes: 76_000,
  key: 2048,
  value: 65_536,
} as const;

/** Bytes of segment JSON or snapshot data held by one value. */
export const CHUNK_BYTES = 64_000;

/**
 * A segment grows up to this many bytes of JSON: one value, one mutation for
 * a whole batch of small entries (a commit's cost is per mutation).
 */
export const SEGMENT_BYTES = CHUNK_BYTES;

/** Layout version written in the meta record. */
export const LAYOUT_VERSION = 2;

/** A snapshot's metadata; its bytes live in `CHUNK_BYTES` chunks. */
export interface SnapshotRecord {
  readonly id: number;
  readonly index: number;
  readonly term: number;
  readonly voters: string[];
  readonly nonVoters: string[];
  readonly byteLength: number;
  readonly chunks: number;
}

/**
 * The commit marker: the only record that says which log keys are visible.
 * Index `i` is visible when `first <= i <= last`; a segment key
 * `[start, gen]` is a candidate when `start <= last` and `gen` is the
 * generation of the last run whose `from <= start`. Index `i` is read from
 * the candidate with the greatest `start <= i`. Invariants: `runs[0][0] <=
 * first`, runs sorted by `from`, every `from <= last + 1`.
 */
export interface LogMeta {
  readonly version: typeof LAYOUT_VERSION;
  readonly first: number;
  readonly last: number;
  readonly runs: ReadonlyArray<readonly [from: number, gen: number]>;
  /** Never-committed id for the next generation or snapshot. */
  readonly nextId: number;
  readonly snapshot: SnapshotRecord | null;
}

export const EMPTY_META: LogMeta = {
  version: LAYOUT_VERSION,
  first: 1,
  last: 0,
  runs: [[1, 0]],
  nextId: 1,
  snapshot: null,
};

/** Header stored at a segment's head key when its JSON spans several chunks. */
export interface ChunkHeader {
  readonly chunks: number;
  readonly byteLength: number;
}

/** One write (`value` set) or delete (`value` undefined) of a commit. */
export interface Mutation {
  readonly key: Deno.KvKey;
  readonly value?: unknown;
  /** Key plus value bytes, as counted against `KV_LIMITS.totalBytes`. */
  readonly size: number;
  readonly keySize: number;
}

const encoder = new TextEncoder();

/** Generation that index `index` is stored under according to `meta`. */
export function genAt(meta: LogMeta, index: number): number {
  for (let k = meta.runs.length - 1; k > 0; k--) {
    if (meta.runs[k][0] <= index) return meta.runs[k][1];
  }
  return meta.runs[0][1];
}

/** Restores the run invariants after `first` or `last` moved. */
export function normalizeMeta(meta: LogMeta): LogMeta {
  let start = 0;
  while (
    start + 1 < meta.runs.length && meta.runs[start + 1][0] <= meta.first
  ) {
    start++;
  }
  const runs = meta.runs.slice(start).filter((run, k) =>
    k === 0 || run[0] <= meta.last + 1
  );
  return { ...meta, runs };
}

/** Encoded size of a key; mirrors Deno KV's tuple encoding closely enough. */
export function keySize(key: Deno.KvKey): number {
  let size = 0;
  for (const part of key) {
    if (typeof part === "number") size += 9;
    else if (typeof part === "string") size += encoder.encode(part).length + 2;
    else if (part instanceof Uint8Array) size += part.length + 2;
    else size += 24;
  }
  return size;
}

/** Upper bound of the V8-serialized size of a plain JSON-like object. */
function objectSize(value: unknown): number {
  return 2 * encoder.encode(JSON.stringify(value)).length + 64;
}

export function setOf(key: Deno.KvKey, value: unknown): Mutation {
  const valueSize = value instanceof Uint8Array
    ? value.length
    : objectSize(value);
  if (valueSize > KV_LIMITS.value) {
    throw new StorageError(
      `Cannot write key ${
        JSON.stringify(key)
      } as its value takes ${valueSize} bytes (limit ${KV_LIMITS.value})`,
    );
  }
  const size = keySize(key);
  return { key, value, size: size + valueSize, keySize: size };
}

export function deleteOf(key: Deno.KvKey): Mutation {
  const size = keySize(key);
  return { key, size, keySize: size };
}

/** Validates one entry and returns its JSON (the index is implied). */
function encodeEntry(entry: LogEntry): string {
  if (!Number.isSafeInteger(entry.index) || entry.index < 1) {
    throw new StorageError(
      `Cannot append an entry as its index ${entry.index} is not a positive integer`,
    );
  }
  if (!Number.isSafeInteger(entry.term) || entry.term < 0) {
    throw new StorageError(
      `Cannot append entry ${entry.index} as its term ${entry.term} is not a non-negative integer`,
    );
  }
  if (entry.kind !== "command" && entry.kind !== "noop") {
    throw new StorageError(
      `Cannot append entry ${entry.index} as its kind ${
        String(entry.kind)
      } is unknown`,
    );
  }
  if (entry.command === undefined) {
    throw new StorageError(
      `Cannot append entry ${entry.index} as its command is undefined`,
    );
  }
  try {
    return JSON.stringify([entry.term, entry.kind, entry.command]);
  } catch (error) {
    throw new StorageError(
      `Cannot append entry ${entry.index} as its command is not JSON`,
      { cause: error },
    );
  }
}

/** Consecutive entries stored as one JSON array under one head key. */
export interface EncodedSegment {
  readonly start: number;
  readonly count: number;
  readonly bytes: Uint8Array;
}

/**
 * Checks that a batch is contiguous and packs it into segments of up to
 * `segmentBytes` of JSON; an entry larger than that gets a segment of its
 * own, which is then chunked. Sizes are counted in UTF-16 units, which is
 * exact for ASCII; a segment of other text may come out larger and is then
 * chunked too (always correct, and one encode per segment is cheaper).
 */
export function encodeSegments(
  entries: readonly LogEntry[],
  segmentBytes = SEGMENT_BYTES,
): EncodedSegment[] {
  const from = entries[0].index;
  const segments: EncodedSegment[] = [];
  let rows: string[] = [];
  let size = 1; // "[" and the commas and "]" that follow
  let start = from;
  const close = () => {
    if (rows.length === 0) return;
    const bytes = encoder.encode(`[${rows.join(",")}]`);
    segments.push({ start, count: rows.length, bytes });
    start += rows.length;
    rows = [];
    size = 1;
  };
  for (let k = 0; k < entries.length; k++) {
    const entry = entries[k];
    const row = encodeEntry(entry);
    if (entry.index !== from + k) {
      throw new StorageError(
        `Cannot append entry ${entry.index} as it does not follow ${
          from + k - 1
        } in the batch`,
      );
    }
    if (rows.length > 0 && size + 1 + row.length + 1 > segmentBytes) close();
    size += row.length + (rows.length > 0 ? 1 : 0);
    rows.push(row);
  }
  close();
  return segments;
}

/**
 * The meta after an overwrite of `from..to` written under the fresh
 * generation `gen`: segments from `from` on now read that generation.
 */
export function withFreshRun(
  meta: LogMeta,
  from: number,
  to: number,
  gen: number,
): LogMeta {
  return normalizeMeta({
    ...meta,
    last: to,
    nextId: Math.max(meta.nextId, gen + 1),
    runs: [...meta.runs.filter(([start]) => start < from), [from, gen]],
  });
}

/**
 * The meta after saving `snapshot` under id `id`. A snapshot at or past the
 * end of the log replaces the whole log (the contract of `saveSnapshot`).
 */
export function withSnapshot(
  meta: LogMeta,
  id: number,
  snapshot: Snapshot,
  chunks: number,
): LogMeta {
  const record: SnapshotRecord = {
    id,
    index: snapshot.index,
    term: snapshot.term,
    voters: [...snapshot.voters],
    nonVoters: [...snapshot.nonVoters],
    byteLength: snapshot.data.length,
    chunks,
  };
  const next = { ...meta, nextId: id + 1, snapshot: record };
  if (snapshot.index < meta.last) return next;
  const first = snapshot.index + 1;
  return normalizeMeta({
    ...next,
    first,
    last: snapshot.index,
    runs: [[first, genAt(meta, first)]],
  });
}

/** The mutations that store one encoded segment at `start` under `gen`. */
export function segmentMutations(
  logKey: (index: number, gen: number, part?: number) => Deno.KvKey,
  index: number,
  gen: number,
  bytes: Uint8Array,
): Mutation[] {
  if (bytes.length <= CHUNK_BYTES) return [setOf(logKey(index, gen), bytes)];
  const chunks = Math.ceil(bytes.length / CHUNK_BYTES);
  const header: ChunkHeader = { chunks, byteLength: bytes.length };
  const mutations = [setOf(logKey(index, gen), header)];
  for (let part = 1; part <= chunks; part++) {
    const slice = bytes.subarray((part - 1) * CHUNK_BYTES, part * CHUNK_BYTES);
    mutations.push(setOf(logKey(index, gen, part), slice));
  }
  return mutations;
}

/** Where one stored segment lives: what the storage keeps in memory. */
export interface SegmentRef {
  readonly start: number;
  readonly gen: number;
  readonly count: number;
  /** Chunk parts after the head key; 0 when the head holds the JSON. */
  readonly chunks: number;
}

/** Every key of a stored segment: its head, then its chunk parts. */
export function segmentKeys(
  logKey: (index: number, gen: number, part?: number) => Deno.KvKey,
  segment: SegmentRef,
): Deno.KvKey[] {
  const keys = [logKey(segment.start, segment.gen)];
  for (let part = 1; part <= segment.chunks; part++) {
    keys.push(logKey(segment.start, segment.gen, part));
  }
  return keys;
}

/** Chunk parts a segment of `byteLength` bytes of JSON is stored in. */
export function chunksOf(byteLength: number): number {
  return byteLength <= CHUNK_BYTES ? 0 : Math.ceil(byteLength / CHUNK_BYTES);
}

/**
 * Splits candidate segments (sorted by start, each of the generation the
 * meta gives its start) into those that serve some index of `lo..hi` and
 * those that serve none. Segment k serves from its start (or `lo`) up to
 * the next candidate's start; it must hold all of that, or the store is
 * corrupt.
 */
export function partitionSegments<S extends SegmentRef>(
  candidates: readonly S[],
  lo: number,
  hi: number,
): { live: S[]; unused: S[] } {
  const live: S[] = [];
  const unused: S[] = [];
  candidates.forEach((segment, k) => {
    const next = k + 1 < candidates.length ? candidates[k + 1].start : Infinity;
    const from = Math.max(segment.start, lo);
    const to = Math.min(next - 1, hi);
    if (from > to) {
      unused.push(segment);
      return;
    }
    if (segment.start + segment.count - 1 < to) {
      throw new StorageError(
        `Cannot read log entries ${
          segment.start + segment.count
        }..${to} as the store does not hold them`,
      );
    }
    live.push(segment);
  });
  if (lo <= hi && (live.length === 0 || live[0].start > lo)) {
    throw new StorageError(
      `Cannot read log entry ${lo} as the store does not hold it`,
    );
  }
  return { live, unused };
}

/** Splits `data` into the values of a snapshot's chunks. */
export function chunkBytes(data: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += CHUNK_BYTES) {
    chunks.push(data.subarray(at, at + CHUNK_BYTES));
  }
  return chunks;
}

/**
 * Packs mutations, in order, into as few commits as the limits allow while
 * leaving room in every commit for `reserve` (the meta record).
 */
export function packCommits(
  mutations: readonly Mutation[],
  reserve: Mutation,
): Mutation[][] {
  const maxCount = KV_LIMITS.mutations - 1;
  const maxBytes = KV_LIMITS.totalBytes - reserve.size;
  const maxKeys = KV_LIMITS.keyBytes - reserve.keySize;
  const commits: Mutation[][] = [];
  let current: Mutation[] = [];
  let bytes = 0;
  let keys = 0;
  for (const mutation of mutations) {
    if (
      current.length > 0 &&
      (current.length >= maxCount || bytes + mutation.size > maxBytes ||
        keys + mutation.keySize > maxKeys)
    ) {
      commits.push(current);
      current = [];
      bytes = 0;
      keys = 0;
    }
    current.push(mutation);
    bytes += mutation.size;
    keys += mutation.keySize;
  }
  if (current.length > 0) commits.push(current);
  return commits;
}

/** Checks a meta record read back from the store. */
export function parseMeta(value: unknown): LogMeta {
  const meta = value as LogMeta | null;
  if (
    typeof meta === "object" && meta !== null &&
    (meta as { version: unknown }).version === 1
  ) {
    throw new StorageError(
      "Cannot read the log as it was written by KvStorage layout 1 (one key per entry); this version reads layout 2 only: start from an empty KV or a snapshot",
    );
  }
  const ok = typeof meta === "object" && meta !== null &&
    meta.version === LAYOUT_VERSION &&
    Number.isSafeInteger(meta.first) && Number.isSafeInteger(meta.last) &&
    Array.isArray(meta.runs) && meta.runs.length > 0 &&
    Number.isSafeInteger(meta.nextId);
  if (!ok) throw new StorageError("Cannot read the log meta as it is corrupt");
  return meta;
}

/** Builds and checks the key prefix `["raft", clusterId, nodeId]`. */
export function prefixOf(
  options: { clusterId?: string; nodeId?: string } | undefined,
): readonly string[] {
  const clusterId = options?.clusterId ?? "default";
  const nodeId = options?.nodeId ?? "default";
  if (typeof clusterId !== "string" || typeof nodeId !== "string") {
    throw new StorageError(
      "Cannot use the storage as clusterId and nodeId must be strings",
    );
  }
  const prefix = ["raft", clusterId, nodeId];
  // The longest key adds "snapshot" (or "log") and up to three numbers.
  const longest = keySize([...prefix, "snapshot", 0, 0, 0]);
  if (longest > KV_LIMITS.key) {
    throw new StorageError(
      `Cannot use the storage as its keys would take ${longest} bytes (limit ${KV_LIMITS.key}); shorten clusterId or nodeId`,
    );
  }
  return prefix;
}

export function checkNumber(name: string, value: number): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new StorageError(`Cannot use ${name} ${value} as it is not a number`);
  }
}

function checkCount(what: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StorageError(
      `Cannot save the ${what} as ${name} ${value} is not a non-negative integer`,
    );
  }
}

export function checkHardState(state: HardState): HardState {
  checkCount("hard state", "term", state.term);
  if (state.votedFor !== null && typeof state.votedFor !== "string") {
    throw new StorageError(
      "Cannot save the hard state as votedFor is neither a string nor null",
    );
  }
  return { term: state.term, votedFor: state.votedFor };
}

export function checkSnapshot(snapshot: Snapshot): void {
  checkCount("snapshot", "index", snapshot.index);
  checkCount("snapshot", "term", snapshot.term);
  if (!(snapshot.data instanceof Uint8Array)) {
    throw new StorageError(
      "Cannot save the snapshot as its data is not a Uint8Array",
    );
  }
}
