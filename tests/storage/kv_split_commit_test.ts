import assert from "node:assert/strict";
import { StorageError } from "../../kernel/errors.ts";
import type { LogEntry, Snapshot } from "../../kernel/types.ts";
import { KvStorage } from "../../storage/kv.ts";
import { type KvProbe, probeKv } from "./_probe_kv.ts";

const OPTIONS = { clusterId: "c1", nodeId: "a" };
const LOG_PREFIX = ["raft", "c1", "a", "log"];
const SNAPSHOT_PREFIX = ["raft", "c1", "a", "snapshot"];

function run(from: number, to: number, term: number): LogEntry[] {
  const entries: LogEntry[] = [];
  for (let index = from; index <= to; index++) {
    entries.push({ index, term, kind: "command", command: { index, term } });
  }
  return entries;
}

/** Entries with a 1 KiB command each: 1,000 of them take more than one commit. */
function bigRun(from: number, to: number, term: number): LogEntry[] {
  return run(from, to, term).map((entry) => ({
    ...entry,
    command: { index: entry.index, term, pad: "p".repeat(1024) },
  }));
}

function snapshotOf(index: number, size: number, seed: number): Snapshot {
  const data = new Uint8Array(size);
  for (let k = 0; k < size; k++) data[k] = (k * 31 + seed) % 251;
  return { index, term: 1, voters: ["a", "b", "c"], nonVoters: [], data };
}

async function withTempDir(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raft_kv_split_" });
  try {
    await fn(`${dir}/node.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function countLogKeys(
  path: string,
  prefix: Deno.KvKey = LOG_PREFIX,
): Promise<number> {
  const kv = await Deno.openKv(path);
  try {
    let count = 0;
    for await (const _ of kv.list({ prefix })) count++;
    return count;
  } finally {
    kv.close();
  }
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let count = 0;
  for await (const _ of kv.list({ prefix })) count++;
  return count;
}

/** Runs `operation` on a KV that crashes after `crashAfter` commits. */
async function crashing(
  path: string,
  crashAfter: number,
  operation: (storage: KvStorage) => Promise<void>,
): Promise<KvProbe> {
  const kv = await Deno.openKv(path);
  const [wrapped, probe] = probeKv(kv, crashAfter);
  const storage = new KvStorage(wrapped, OPTIONS);
  try {
    await storage.load();
    if (crashAfter === Infinity) {
      await operation(storage);
    } else {
      await assert.rejects(operation(storage), StorageError);
    }
  } finally {
    await storage.close();
    kv.close();
  }
  return probe;
}

/**
 * Seeds a store, then replays `operation` crashing after every possible
 * commit; after each crash a fresh open must load `before` or `after`
 * (whichever the landed marker commits imply) and no stray keys may remain.
 */
async function assertCrashSafe(
  seed: (storage: KvStorage) => Promise<void>,
  operation: (storage: KvStorage) => Promise<void>,
  check: (storage: KvStorage, landed: boolean) => Promise<void>,
): Promise<void> {
  let total = 0;
  let markers: number[] = [];
  await withTempDir(async (path) => {
    await crashing(path, Infinity, seed);
    const probe = await crashing(path, Infinity, operation);
    total = probe.commits;
    markers = probe.markerCommits;
  });
  assert.ok(total > 2, `expected a multi-commit operation, got ${total}`);
  for (let crashAfter = 0; crashAfter < total; crashAfter++) {
    await withTempDir(async (path) => {
      await crashing(path, Infinity, seed);
      await crashing(path, crashAfter, operation);
      const storage = await KvStorage.open(path, OPTIONS);
      try {
        // The operation counts as landed once its last marker commit has
        // (an overwrite first commits a marker that only reserves an id).
        const landed = markers[markers.length - 1] < crashAfter;
        await check(storage, landed);
      } finally {
        await storage.close();
      }
      // load() swept what the crash left behind: loading again deletes
      // nothing, and only the snapshot's own chunks remain.
      const probe = await crashing(path, Infinity, () => Promise.resolve());
      assert.equal(probe.commits, 0, "a second load found garbage");
      const storage2 = await KvStorage.open(path, OPTIONS);
      const { snapshot } = await storage2.load();
      await storage2.close();
      assert.equal(
        await countLogKeys(path, SNAPSHOT_PREFIX),
        Math.ceil((snapshot?.data.length ?? 0) / 64_000),
      );
    });
  }
}

Deno.test("KvStorage: a crash inside a multi-commit append shows the old log or the new one", async () => {
  const before = bigRun(1, 10, 1);
  const after = [...before, ...bigRun(11, 2600, 1)];
  await assertCrashSafe(
    (s) => s.append(before),
    (s) => s.append(bigRun(11, 2600, 1)),
    async (s, landed) => {
      assert.deepEqual((await s.load()).entries, landed ? after : before);
      assert.equal(await s.lastIndex(), landed ? 2600 : 10);
    },
  );
});

Deno.test("KvStorage: a crash inside a multi-commit overwrite never shows a half-truncated log", async () => {
  const before = bigRun(1, 3000, 1);
  const after = [...bigRun(1, 4, 1), ...bigRun(5, 2400, 2)];
  await assertCrashSafe(
    (s) => s.append(before),
    (s) => s.append(bigRun(5, 2400, 2)),
    async (s, landed) => {
      const { entries } = await s.load();
      assert.deepEqual(entries, landed ? after : before);
      assert.deepEqual(
        await s.entries(2398, 2403),
        landed ? bigRun(2398, 2400, 2) : bigRun(2398, 2402, 1),
      );
    },
  );
});

Deno.test("KvStorage: a crash while saving a large snapshot keeps the old one whole", async () => {
  const old = snapshotOf(5, 100_000, 1);
  const next = snapshotOf(20, 3 * 1024 * 1024, 2);
  await assertCrashSafe(
    async (s) => {
      await s.append(run(1, 10, 1));
      await s.saveSnapshot(old);
    },
    (s) => s.saveSnapshot(next),
    async (s, landed) => {
      const { snapshot, entries } = await s.load();
      const expected = landed ? next : old;
      assert.equal(snapshot?.index, expected.index);
      assert.deepEqual(snapshot?.data, expected.data);
      assert.deepEqual(entries, landed ? [] : run(1, 10, 1));
      assert.equal(await s.lastIndex(), landed ? 20 : 10);
    },
  );
});

Deno.test("KvStorage: a small append is exactly one atomic commit and no reads", async () => {
  const kv = await Deno.openKv(":memory:");
  const [wrapped, probe] = probeKv(kv);
  const storage = new KvStorage(wrapped, OPTIONS);
  try {
    await storage.append(run(1, 200, 1));
    const listsBefore = probe.lists;
    await storage.load();
    assert.equal(
      probe.lists - listsBefore,
      2,
      "load lists the log and the snapshots",
    );
    const before = { ...probe };
    await storage.append(run(201, 300, 1));
    assert.equal(probe.commits - before.commits, 1);
    // The 100 entries went into one segment: one key, not one per entry.
    assert.equal(await countKeys(kv, LOG_PREFIX), 2);
    assert.equal(probe.gets - before.gets, 0);
    assert.equal(probe.lists - before.lists, 0);
  } finally {
    await storage.close();
    kv.close();
  }
});

Deno.test("KvStorage: chunked oversize entries round-trip and leave no stray chunks", async () => {
  await withTempDir(async (path) => {
    const huge = "h".repeat(1_000_000); // 16 chunks: more than one commit
    const entries: LogEntry[] = [
      { index: 1, term: 1, kind: "command", command: { huge } },
      { index: 2, term: 1, kind: "command", command: "x".repeat(200_000) },
      { index: 3, term: 1, kind: "noop", command: null },
    ];
    let storage = await KvStorage.open(path, OPTIONS);
    await storage.append(entries);
    await storage.close();
    storage = await KvStorage.open(path, OPTIONS);
    assert.deepEqual((await storage.load()).entries, entries);
    assert.deepEqual(await storage.entries(2, 3), [entries[1]]);
    // Overwriting a chunked entry in place must not leave its chunks behind.
    await storage.append(run(2, 3, 2));
    assert.deepEqual(await storage.entries(1, 10), [
      entries[0],
      ...run(2, 3, 2),
    ]);
    await storage.close();
    // Entry 1 is a head and 16 chunks; entries 2..3 now share one segment.
    assert.equal(await countLogKeys(path), 17 + 1);
  });
});

Deno.test("KvStorage: bad input and KV failures reject with StorageError", async () => {
  await assert.rejects(
    KvStorage.open(undefined, { nodeId: "n".repeat(3000) }),
    StorageError,
  );
  const kv = await Deno.openKv(":memory:");
  assert.throws(
    () => new KvStorage(kv, { clusterId: "c".repeat(2100) }),
    StorageError,
  );
  const storage = new KvStorage(kv, OPTIONS);
  const bad: unknown[] = [
    [{ index: 1.5, term: 1, kind: "noop", command: null }],
    [{ index: 1, term: -1, kind: "noop", command: null }],
    [{ index: 1, term: 1, kind: "other", command: null }],
    [{ index: 1, term: 1, kind: "command", command: undefined }],
    [{ index: 1, term: 1, kind: "command", command: 10n }],
    [...run(1, 2, 1), ...run(4, 4, 1)],
  ];
  for (const entries of bad) {
    await assert.rejects(storage.append(entries as LogEntry[]), StorageError);
  }
  await assert.rejects(storage.entries(NaN, 3), StorageError);
  await assert.rejects(
    storage.saveHardState({ term: 1.5, votedFor: null }),
    StorageError,
  );
  await assert.rejects(
    storage.saveSnapshot({ ...snapshotOf(1, 1, 1), data: "x" as never }),
    StorageError,
  );
  assert.equal(await storage.lastIndex(), 0);
  // Another writer moved the meta record: the stale writer must not clobber it.
  const other = new KvStorage(kv, OPTIONS);
  await other.append(run(1, 3, 1));
  await assert.rejects(storage.append(run(1, 1, 2)), StorageError);
  assert.deepEqual((await storage.load()).entries, run(1, 3, 1));
  kv.close();
  const error = await storage.load().then(() => null, (e: unknown) => e);
  assert.ok(error instanceof StorageError);
  assert.ok(error.cause !== undefined, "the KV error is attached as cause");
  await storage.close();
  await other.close();
});

Deno.test("KvStorage: a crashed commit on a live instance is not trusted from cache", async () => {
  const kv = await Deno.openKv(":memory:");
  const [wrapped] = probeKv(kv, 1);
  const storage = new KvStorage(wrapped, OPTIONS);
  try {
    await storage.append(run(1, 5, 1)); // the one commit allowed
    await assert.rejects(storage.append(run(6, 8, 1)), StorageError);
    assert.equal(await storage.lastIndex(), 5);
    assert.deepEqual(await storage.entries(1, 10), run(1, 5, 1));
  } finally {
    await storage.close();
    kv.close();
  }
});

Deno.test("KvStorage: a crash inside a multi-commit overwrite that starts inside a segment shows the old log or the new one", async () => {
  // One segment holds 1..500; the overwrite from 250 takes several commits.
  const before = run(1, 500, 1);
  const after = [...run(1, 249, 1), ...bigRun(250, 2_500, 2)];
  await assertCrashSafe(
    (s) => s.append(before),
    (s) => s.append(bigRun(250, 2_500, 2)),
    async (s, landed) => {
      assert.deepEqual((await s.load()).entries, landed ? after : before);
    },
  );
});

Deno.test("KvStorage: a crash inside a chunked overwrite that starts inside a segment shows the old log or the new one", async () => {
  const before = run(1, 500, 1);
  const huge: LogEntry = {
    index: 250,
    term: 2,
    kind: "command",
    command: "h".repeat(2_000_000),
  };
  await assertCrashSafe(
    (s) => s.append(before),
    (s) => s.append([huge]),
    async (s, landed) => {
      assert.deepEqual(
        (await s.load()).entries,
        landed ? [...run(1, 249, 1), huge] : before,
      );
    },
  );
});
