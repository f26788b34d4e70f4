import assert from "node:assert/strict";
import {
  ConfigError,
  createNode,
  defaultBehaviors,
  IsolatedLeaderError,
  MemoryNetwork,
  MemoryStorage,
  NotLeaderError,
  OutcomeUnknownError,
  StoppedError,
  TransferFailedError,
} from "../../mod.ts";
import { settle, startCluster } from "./_cluster.ts";

Deno.test("a proposal resolves with the state machine's result after commit on every node", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    const outcome = await settle(cluster, leader.propose({ op: "x" }));
    assert.ok(outcome.ok);
    const { index, term, result } = outcome.value;
    assert.equal(term, leader.term);
    assert.deepEqual(result, { applied: index });
    await cluster.runUntil(() =>
      [...cluster.nodes.values()].every((n) => n.lastApplied >= index)
    );
    for (const machine of cluster.machines.values()) {
      assert.deepEqual(machine.applied.at(-1), { index, command: { op: "x" } });
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("a follower refuses proposals and reads with NotLeaderError naming the leader", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    await cluster.run(50);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    const p = await settle(cluster, follower.propose("nope"));
    assert.ok(!p.ok && p.error instanceof NotLeaderError);
    assert.equal((p.error as NotLeaderError).leaderId, leader.id);
    const r = await settle(cluster, follower.readIndex());
    assert.ok(!r.ok && r.error instanceof NotLeaderError);
  } finally {
    await cluster.stop();
  }
});

Deno.test("readIndex on the leader returns a commit index that is applied", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    const w = await settle(cluster, leader.propose("w"));
    assert.ok(w.ok);
    const r = await settle(cluster, leader.readIndex());
    assert.ok(r.ok);
    assert.ok(r.value >= w.value.index);
    assert.ok(leader.lastApplied >= r.value);
  } finally {
    await cluster.stop();
  }
});

Deno.test("Bug 6587: a proposal pending when the leader got isolated commits after heal in the same term", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    await cluster.run(40);
    const term = leader.term;
    const others = [...cluster.nodes.keys()].filter((id) => id !== leader.id);
    // Followers still hear the leader (so nobody campaigns) but their
    // answers are lost: the leader hears no majority.
    for (const id of others) {
      cluster.net.setLinkFaults(id, leader.id, { dropRate: 1 });
    }
    const pending = leader.propose({ op: "pending" });
    let settled = false;
    pending.then(() => settled = true, () => settled = true);
    await cluster.runUntil(() => leader.role === "IsolatedLeader", 1_000);
    assert.equal(settled, false, "the pending proposal must survive isolation");
    const refused = await settle(cluster, leader.propose("refused"));
    assert.ok(!refused.ok && refused.error instanceof IsolatedLeaderError);
    for (const id of others) cluster.net.setLinkFaults(id, leader.id, {});
    const outcome = await settle(cluster, pending, 2_000);
    assert.ok(
      outcome.ok,
      `pending proposal failed: ${
        String((outcome as { error?: unknown }).error)
      }`,
    );
    assert.equal(leader.role, "Leader");
    assert.equal(leader.term, term, "the leader kept its term");
    assert.equal(outcome.value.term, term);
  } finally {
    await cluster.stop();
  }
});

Deno.test("an isolated leader that loses its term fails its pending proposal with OutcomeUnknownError", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    await cluster.run(40);
    const others = [...cluster.nodes.keys()].filter((id) => id !== leader.id);
    cluster.net.partition([leader.id], others);
    const pending = leader.propose("doomed");
    await cluster.runUntil(() =>
      others.some((id) => cluster.node(id).role === "Leader")
    );
    assert.equal(leader.role, "IsolatedLeader");
    cluster.net.heal();
    const outcome = await settle(cluster, pending, 3_000);
    assert.ok(!outcome.ok && outcome.error instanceof OutcomeUnknownError);
    assert.equal(leader.role, "Follower");
  } finally {
    cluster.net.heal();
    await cluster.stop();
  }
});

Deno.test("transferLeadership hands leadership to the target", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    const target = [...cluster.nodes.keys()].find((id) => id !== leader.id)!;
    const outcome = await settle(cluster, leader.transferLeadership(target));
    assert.ok(outcome.ok);
    await cluster.runUntil(() => cluster.node(target).role === "Leader");
    assert.equal(leader.role, "Follower");
  } finally {
    await cluster.stop();
  }
});

Deno.test("stopping the leader aborts its transfer and fails pending proposals as outcome unknown", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    const others = [...cluster.nodes.keys()].filter((id) => id !== leader.id);
    cluster.net.partition([leader.id], others);
    const proposal = leader.propose("in flight");
    const transfer = leader.transferLeadership(others[0]);
    await cluster.run(4);
    const stopped = leader.stop();
    await assert.rejects(transfer, (e) => {
      assert.ok(e instanceof TransferFailedError);
      assert.equal(e.reason, "stopped");
      return true;
    });
    await assert.rejects(proposal, OutcomeUnknownError);
    await stopped;
    await assert.rejects(leader.propose("late"), StoppedError);
    await leader.stop(); // idempotent
  } finally {
    cluster.net.heal();
    await cluster.stop();
  }
});

Deno.test("a leader transfer to a non-voter is refused with TransferFailedError", async () => {
  const cluster = await startCluster({ nonVoters: ["d"] });
  try {
    const leader = await cluster.leader();
    const outcome = await settle(cluster, leader.transferLeadership("d"));
    assert.ok(!outcome.ok && outcome.error instanceof TransferFailedError);
    assert.equal((outcome.error as TransferFailedError).reason, "not-a-voter");
    assert.equal(leader.role, "Leader");
  } finally {
    await cluster.stop();
  }
});

Deno.test("events: subscribers see role changes, commits and applies; unsubscribe stops them", async () => {
  const cluster = await startCluster();
  try {
    const seen: string[] = [];
    const offs = [...cluster.nodes.values()].map((n) =>
      n.on("roleChange", (e) => seen.push(`${e.id}:${e.to}`))
    );
    const leader = await cluster.leader();
    assert.ok(seen.includes(`${leader.id}:Leader`));
    let commits = 0;
    let applied = 0;
    const offCommit = leader.on("commit", () => commits++);
    leader.on("apply", (e) => applied = e.lastApplied);
    const w = await settle(cluster, leader.propose("e"));
    assert.ok(w.ok);
    assert.ok(commits > 0);
    assert.equal(applied, w.value.index);
    offCommit();
    for (const off of offs) off();
    const before = commits;
    const count = seen.length;
    await settle(cluster, leader.propose("f"));
    assert.equal(commits, before);
    await settle(
      cluster,
      leader.transferLeadership(
        [...cluster.nodes.keys()].find((id) => id !== leader.id)!,
      ),
    );
    assert.equal(seen.length, count);
  } finally {
    await cluster.stop();
  }
});

Deno.test("createNode rejects bad options with ConfigError", () => {
  const net = new MemoryNetwork();
  const base = {
    id: "a",
    voters: ["a"],
    transport: net.connect("a"),
    storage: new MemoryStorage(),
    stateMachine: { apply: () => null },
    behaviors: defaultBehaviors(),
  };
  assert.throws(
    () => createNode({ ...base, heartbeatMs: 200, electionTimeoutMs: 100 }),
    ConfigError,
  );
  assert.throws(() => createNode({ ...base, id: "" }), ConfigError);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => createNode({ ...base, behaviors: undefined as any }),
    ConfigError,
  );
});

Deno.test("start rejects a node that is not a member, with ConfigError", async () => {
  const net = new MemoryNetwork();
  const node = createNode({
    id: "z",
    voters: ["a", "b"],
    transport: net.connect("z"),
    storage: new MemoryStorage(),
    stateMachine: { apply: () => null },
    behaviors: defaultBehaviors(),
  });
  await assert.rejects(node.start(), ConfigError);
  await node.stop();
});
