// Private helper of storage/kv.ts: how one append reaches the store, in
// one commit or several, so that a crash shows the old log or the new one
// (the cases are listed under "Crash safety" in the module doc of
// storage/kv.ts).
import { deleteOf, type Mutation, packCommits, setOf } from "./_kv_commit.ts";
import {
  chunksOf,
  type EncodedSegment,
  segmentKeys,
  segmentMutations,
  type SegmentRef,
} from "./_kv_layout.ts";
import {
  genAt,
  type LogMeta,
  normalizeMeta,
  withFreshRun,
} from "./_kv_meta.ts";
import type { KvStore } from "./_kv_store.ts";

/**
 * Writes `encoded` (entries `from..to`, checked against `meta` by the
 * caller) and the meta that makes them visible, then updates the store's
 * segment index.
 */
export async function appendSegments(
  store: KvStore,
  meta: LogMeta,
  encoded: readonly EncodedSegment[],
  from: number,
  to: number,
): Promise<void> {
  // Sorted by start, and an append usually replaces nothing: walk back.
  const segments = store.segments;
  let cut = segments.length;
  while (cut > 0 && segments[cut - 1].start >= from) cut--;
  const replaced = segments.slice(cut);
  const storeUnder = (gen: number) => {
    const refs = encoded.map((segment): SegmentRef => ({
      start: segment.start,
      gen,
      count: segment.count,
      chunks: chunksOf(segment.bytes.length),
    }));
    const writes = encoded.flatMap((segment) =>
      segmentMutations(store.logKey, segment.start, gen, segment.bytes)
    );
    return { refs, writes };
  };
  // In place: the new segments take the generation their start reads,
  // and the replaced ones go in the same commit (below).
  const gen = genAt(meta, from);
  let next = normalizeMeta({
    ...meta,
    last: to,
    runs: meta.runs.filter(([start]) => start <= from),
  });
  let { refs, writes } = storeUnder(gen);
  let commits = packCommits(
    replaced.length === 0 ? writes : [
      ...writes,
      ...unwritten(store.logKey, replaced, writes).map(deleteOf),
    ],
    setOf(store.key("meta"), next),
  );
  // An overwrite starting inside a live segment replaces nothing by key,
  // yet its first commit would already be visible: any overwrite that
  // takes several commits goes under a fresh generation (found in
  // review: a crash after the first commit left a store that no longer
  // loaded).
  if (commits.length > 1 && from <= meta.last) {
    // Several commits would destroy the old suffix before the marker
    // moves: write under a fresh generation, which only the final marker
    // makes visible. No key of it exists yet, as every call starts from a
    // store that holds live segments only (see KvStore.recover).
    const fresh = meta.nextId;
    next = withFreshRun(meta, from, to, fresh);
    ({ refs, writes } = storeUnder(fresh));
    commits = packCommits(writes, setOf(store.key("meta"), next));
    await store.commit(commits, next);
    segments.length = cut;
    segments.push(...refs);
    await store.deleteKeys(
      replaced.flatMap((segment) => segmentKeys(store.logKey, segment)),
    );
    return;
  }
  await store.commit(commits, next);
  segments.length = cut;
  segments.push(...refs);
}

/** Keys of `segments` that `writes` does not set again. */
function unwritten(
  logKey: (index: number, gen: number, part?: number) => Deno.KvKey,
  segments: readonly SegmentRef[],
  writes: readonly Mutation[],
): Deno.KvKey[] {
  const written = new Set(writes.map((w) => JSON.stringify(w.key)));
  return segments.flatMap((segment) => segmentKeys(logKey, segment))
    .filter((key) => !written.has(JSON.stringify(key)));
}
