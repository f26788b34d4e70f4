// Private helper of storage/kv.ts: reads listed keys back into the log
// entries and the snapshot the meta record makes visible, and collects the
// keys nothing refers to (left by a crash or a superseded write) so they can
// be deleted.
import { StorageError } from "../kernel/errors.ts";
import type { LogEntry, Snapshot } from "../kernel/types.ts";
import {
  type ChunkHeader,
  isVisible,
  type LogMeta,
  type SnapshotRecord,
} from "./_kv_layout.ts";

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

function decodeEntry(index: number, bytes: Uint8Array): LogEntry {
  const { term, kind, command } = JSON.parse(decoder.decode(bytes));
  return { index, term, kind, command };
}

/**
 * Reads listed log keys (in key order) into the entries `meta` makes visible
 * and the keys nothing refers to. A visible entry with a missing chunk, or a
 * gap in the visible range, means the store is corrupt and throws.
 */
export class LogScanner {
  readonly entries: LogEntry[] = [];
  readonly garbage: Deno.KvKey[] = [];
  readonly #meta: LogMeta;
  readonly #skip: number;
  #pending:
    | { index: number; gen: number; header: ChunkHeader; parts: Uint8Array[] }
    | null = null;

  constructor(meta: LogMeta, prefixLength: number) {
    this.#meta = meta;
    // Skip the node prefix and the "log" segment.
    this.#skip = prefixLength + 1;
  }

  push(key: Deno.KvKey, value: unknown): void {
    const [index, gen, part] = key.slice(this.#skip);
    const shapeOk = typeof index === "number" && typeof gen === "number" &&
      key.length <= this.#skip + 3;
    if (shapeOk && part === undefined) {
      this.#expectNoPending();
      if (!isVisible(this.#meta, index, gen)) {
        this.garbage.push(key);
      } else if (value instanceof Uint8Array) {
        this.entries.push(decodeEntry(index, value));
      } else if (isHeader(value)) {
        this.#pending = { index, gen, header: value, parts: [] };
      } else {
        throw new StorageError(
          `Cannot read log entry ${index} as it is corrupt`,
        );
      }
      return;
    }
    const pending = this.#pending;
    if (
      shapeOk && pending !== null && pending.index === index &&
      pending.gen === gen && part === pending.parts.length + 1 &&
      value instanceof Uint8Array
    ) {
      pending.parts.push(value);
      if (pending.parts.length === pending.header.chunks) {
        const bytes = concatBytes(pending.parts, pending.header.byteLength);
        this.entries.push(decodeEntry(index, bytes));
        this.#pending = null;
      }
      return;
    }
    this.garbage.push(key);
  }

  /** Checks that exactly the visible indexes in `from..to-1` were read. */
  finish(from: number, to: number): LogEntry[] {
    this.#expectNoPending();
    const lo = Math.max(from, this.#meta.first);
    const hi = Math.min(to, this.#meta.last + 1);
    const expected = Math.max(0, hi - lo);
    const entries = this.entries;
    const ok = entries.length === expected &&
      entries.every((entry, k) => entry.index === lo + k);
    if (!ok) {
      throw new StorageError(
        `Cannot read log entries ${lo}..${
          hi - 1
        } as the store holds ${entries.length} of them`,
      );
    }
    return entries;
  }

  #expectNoPending(): void {
    if (this.#pending !== null) {
      throw new StorageError(
        `Cannot read log entry ${this.#pending.index} as chunks are missing`,
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
