/**
 * The in-process demo (`deno task demo`): three nodes on a MemoryNetwork
 * elect a leader, write and read keys, lose the leader to a partition (it
 * turns IsolatedLeader and refuses writes), elect a new leader, heal, and
 * hand leadership back. Every role change is printed with a timestamp.
 * @module
 */
import {
  createNode,
  defaultBehaviors,
  IsolatedLeaderError,
  MemoryNetwork,
  MemoryStorage,
  type RaftNode,
} from "../mod.ts";
import { until } from "../kernel/async.ts";
import { type KvResult, KvStateMachine } from "./kv_state_machine.ts";

const started = performance.now();
const stamp = () =>
  `[${(performance.now() - started).toFixed(0).padStart(5)} ms]`;
const say = (text: string) => console.log(`${stamp()} ${text}`);

const ids = ["a", "b", "c"];
const net = new MemoryNetwork();
const machines = new Map<string, KvStateMachine>();
const nodes: RaftNode<KvResult>[] = ids.map((id) => {
  const machine = new KvStateMachine();
  machines.set(id, machine);
  const node = createNode<KvResult>({
    id,
    voters: ids,
    transport: net.connect(id),
    storage: new MemoryStorage(),
    stateMachine: machine,
    behaviors: defaultBehaviors(),
    electionTimeoutMs: 150,
    heartbeatMs: 50,
  });
  node.on("roleChange", (e) => {
    say(`${e.id}: ${e.from} -> ${e.to} (term ${e.term})`);
  });
  return node;
});
const leaderAmong = (group: RaftNode<KvResult>[]) =>
  group.find((n) => n.role === "Leader");

try {
  for (const node of nodes) await node.start();
  const first = await until(() => leaderAmong(nodes), { timeoutMs: 5000 });
  say(`leader elected: ${first.id} in term ${first.term}`);

  for (const [key, value] of [["x", "1"], ["y", "2"], ["z", "3"]]) {
    const { index } = await first.propose({ op: "put", key, value });
    say(`put ${key}=${value} committed at index ${index}`);
  }
  const readIndex = await first.readIndex();
  say(
    `linearizable read at index ${readIndex}: y=${
      machines.get(first.id)!.get("y")
    }`,
  );

  const others = nodes.filter((n) => n !== first);
  say(`partition: [${first.id}] | [${others.map((n) => n.id).join(", ")}]`);
  net.partition([first.id], others.map((n) => n.id));
  await until(() => first.role === "IsolatedLeader", { timeoutMs: 5000 });
  try {
    await first.propose({ op: "put", key: "x", value: "lost" });
    throw new Error("an isolated leader accepted a write");
  } catch (error) {
    if (!(error instanceof IsolatedLeaderError)) throw error;
    say(`${first.id} refuses writes: ${error.message}`);
  }

  const second = await until(() => leaderAmong(others), { timeoutMs: 5000 });
  say(`majority elected ${second.id} in term ${second.term}`);
  const { index } = await second.propose({ op: "put", key: "x", value: "10" });
  say(`put x=10 committed at index ${index} by ${second.id}`);

  say("heal the partition");
  net.heal();
  await until(
    () => first.role === "Follower" && first.lastApplied >= index,
    { timeoutMs: 5000 },
  );
  say(
    `${first.id} rejoined as Follower, x=${machines.get(first.id)!.get("x")}`,
  );

  say(`transfer leadership ${second.id} -> ${first.id}`);
  await second.transferLeadership(first.id);
  await until(() => first.role === "Leader", { timeoutMs: 5000 });
  const last = await first.propose({ op: "put", key: "done", value: "yes" });
  say(
    `${first.id} leads term ${first.term} again; put done=yes at ${last.index}`,
  );

  await until(() => nodes.every((n) => n.lastApplied >= last.index), {
    timeoutMs: 5000,
  });
  for (const id of ids) {
    const m = machines.get(id)!;
    say(`${id}: x=${m.get("x")} y=${m.get("y")} done=${m.get("done")}`);
  }
} finally {
  for (const node of nodes) await node.stop();
}
say("demo finished; all nodes stopped");
