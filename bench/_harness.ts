/**
 * Shared pieces of the benchmarks: a cluster of in-process nodes, a
 * closed-loop load driver with latency percentiles, and table printing.
 * @module
 */
import {
  createNode,
  defaultBehaviors,
  MemoryNetwork,
  type NodeOptions,
  type RaftNode,
  type StateMachine,
  type Storage,
} from "../mod.ts";
import { until } from "../kernel/async.ts";

/** The outcome of one load run. */
export interface LoadResult {
  /** Commits acknowledged. */
  readonly commits: number;
  /** Wall time in seconds. */
  readonly seconds: number;
  /** Median latency, ms. */
  readonly p50Ms: number;
  /** 99th percentile latency, ms. */
  readonly p99Ms: number;
}

/** Starts `ids.length` nodes on a MemoryNetwork and waits for a leader. */
export async function startCluster(
  ids: string[],
  storage: (id: string) => Storage | Promise<Storage>,
  machine: (id: string) => StateMachine = () => ({ apply: () => null }),
  options: Partial<NodeOptions> = {},
): Promise<{ nodes: RaftNode[]; leader: RaftNode; stop: () => Promise<void> }> {
  const net = new MemoryNetwork();
  const nodes: RaftNode[] = [];
  for (const id of ids) {
    nodes.push(createNode({
      id,
      voters: ids,
      transport: net.connect(id),
      storage: await storage(id),
      behaviors: defaultBehaviors(),
      stateMachine: machine(id),
      electionTimeoutMs: 300,
      heartbeatMs: 50,
      ...options,
    }));
  }
  for (const node of nodes) await node.start();
  const leader = await until(() => nodes.find((n) => n.role === "Leader"), {
    timeoutMs: 10_000,
  });
  return {
    nodes,
    leader,
    stop: async () => {
      for (const node of nodes) await node.stop();
    },
  };
}

/**
 * Runs `clients` closed-loop clients proposing small commands to `leader`
 * until `maxCommits` are acknowledged or `seconds` pass.
 */
export async function closedLoop(
  leader: RaftNode,
  clients: number,
  seconds: number,
  maxCommits: number,
): Promise<LoadResult> {
  const latencies = new Float64Array(maxCommits);
  let commits = 0;
  let issued = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const client = async (c: number) => {
    while (issued < maxCommits && performance.now() < end) {
      issued++;
      const t0 = performance.now();
      await leader.propose({ c, n: issued });
      latencies[commits++] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const elapsed = (performance.now() - start) / 1000;
  const sorted = latencies.subarray(0, commits).sort();
  const at = (q: number) =>
    sorted[Math.min(commits - 1, Math.floor(q * commits))] ?? 0;
  return { commits, seconds: elapsed, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** Prints rows as an aligned Markdown table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}

/** Formats a number with thousands separators. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}
