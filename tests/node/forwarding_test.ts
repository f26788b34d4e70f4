// createNode with forwardProposals: propose on any member.
import assert from "node:assert/strict";
import { OutcomeUnknownError, StoppedError } from "../../mod.ts";
import { settle, startCluster } from "./_cluster.ts";

const FORWARDING = { forwardProposals: true, forwardTimeoutMs: 300 };

Deno.test("propose on a follower resolves with its own state machine's result once it applied the entry", async () => {
  const cluster = await startCluster({ nodeOptions: FORWARDING });
  try {
    const leader = await cluster.leader();
    await cluster.run(50);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    const outcome = await settle(cluster, follower.propose({ op: "via" }));
    assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
    const { index, term, result } = outcome.value;
    assert.equal(term, leader.term);
    assert.deepEqual(result, { applied: index }); // the follower's Recorder
    assert.ok(follower.lastApplied >= index);
    assert.deepEqual(cluster.machines.get(follower.id)!.applied.at(-1), {
      index,
      command: { op: "via" },
    });
    // Exactly one entry for it on every node.
    await cluster.runUntil(() =>
      [...cluster.nodes.values()].every((n) => n.lastApplied >= index)
    );
    for (const machine of cluster.machines.values()) {
      const copies = machine.applied.filter((a) =>
        JSON.stringify(a.command) === '{"op":"via"}'
      );
      assert.equal(copies.length, 1);
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("a forwarded proposal whose leader is cut off fails with OutcomeUnknownError, never as never-proposed", async () => {
  const cluster = await startCluster({ nodeOptions: FORWARDING });
  try {
    const leader = await cluster.leader();
    await cluster.run(50);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    // One-way: the follower's messages reach the leader, nothing comes back.
    cluster.net.setLinkFaults(leader.id, follower.id, { dropRate: 1 });
    const outcome = await settle(cluster, follower.propose({ op: "maybe" }));
    assert.ok(!outcome.ok);
    assert.ok(
      outcome.error instanceof OutcomeUnknownError,
      String(outcome.error),
    );
    assert.ok(!(outcome.error instanceof StoppedError));
  } finally {
    await cluster.stop();
  }
});

Deno.test("a follower stopped with a forwarded proposal outstanding reports its outcome as unknown", async () => {
  const cluster = await startCluster({ nodeOptions: FORWARDING });
  try {
    const leader = await cluster.leader();
    await cluster.run(50);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    cluster.net.partition([follower.id], [
      ...[...cluster.nodes.keys()].filter((id) => id !== follower.id),
    ]);
    // The partition drops the message, but the follower cannot know that.
    const pending = follower.propose({ op: "gone" });
    pending.catch(() => {});
    await cluster.run(10);
    await follower.stop();
    const error = await pending.then(() => null, (e: unknown) => e);
    assert.ok(error instanceof OutcomeUnknownError, String(error));
  } finally {
    await cluster.stop();
  }
});

Deno.test("readIndex on a follower (forwardReads) resolves once the follower applied every write acknowledged before it", async () => {
  const cluster = await startCluster({
    nodeOptions: { forwardReads: true, forwardTimeoutMs: 300 },
  });
  try {
    const leader = await cluster.leader();
    await cluster.run(50);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    const write = await settle(cluster, leader.propose({ op: "w" }));
    assert.ok(write.ok);
    const { index } = write.value;
    let appliedAtRead = -1;
    const read = follower.readIndex().then((at) => {
      appliedAtRead = follower.lastApplied;
      return at;
    });
    const outcome = await settle(cluster, read);
    assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
    assert.ok(outcome.value >= index);
    assert.ok(appliedAtRead >= index, "served from a state with the write");
  } finally {
    await cluster.stop();
  }
});
