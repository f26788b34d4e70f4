/**
 * Child process of the crash-recovery test. Runs a 3-node cluster in this
 * process, each node on its own file-backed KvStorage under DIR.
 *
 * - `write DIR`: proposes numbered commands from 16 clients forever and
 *   prints `ack <n> <index> <term>` once each is committed and applied, until
 *   the parent kills it with SIGKILL.
 * - `verify DIR`: restarts the cluster from DIR, waits for a leader and for
 *   every node to apply the leader's commit index, and prints one JSON line
 *   with each node's applied commands and recovered hard state.
 * @module
 */
import {
  createNode,
  defaultBehaviors,
  type Json,
  KvStorage,
  MemoryNetwork,
  type RaftNode,
} from "../../mod.ts";
import { until } from "../../kernel/async.ts";

const [mode, dir] = Deno.args;
const ids = ["a", "b", "c"];
const net = new MemoryNetwork();
const applied = new Map<string, { index: number; command: Json }[]>();
const storages: KvStorage[] = [];
const nodes: RaftNode[] = [];
for (const id of ids) {
  const storage = await KvStorage.open(`${dir}/${id}.kv`, { nodeId: id });
  storages.push(storage);
  const log: { index: number; command: Json }[] = [];
  applied.set(id, log);
  nodes.push(createNode({
    id,
    voters: ids,
    transport: net.connect(id),
    storage,
    behaviors: defaultBehaviors(),
    stateMachine: {
      apply: (command, index) => {
        log.push({ index, command });
        return index;
      },
      snapshot: () => new TextEncoder().encode(JSON.stringify(log)),
      restore: (data) => {
        log.length = 0;
        log.push(...JSON.parse(new TextDecoder().decode(data)));
      },
    },
    snapshotThreshold: 500,
    trailingEntries: 50,
    electionTimeoutMs: 150,
    heartbeatMs: 30,
  }));
}
for (const node of nodes) await node.start();
const leader = () => nodes.find((n) => n.role === "Leader");

if (mode === "write") {
  let next = 0;
  const client = async () => {
    for (;;) {
      const current = leader();
      if (!current) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const n = next++;
      try {
        const r = await current.propose({ n });
        console.log(`ack ${n} ${r.index} ${r.term}`);
      } catch {
        // Not acknowledged: the parent does not count it.
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, client));
} else {
  const l = await until(leader, { timeoutMs: 10_000 });
  // A fresh entry of the new term commits everything before it (§5.4.2).
  const marker = await l.propose({ n: -1 });
  await until(() => nodes.every((n) => n.lastApplied >= marker.index), {
    timeoutMs: 10_000,
  });
  const report = {
    nodes: Object.fromEntries(
      ids.map((
        id,
      ) => [id, applied.get(id)!.filter((e) => e.index < marker.index)]),
    ),
  };
  console.log(JSON.stringify(report));
  for (const node of nodes) await node.stop();
  for (const storage of storages) await storage.close();
}
