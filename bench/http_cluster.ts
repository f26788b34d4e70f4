/**
 * `deno task bench:http`: three KV node processes (examples/kv_node.ts) on
 * loopback with KvStorage on files, election timeout 150–300 ms, heartbeat
 * 50 ms. Prints one table:
 *
 * - **Load**: closed-loop clients (each with one request outstanding) at
 *   concurrency 1, 16, 64 and 256, `PUT /kv/bench-<random>` with a 100-byte
 *   value; client i talks to node i mod 3, so followers forward (as the
 *   shared loadgen's `http-kv` mode does). Throughput of 200s, p50 / p99.
 *   From each node's `/metrics`, the mean KvStorage append during the
 *   point (leader / followers) and the mean leader round trip (a request
 *   to a follower until its answers are handled, which includes the
 *   follower's append; heartbeats count too): where a write's time goes.
 *   Both show "-" when the leader changed during the point.
 * - **Failover**: a fresh cluster; every 10 ms one put goes through each
 *   node; the leader is SIGKILLed; recovery is the completion of the first
 *   successful put issued after the kill, minus the kill time. The victim
 *   is restarted on its data and the next trial waits for a stable leader.
 *
 * Flags: `--seconds N` per load point (default 5), `--points 1,16,64,256`,
 * `--trials N` (default 20), `--no-load`, `--no-failover`, `--isolation-ms N`
 * (kv_node's IsolatedLeader window; default: twice the election timeout),
 * `--election-ms N` (default 150; each wait is drawn from [N, 2N)) and
 * `--heartbeat-ms N` (default 50): `--election-ms 250` matches
 * bench/etcd_side_by_side.sh. Every loop is
 * bounded in count and time; every process is stopped by its pid.
 * @module
 */
import { parseArgs } from "node:util";
import { fmt, printTable } from "./_harness.ts";
import {
  type NodeProcess,
  startNodeProcesses,
  statusOf,
  waitForLeader,
} from "../examples/_kv_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: Deno.env.get("BENCH_SECONDS") ?? "5" },
    points: { type: "string", default: "1,16,64,256" },
    trials: { type: "string", default: "20" },
    "no-load": { type: "boolean", default: false },
    "no-failover": { type: "boolean", default: false },
    "isolation-ms": { type: "string" },
    "election-ms": { type: "string", default: "150" },
    "heartbeat-ms": { type: "string", default: "50" },
  },
});
const seconds = Number(values.seconds);
const points = values.points.split(",").map(Number);
const trials = Number(values.trials);
const ELECTION_MS = Number(values["election-ms"]);
const HEARTBEAT_MS = Number(values["heartbeat-ms"]);
const VALUE = "v".repeat(100);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (sorted: number[], q: number) =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const roots: string[] = [];
let running: NodeProcess[] = [];

async function cluster(): Promise<NodeProcess[]> {
  const root = await Deno.makeTempDir({ prefix: "raft-bench-http-" });
  roots.push(root);
  const nodes = startNodeProcesses(["a", "b", "c"], {
    dataRoot: root,
    secret: crypto.randomUUID(),
    electionMs: ELECTION_MS,
    heartbeatMs: HEARTBEAT_MS,
    extraArgs: values["isolation-ms"]
      ? ["--isolation-ms", values["isolation-ms"]]
      : [],
  });
  running.push(...nodes);
  await Promise.all(nodes.map((n) => n.waitReady(60_000)));
  await waitForLeader(nodes, 30_000);
  return nodes;
}

async function cleanup(): Promise<void> {
  await Promise.all(running.map((n) => n.stop(6000)));
  running = [];
  for (const root of roots) {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

interface LoadPoint {
  ok: number;
  errors: number;
  /** Errors by status code (or "network"). */
  errorKinds: Map<string, number>;
  seconds: number;
  latencies: number[];
}

async function load(
  urls: string[],
  clients: number,
  runSeconds: number,
): Promise<LoadPoint> {
  const latencies: number[] = [];
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const failed = (kind: string) => {
    errors++;
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  };
  let issued = 0;
  const maxRequests = 5_000_000;
  const start = performance.now();
  const end = start + runSeconds * 1000;
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    const url = urls[i % urls.length];
    while (performance.now() < end && issued++ < maxRequests) {
      const key = `bench-${Math.floor(Math.random() * 100_000)}`;
      const t0 = performance.now();
      try {
        const response = await fetch(`${url}/kv/${key}`, {
          method: "PUT",
          body: VALUE,
          signal: AbortSignal.timeout(5000),
        });
        await response.arrayBuffer();
        if (response.status === 200) latencies.push(performance.now() - t0);
        else failed(String(response.status));
      } catch {
        failed("network");
        await sleep(10);
      }
    }
  }));
  return {
    ok: latencies.length,
    errors,
    errorKinds,
    seconds: (performance.now() - start) / 1000,
    latencies: latencies.sort((a, b) => a - b),
  };
}

/** Sum and count of one histogram family in a node's /metrics, by series. */
type Totals = Map<string, { sum: number; count: number }>;

/** Reads `family`'s `_sum` and `_count` of every node (by "node labels"). */
async function histogramTotals(
  urls: string[],
  family: string,
): Promise<Totals> {
  const totals: Totals = new Map();
  await Promise.all(urls.map(async (url, i) => {
    const text = await fetch(`${url}/metrics`)
      .then((r) => r.ok ? r.text() : r.body?.cancel().then(() => null) ?? null)
      .catch(() => null);
    if (text === null) return;
    for (const line of text.split("\n")) {
      const m = line.match(/^(\w+)_(sum|count)\{([^}]*)\} (\S+)$/);
      if (!m || m[1] !== family) continue;
      const key = `${i} ${m[3]}`;
      const t = totals.get(key) ?? { sum: 0, count: 0 };
      t[m[2] as "sum" | "count"] = Number(m[4]);
      totals.set(key, t);
    }
  }));
  return totals;
}

/** Mean (ms) over the series `pick` accepts, between two readings. */
function meanMs(
  before: Totals,
  after: Totals,
  pick: (key: string) => boolean,
): number {
  let sum = 0, count = 0;
  for (const [key, t] of after) {
    // A series without a reading before the point would count its whole
    // history: left out.
    const b = before.get(key);
    if (!pick(key) || b === undefined) continue;
    sum += t.sum - b.sum;
    count += t.count - b.count;
  }
  return count > 0 ? 1000 * sum / count : NaN;
}

const STORAGE = "raft_storage_write_duration_seconds";
const ROUND_TRIP = "raft_transport_round_trip_seconds";

interface Probe {
  issue: number;
  done: number;
  ok: boolean;
}

/** One failover trial: SIGKILL the leader, time the first good put. */
async function failoverTrial(nodes: NodeProcess[]): Promise<number> {
  const leader = await waitForLeader(nodes, 30_000);
  // Let every member catch up so any of them can win.
  const caughtUpBy = Date.now() + 10_000;
  while (Date.now() < caughtUpBy) {
    const s = await Promise.all(nodes.map((n) => statusOf(n.url)));
    const top = Math.max(...s.map((x) => x?.commitIndex ?? 0));
    if (s.every((x) => x !== null && x.lastApplied >= top)) break;
    await sleep(50);
  }
  const probes: Probe[] = [];
  const inFlight = new Set<Promise<void>>();
  let killedAt = Infinity;
  let recovered = false;
  let n = 0;
  const probeEnd = performance.now() + 15_000;
  while (!recovered && performance.now() < probeEnd) {
    for (const node of nodes) {
      const issue = performance.now();
      const p = fetch(`${node.url}/kv/probe-${n++ % 1000}`, {
        method: "PUT",
        body: "p",
        signal: AbortSignal.timeout(2000),
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status === 200;
      }, () => false).then((ok) => {
        const done = performance.now();
        probes.push({ issue, done, ok });
        if (ok && issue >= killedAt) recovered = true;
      });
      inFlight.add(p);
      p.finally(() => inFlight.delete(p));
    }
    if (killedAt === Infinity && probes.length >= 150) {
      killedAt = performance.now();
      leader.kill("SIGKILL");
    }
    await sleep(10);
  }
  await Promise.all(inFlight);
  await leader.exited();
  leader.start();
  await leader.waitReady(60_000);
  const after = probes.filter((p) => p.ok && p.issue >= killedAt);
  if (after.length === 0) throw new Error("Cannot see a write succeed");
  return Math.min(...after.map((p) => p.done)) - killedAt;
}

const stop = async () => {
  await cleanup();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", stop);

try {
  const [load1, load5] = Deno.loadavg();
  console.log(
    `deno-raft HTTP cluster: 3 processes on loopback, KvStorage files, ` +
      `election ${ELECTION_MS}-${
        2 * ELECTION_MS
      } ms, heartbeat ${HEARTBEAT_MS} ms; ` +
      `load average ${load1.toFixed(2)} / ${load5.toFixed(2)} before the run`,
  );
  const rows: string[][] = [];
  if (!values["no-load"]) {
    const nodes = await cluster();
    const urls = nodes.map((n) => n.url);
    for (const clients of points) {
      await load(urls, clients, Math.min(1, seconds)); // warm-up
      const loadBefore = Deno.loadavg()[0];
      const termBefore = (await statusOf(urls[0]))?.term ?? 0;
      const isolated = () =>
        nodes.flatMap((n) => n.lines).filter((l) =>
          l.includes("-> IsolatedLeader")
        ).length;
      const isolatedBefore = isolated();
      const leaderNow = async () =>
        (await Promise.all(urls.map((u) => statusOf(u))))
          .findIndex((st) => st?.role === "Leader");
      const leaderBefore = await leaderNow();
      const writesBefore = await histogramTotals(urls, STORAGE);
      const tripsBefore = await histogramTotals(urls, ROUND_TRIP);
      const r = await load(urls, clients, seconds);
      const termAfter = (await statusOf(urls[0]))?.term ?? 0;
      // Split by role only when one node led the whole point.
      const leader = (await leaderNow()) === leaderBefore ? leaderBefore : -1;
      const writesAfter = await histogramTotals(urls, STORAGE);
      const tripsAfter = await histogramTotals(urls, ROUND_TRIP);
      const appends = (mine: boolean) =>
        meanMs(
          writesBefore,
          writesAfter,
          (key) =>
            key.endsWith('method="append"') &&
            (key.startsWith(`${leader} `) === mine),
        );
      rows.push([
        `put, ${clients} client${clients === 1 ? "" : "s"} (node i mod 3)`,
        fmt(r.ok / r.seconds),
        fmt(percentile(r.latencies, 0.5), 2),
        fmt(percentile(r.latencies, 0.99), 2),
        fmt(r.errors),
        leader < 0
          ? "-"
          : `${fmt(appends(true), 2)} / ${fmt(appends(false), 2)}`,
        leader < 0 ? "-" : fmt(
          meanMs(
            tripsBefore,
            tripsAfter,
            (key) => key.startsWith(`${leader} `),
          ),
          2,
        ),
        loadBefore.toFixed(2),
      ]);
      console.error(
        `done: ${rows.at(-1)!.join("  ")}; errors ${
          JSON.stringify(Object.fromEntries(r.errorKinds))
        }; terms ${termBefore} -> ${termAfter}; leader isolated ${
          isolated() - isolatedBefore
        } time(s)`,
      );
    }
    await cleanup();
  }
  if (!values["no-failover"]) {
    const nodes = await cluster();
    const samples: number[] = [];
    for (let t = 0; t < trials; t++) {
      samples.push(await failoverTrial(nodes));
      console.error(
        `failover trial ${t + 1}: ${samples.at(-1)!.toFixed(0)} ms`,
      );
    }
    const sorted = [...samples].sort((a, b) => a - b);
    rows.push([
      `failover, ${trials} trials (p50 / max ms in the next columns)`,
      "-",
      fmt(percentile(sorted, 0.5), 0),
      fmt(sorted.at(-1)!, 0),
      "-",
      "-",
      "-",
      Deno.loadavg()[0].toFixed(2),
    ]);
    console.log(
      `failover samples (ms): ${samples.map((s) => s.toFixed(0)).join(" ")}`,
    );
  }
  printTable(
    [
      "scenario",
      "ops/s",
      "p50 ms",
      "p99 ms",
      "errors",
      "append ms L / F",
      "leader round trip ms",
      "load avg 1m",
    ],
    rows,
  );
} finally {
  await cleanup();
}
