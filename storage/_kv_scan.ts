// Private helper of storage/kv.ts: reads listed keys back into the log
// entries and the snapshot the meta record makes visible, and collects the
// keys nothing refers to (left by a crash or a superseded write) so they can
// be deleted.
import { StorageError } from "../kernel/errors.ts";
import type { LogEntry, Snapshot } from "../kernel/types.ts";
import {
  type ChunkHeader,
  partitionSegments,
  type SegmentRef,
} from "./_kv_layout.ts";
import { genAt, type LogMeta, type SnapshotRecord } from "./_kv_meta.ts";

const decoder = new TextDecoder();

function concatBytes(
  parts: Uint8Array[],
  byteLength: number,
): Uint8Array {
  const out = new Uint8Array(byteLength);
  let at = 0;
  for (const part of parts) {
    if (at + part.length > byteLength) break;
    out.set(part, at);
    at += part.length;
  }
  if (at !== byteLength) {
    throw new StorageError(
      `Cannot read a chunked value as its chunks hold ${at} of ${byteLength} bytes`,
    );
  }
  return out;
}

function isHeader(value: unknown): value is ChunkHeader {
  const header = value as ChunkHeader | null;
  return typeof header === "object" && header !== null &&
    Number.isSafeInteger(header.chunks) && header.chunks > 0 &&
    Number.isSafeInteger(header.byteLength);
}

/** Decodes a segment's JSON array of `[term, kind, command]` at `start`. */
function decodeSegment(start: number, bytes: Uint8Array): LogEntry[] {
  let rows: unknown;
  try {
    rows = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new StorageError(
      `Cannot read the log segment at ${start} as it is not JSON`,
      { cause: error },
    );
  }
  const ok = Array.isArray(rows) && rows.length > 0 &&
    rows.every((row) =>
      Array.isArray(row) && row.length === 3 && Number.isSafeInteger(row[0]) &&
      (row[1] === "command" || row[1] === "noop")
    );
  if (!ok) {
    throw new StorageError(
      `Cannot read the log segment at ${start} as it is corrupt`,
    );
  }
  return (rows as [number, LogEntry["kind"], LogEntry["command"]][]).map((
    [term, kind, command],
    k,
  ) => ({ index: start + k, term, kind, command }));
}

/** A candidate segment read back, with its entries. */
export interface ScannedSegment extends SegmentRef {
  readonly entries: LogEntry[];
}

/**
 * Reads listed log keys (in key order) into the entries `meta` makes visible
 * and the keys nothing refers to. A candidate with a missing chunk, or a
 * gap in the visible range, means the store is corrupt and throws.
 */
export class LogScanner {
  readonly garbage: Deno.KvKey[] = [];
  readonly #candidates: ScannedSegment[] = [];
  readonly #meta: LogMeta;
  readonly #skip: number;
  #pending:
    | { start: number; gen: number; header: ChunkHeader; parts: Uint8Array[] }
    | null = null;

  constructor(meta: LogMeta, prefixLength: number) {
    this.#meta = meta;
    // Skip the node prefix and the "log" segment.
    this.#skip = prefixLength + 1;
  }

  push(key: Deno.KvKey, value: unknown): void {
    const [start, gen, part] = key.slice(this.#skip);
    const shapeOk = typeof start === "number" && typeof gen === "number" &&
      key.length <= this.#skip + 3;
    if (shapeOk && part === undefined) {
      this.#expectNoPending();
      if (start > this.#meta.last || genAt(this.#meta, start) !== gen) {
        this.garbage.push(key);
      } else if (value instanceof Uint8Array) {
        this.#add(start, gen, 0, value);
      } else if (isHeader(value)) {
        this.#pending = { start, gen, header: value, parts: [] };
      } else {
        throw new StorageError(
          `Cannot read the log segment at ${start} as it is corrupt`,
        );
      }
      return;
    }
    const pending = this.#pending;
    if (
      shapeOk && pending !== null && pending.start === start &&
      pending.gen === gen && part === pending.parts.length + 1 &&
      value instanceof Uint8Array
    ) {
      pending.parts.push(value);
      if (pending.parts.length === pending.header.chunks) {
        const bytes = concatBytes(pending.parts, pending.header.byteLength);
        this.#pending = null;
        this.#add(start, gen, pending.header.chunks, bytes);
      }
      return;
    }
    this.garbage.push(key);
  }

  /**
   * Returns the visible entries of `from..to-1` and the segments that hold
   * them; candidates that hold none of the visible log join `unused`.
   */
  finish(
    from: number,
    to: number,
  ): { entries: LogEntry[]; live: SegmentRef[]; unused: SegmentRef[] } {
    this.#expectNoPending();
    const lo = Math.max(from, this.#meta.first);
    const hi = Math.min(to - 1, this.#meta.last);
    const { live, unused } = partitionSegments(this.#candidates, lo, hi);
    const entries: LogEntry[] = [];
    live.forEach((segment, k) => {
      const next = k + 1 < live.length ? live[k + 1].start : Infinity;
      const begin = Math.max(lo, segment.start) - segment.start;
      const end = Math.min(next - 1, hi) - segment.start + 1;
      for (let at = begin; at < end; at++) entries.push(segment.entries[at]);
    });
    const refs = live.map(({ start, gen, count, chunks }) => ({
      start,
      gen,
      count,
      chunks,
    }));
    return { entries, live: refs, unused };
  }

  #add(start: number, gen: number, chunks: number, bytes: Uint8Array): void {
    const entries = decodeSegment(start, bytes);
    this.#candidates.push({
      start,
      gen,
      count: entries.length,
      chunks,
      entries,
    });
  }

  #expectNoPending(): void {
    if (this.#pending !== null) {
      throw new StorageError(
        `Cannot read the log segment at ${this.#pending.start} as chunks are missing`,
      );
    }
  }
}

/**
 * Reads listed snapshot keys (in key order) into the snapshot `record`
 * describes, collecting every other snapshot key as garbage.
 */
export class SnapshotScanner {
  readonly garbage: Deno.KvKey[] = [];
  readonly #record: SnapshotRecord | null;
  readonly #skip: number;
  readonly #parts: Uint8Array[] = [];

  constructor(record: SnapshotRecord | null, prefixLength: number) {
    this.#record = record;
    // Skip the node prefix and the "snapshot" segment.
    this.#skip = prefixLength + 1;
  }

  push(key: Deno.KvKey, value: unknown): void {
    const [id, part] = key.slice(this.#skip);
    const record = this.#record;
    if (
      record !== null && id === record.id && part === this.#parts.length &&
      part < record.chunks && value instanceof Uint8Array
    ) {
      this.#parts.push(value);
    } else {
      this.garbage.push(key);
    }
  }

  finish(): Snapshot | null {
    const record = this.#record;
    if (record === null) return null;
    if (this.#parts.length !== record.chunks) {
      throw new StorageError(
        `Cannot load the snapshot as ${this.#parts.length} of ${record.chunks} chunks are present`,
      );
    }
    return {
      index: record.index,
      term: record.term,
      voters: record.voters,
      nonVoters: record.nonVoters,
      data: concatBytes(this.#parts, record.byteLength),
    };
  }
}
