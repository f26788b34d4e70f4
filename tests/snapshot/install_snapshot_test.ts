import assert from "node:assert/strict";
import type { FollowerTracker, Leadership } from "../../mod.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import type { Message } from "../../kernel/messages.ts";

function advanceUntil(cluster: CoreCluster, done: () => boolean): void {
  for (let t = 0; t < 2_000 && !done(); t += 5) cluster.advance(5);
  assert.ok(done(), "condition not reached in 2 s of virtual time");
}

function lagging(seed: number, config = {}) {
  const cluster = new CoreCluster({
    voters: ["a", "b", "c"],
    seed,
    config: { trailingEntries: 2, snapshotChunkBytes: 64, ...config },
  });
  const leader = cluster.electLeader();
  const lagger = cluster.ids.find((id) => id !== leader)!;
  cluster.partition(cluster.ids.filter((id) => id !== lagger), [lagger]);
  for (let i = 0; i < 40; i++) cluster.propose(leader, { i });
  cluster.settle();
  cluster.advance(50);
  cluster.takeSnapshot(leader);
  return { cluster, leader, lagger };
}

Deno.test("§7 a follower behind the leader's compacted log gets the snapshot in chunks and ends identical", () => {
  const { cluster, leader, lagger } = lagging(11);
  const chunks: Message[] = [];
  cluster.filter = (m) => {
    if (m.type === "snapshot") chunks.push(m);
    return true;
  };
  cluster.heal();
  cluster.advance(300);
  assert.ok(chunks.length > 3, `${chunks.length} chunks`);
  assert.deepEqual(cluster.applied(lagger), cluster.applied(leader));
  assert.equal(
    cluster.durable(lagger).snapshot?.index,
    cluster.core(leader).snapshot?.index,
  );
});

Deno.test("§7 lost and duplicated chunks resume from the follower's offset instead of restarting", () => {
  const { cluster, leader, lagger } = lagging(12);
  let sent = 0;
  const offsets: number[] = [];
  cluster.filter = (m) => {
    if (m.type !== "snapshot") return true;
    offsets.push(m.offset);
    sent++;
    return sent % 3 !== 0; // lose every third chunk
  };
  cluster.heal();
  cluster.advance(2_000);
  assert.deepEqual(cluster.applied(lagger), cluster.applied(leader));
  // After a loss the same offset is sent again, never offset 0 again.
  const restarts = offsets.filter((o, i) => i > 0 && o === 0).length;
  assert.equal(restarts, 0);
});

Deno.test("the leader does not compact past a snapshot it is still sending", () => {
  const { cluster, leader, lagger } = lagging(13);
  // Let exactly the first chunk through, then hold the rest.
  let passed = 0;
  cluster.filter = (m) => m.type !== "snapshot" || passed++ < 1;
  cluster.heal();
  const state = cluster.core(leader).roleState as Leadership;
  const tracker = state.trackers.get(lagger) as FollowerTracker;
  advanceUntil(cluster, () => tracker.state === "snapshot");
  assert.equal(tracker.state, "snapshot");
  const sending = tracker.sending!.snapshot.index;
  for (let i = 0; i < 30; i++) cluster.propose(leader, { more: i });
  cluster.settle();
  cluster.takeSnapshot(leader);
  assert.ok(
    cluster.core(leader).log.snapshotIndex <= sending,
    "the entries right after the snapshot in transfer are kept",
  );
  cluster.filter = () => true;
  cluster.advance(1_000);
  assert.deepEqual(cluster.applied(lagger), cluster.applied(leader));
});

Deno.test("a snapshot transfer is kept across Leader -> IsolatedLeader -> Leader (Bug 6587)", () => {
  const { cluster, leader, lagger } = lagging(14);
  let passed = 0;
  cluster.filter = (m) => m.type !== "snapshot" || passed++ < 2;
  cluster.heal();
  const state = cluster.core(leader).roleState as Leadership;
  const before = state.trackers.get(lagger)!;
  advanceUntil(
    cluster,
    () => before.state === "snapshot" && before.sending!.offset > 0,
  );
  assert.equal(before.state, "snapshot");
  const offset = before.sending!.offset;
  assert.ok(offset > 0);
  // Drop every answer to the leader until it isolates, then heal.
  cluster.filter = (m) => m.to !== leader;
  cluster.advance(400);
  assert.equal(cluster.core(leader).role, "IsolatedLeader");
  cluster.filter = () => true;
  cluster.advance(50);
  assert.equal(cluster.core(leader).role, "Leader");
  const after = (cluster.core(leader).roleState as Leadership).trackers.get(
    lagger,
  );
  assert.equal(after, before, "the same tracker object survived");
  cluster.advance(1_000);
  assert.deepEqual(cluster.applied(lagger), cluster.applied(leader));
});

Deno.test("§7 chunks of the same snapshot index from two leaders are never spliced together", () => {
  const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 31 });
  cluster.partition(["a"], ["b"], ["c"]); // nothing but what we deliver
  const chunk = (from: string, term: number, offset: number, bytes: number[]) =>
    ({
      v: 1,
      type: "snapshot",
      term,
      from,
      to: "c",
      lastIncludedIndex: 10,
      lastIncludedTerm: 1,
      offset,
      total: 4,
      data: btoa(String.fromCharCode(...bytes)),
      done: offset + bytes.length === 4,
      voters: ["a", "b", "c"],
      nonVoters: [],
    }) as Message;
  cluster.deliver(chunk("a", 1, 0, [1, 1]));
  cluster.deliver(chunk("b", 2, 2, [9, 9]));
  assert.equal(cluster.durable("c").snapshot ?? null, null);
  const answer = cluster.inFlight.filter((m) => m.type === "snapshotReply")
    .at(-1) as Extract<Message, { type: "snapshotReply" }>;
  assert.equal(answer.to, "b");
  assert.equal(answer.offset, 0, "b must start over from byte 0");
  assert.equal(answer.done, false);
});
