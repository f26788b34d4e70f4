import assert from "node:assert/strict";
import { blocklistFollower } from "../../examples/plugins/blocklist_follower.ts";
import { commitLoggingLeader } from "../../examples/plugins/commit_logging_leader.ts";
import { settle, startCluster } from "./_cluster.ts";

Deno.test("example plugin: a Leader that logs commits sees every commit index in order", async () => {
  const seen: number[] = [];
  const cluster = await startCluster({
    plugins: () => [commitLoggingLeader((index) => seen.push(index))],
  });
  try {
    const leader = await cluster.leader();
    const results = [];
    for (let i = 0; i < 5; i++) {
      const r = await settle(cluster, leader.propose({ i }));
      assert.ok(r.ok);
      results.push(r.value.index);
    }
    assert.ok(seen.length > 0);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(seen.at(-1), results.at(-1));
  } finally {
    await cluster.stop();
  }
});

Deno.test("example plugin: followers that block c never let c lead, though c campaigns", async () => {
  const cluster = await startCluster({
    seed: 3,
    plugins: (id) => id === "c" ? [] : [blocklistFollower(["c"])],
  });
  try {
    const leader = await cluster.leader();
    // Take the leader away: a and b are the only ones that can win.
    for (let round = 0; round < 5; round++) {
      const current = [...cluster.nodes.values()].find((n) =>
        n.role === "Leader"
      )!;
      const others = [...cluster.nodes.keys()].filter((id) =>
        id !== current.id
      );
      cluster.net.partition([current.id], others);
      await cluster.run(400);
      assert.notEqual(cluster.node("c").role, "Leader");
      cluster.net.heal();
      await cluster.run(200);
    }
    assert.notEqual(cluster.node("c").role, "Leader");
    assert.notEqual(leader.id, "c");
  } finally {
    await cluster.stop();
  }
});
