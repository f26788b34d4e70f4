// Private helpers of storage/kv.ts: the key prefix and the segment encoding
// (how entries become segment values and keys, and which stored segments
// serve a range). The meta record is in _kv_meta.ts and the packing into
// commits in _kv_commit.ts; the design they implement is described in the
// module doc of storage/kv.ts; _kv_scan.ts reads the keys back.
import { StorageError } from "../kernel/errors.ts";
import type { LogEntry } from "../kernel/types.ts";
import { keySize, KV_LIMITS, type Mutation, setOf } from "./_kv_commit.ts";

/** Bytes of segment JSON or snapshot data held by one value. */
export const CHUNK_BYTES = 64_000;

/**
 * A segment grows up to this many bytes of JSON: one value, one mutation for
 * a whole batch of small entries (a commit's cost is per mutation).
 */
export const SEGMENT_BYTES = CHUNK_BYTES;

/** Header stored at a segment's head key when its JSON spans several chunks. */
export interface ChunkHeader {
  readonly chunks: number;
  readonly byteLength: number;
}

const encoder = new TextEncoder();

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
