// Private helper of storage/kv.ts: the log meta record (the commit marker),
// how it is checked when read back, and how each operation moves it. What
// the record means for crash safety is in the module doc of storage/kv.ts.
import { StorageError } from "../kernel/errors.ts";
import type { Snapshot } from "../kernel/types.ts";

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
