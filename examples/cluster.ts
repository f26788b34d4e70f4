/**
 * `deno task cluster`: starts three KV nodes (examples/kv_node.ts) as child
 * processes on free loopback ports, with their data under a fresh temporary
 * directory, prints their URLs, and stops them all on Ctrl-C (SIGINT) or
 * SIGTERM. `--keep` keeps the data directory; `--memory` keeps no data.
 *
 * ```sh
 * deno task cluster
 * curl -X PUT --data-binary hello http://127.0.0.1:PORT/kv/greeting
 * ```
 * @module
 */
import {
  type NodeProcess,
  startNodeProcesses,
  waitForLeader,
} from "./_kv_process.ts";

const ids = ["a", "b", "c"];
const keep = Deno.args.includes("--keep");
const memory = Deno.args.includes("--memory");
const dataRoot = memory
  ? null
  : await Deno.makeTempDir({ prefix: "deno-raft-cluster-" });
const secret = Array.from(
  crypto.getRandomValues(new Uint8Array(16)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

let stopping = false;
const nodes: NodeProcess[] = startNodeProcesses(ids, {
  dataRoot,
  secret,
  onLine: (id, line) => {
    if (!line.startsWith("kv_node ")) console.error(`${id} | ${line}`);
  },
});
for (const node of nodes) {
  node.exited().then((status) => {
    if (!stopping) {
      console.error(`${node.id} exited with code ${status.code}`);
    }
  });
}

async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error("stopping the cluster…");
  const statuses = await Promise.all(nodes.map((n) => n.stop(6000)));
  statuses.forEach((s, i) =>
    console.error(`${nodes[i].id} stopped (exit code ${s?.code ?? "-"})`)
  );
  if (dataRoot !== null && !keep) {
    await Deno.remove(dataRoot, { recursive: true }).catch(() => {});
  } else if (dataRoot !== null) console.error(`data kept in ${dataRoot}`);
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stopAll);
Deno.addSignalListener("SIGTERM", stopAll);

try {
  await Promise.all(nodes.map((n) => n.waitReady(60_000)));
  const leader = await waitForLeader(nodes, 60_000);
  console.log(
    `cluster of ${ids.length} nodes (${
      dataRoot === null ? "state in memory" : `data in ${dataRoot}`
    }):`,
  );
  for (const node of nodes) {
    console.log(
      `  ${node.id}  ${node.url}  pid ${node.pid}${
        node === leader ? "  (leader)" : ""
      }`,
    );
  }
  console.log(
    `try: curl -X PUT --data-binary hello ${nodes[0].url}/kv/greeting\n` +
      `     curl ${nodes[1].url}/kv/greeting\n` +
      `     curl ${nodes[2].url}/status\n` +
      "Ctrl-C stops them all.",
  );
} catch (error) {
  console.error(`Cannot start the cluster: ${(error as Error).message}`);
  for (const node of nodes) console.error(node.lines.join("\n"));
  await stopAll();
}
