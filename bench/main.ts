/**
 * `deno task bench`: one table. First this disk's fsync rate (small write +
 * fdatasync for 2 s), then a 3-node in-process cluster on MemoryStorage and
 * on file-backed KvStorage (one KV file per node), for one sequential client
 * and for many outstanding proposals. The KV rows are also given as a ratio
 * to the fsync rate of the same run, since disks differ several-fold.
 * Every run is bounded in count and time.
 * @module
 */
import { KvStorage, MemoryStorage, type Storage } from "../mod.ts";
import { measureFsyncRate, measureKvCommitRate } from "./fsync_rate.ts";
import { closedLoop, fmt, printTable, startCluster } from "./_harness.ts";

const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
const dir = await Deno.makeTempDir({ prefix: "raft-bench-" });
const rows: string[][] = [];
try {
  const fsync = await measureFsyncRate(dir, 2);
  rows.push([
    "disk: 64 B write + fdatasync",
    "-",
    fmt(fsync.fsyncsPerSecond),
    fmt(fsync.meanMs, 3),
    "-",
    "1.00",
  ]);
  // What one Deno KV commit costs on this disk, alone and with three KV
  // files committing at once (as the three nodes below do): the ceiling of
  // any storage that commits once per write.
  for (const files of [1, 3]) {
    const kv = await measureKvCommitRate(
      `${dir}/ceiling-${files}.kv`,
      1,
      files,
    );
    rows.push([
      files === 1
        ? "disk: Deno KV commit, 1 file"
        : "disk: Deno KV commit, 3 files at once (per file)",
      "-",
      fmt(kv.commitsPerSecond),
      fmt(kv.meanMs, 3),
      "-",
      fmt(kv.commitsPerSecond / fsync.fsyncsPerSecond, 2),
    ]);
  }
  const scenarios = [
    { name: "memory, 1 client (sequential)", kv: false, clients: 1 },
    { name: "memory, 256 outstanding", kv: false, clients: 256 },
    { name: "KV files, 1 client (sequential)", kv: true, clients: 1 },
    { name: "KV files, 64 outstanding", kv: true, clients: 64 },
  ];
  let run = 0;
  for (const s of scenarios) {
    const stores: KvStorage[] = [];
    const cluster = await startCluster(["a", "b", "c"], async (id) => {
      if (!s.kv) return new MemoryStorage();
      const store = await KvStorage.open(`${dir}/${run}-${id}.kv`);
      stores.push(store);
      return store;
    });
    run++;
    await closedLoop(cluster.leader, s.clients, 0.3, 2_000_000); // warm-up
    const r = await closedLoop(cluster.leader, s.clients, seconds, 2_000_000);
    await cluster.stop();
    for (const store of stores) await store.close();
    const rate = r.commits / r.seconds;
    // The disk's rate drifts from minute to minute: for a KV row, compare
    // with the mean of the run's first measure and one taken right after.
    let ratio = "-";
    if (s.kv) {
      const after = await measureFsyncRate(dir, 1);
      const mean = (fsync.fsyncsPerSecond + after.fsyncsPerSecond) / 2;
      ratio = `${fmt(rate / mean, 2)} (disk ${
        fmt(after.fsyncsPerSecond)
      }/s after)`;
    }
    rows.push([
      s.name,
      fmt(r.commits),
      fmt(rate),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      ratio,
    ]);
  }
  rows.push(await heapAfterMillion(() => new MemoryStorage(), "memory"));
  let kvRun = 0;
  const kvStores: KvStorage[] = [];
  rows.push(
    await heapAfterMillion(async (id) => {
      const store = await KvStorage.open(`${dir}/heap-${kvRun++}-${id}.kv`);
      kvStores.push(store);
      return store;
    }, "KV files"),
  );
  for (const store of kvStores) await store.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}

/**
 * Heap of the whole process (3 nodes on `storage`) after 1,000,000
 * entries with snapshots every 10,000 entries, measured after a full GC
 * when the runtime allows it (`--v8-flags=--expose-gc`).
 */
async function heapAfterMillion(
  storage: (id: string) => Storage | Promise<Storage>,
  label: string,
): Promise<string[]> {
  const total = 1_000_000;
  const cluster = await startCluster(
    ["a", "b", "c"],
    storage,
    () => {
      let count = 0;
      return {
        apply: () => ++count,
        snapshot: () => new TextEncoder().encode(String(count)),
        restore: (data) => {
          count = Number(new TextDecoder().decode(data));
        },
      };
    },
    { snapshotThreshold: 10_000 },
  );
  const r = await closedLoop(cluster.leader, 256, 120, total);
  await new Promise((resolve) => setTimeout(resolve, 200));
  (globalThis as { gc?: () => void }).gc?.();
  const heapMb = Deno.memoryUsage().heapUsed / 1024 / 1024;
  await cluster.stop();
  return [
    `heap after ${fmt(r.commits)} entries, ${label}, snapshots on`,
    fmt(r.commits),
    fmt(r.commits / r.seconds),
    `${fmt(heapMb, 1)} MB`,
    "-",
    "-",
  ];
}
printTable(
  ["scenario (3 nodes)", "commits", "per s", "p50 ms", "p99 ms", "x fsync/s"],
  rows,
);
