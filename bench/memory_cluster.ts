/**
 * `deno task bench`: commits/s of a 3-node in-process cluster on the
 * MemoryNetwork with MemoryStorage, for one sequential client and for 256
 * outstanding proposals. Every run is bounded in count and time.
 * @module
 */
import { MemoryStorage } from "../mod.ts";
import { closedLoop, fmt, printTable, startCluster } from "./_harness.ts";

const rows: string[][] = [];
const scenarios = [
  { name: "memory, 1 client (sequential)", clients: 1, max: 200_000 },
  { name: "memory, 256 outstanding", clients: 256, max: 2_000_000 },
];
for (const s of scenarios) {
  const cluster = await startCluster(
    ["a", "b", "c"],
    () => new MemoryStorage(),
  );
  await closedLoop(cluster.leader, s.clients, 0.3, s.max); // warm-up
  const r = await closedLoop(cluster.leader, s.clients, 3, s.max);
  await cluster.stop();
  rows.push([
    s.name,
    fmt(r.commits),
    fmt(r.seconds, 2),
    fmt(r.commits / r.seconds),
    fmt(r.p50Ms, 3),
    fmt(r.p99Ms, 3),
  ]);
}
printTable(
  ["scenario (3 nodes)", "commits", "s", "commits/s", "p50 ms", "p99 ms"],
  rows,
);
