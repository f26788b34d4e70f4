// Linearizable reads with ReadIndex (thesis §6.4): a read is served at the
// commit index the leader had when it arrived, once a majority has
// confirmed the leader is still the leader.
import assert from "node:assert/strict";
import type { Leadership } from "../../behaviors/_leadership.ts";
import { IsolatedLeaderError, NotLeaderError } from "../../kernel/errors.ts";
import type { NodeId } from "../../kernel/types.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { campaign, craftNode, failure, ofType } from "./_helpers.ts";

const THREE = ["a", "b", "c"];

Deno.test("§6.4 ReadIndex answers with the commit index at arrival once a majority confirmed a new heartbeat round", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 51 });
  const leader = cluster.electLeader();
  cluster.propose(leader, "x");
  cluster.advance(60);
  assert.equal(cluster.core(leader).commitIndex, 2);
  const [f1, f2] = THREE.filter((id) => id !== leader);

  cluster.filter = (m) => m.type !== "appendReply";
  const seqBefore = (cluster.core(leader).roleState as Leadership).readSeq;
  const read = cluster.read(leader);
  // A new round went out at once, to both followers.
  const round = ofType(cluster.inFlight, "append");
  assert.deepEqual(round.map((m) => [m.to, m.seq]).sort(), [
    [f1, seqBefore + 1],
    [f2, seqBefore + 1],
  ]);
  cluster.advance(100);
  assert.equal(cluster.outcome(read).status, "pending", "nobody confirmed");
  // A write commits meanwhile: the read still answers the index at arrival.
  cluster.filter = () => true;
  cluster.propose(leader, "y");
  cluster.filter = (m) => m.type !== "appendReply" || m.from === f1;
  cluster.settle();
  assert.deepEqual(cluster.outcome(read), { status: "read", index: 2 });
  assert.equal(cluster.core(leader).commitIndex, 3);
  // A later read sees the later commit index.
  const later = cluster.read(leader);
  cluster.settle();
  assert.deepEqual(cluster.outcome(later), { status: "read", index: 3 });
});

Deno.test("§6.4 a leader cut off from the majority never completes a read, even before it knows it is isolated", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 52 });
  const old = cluster.electLeader();
  cluster.advance(60);
  const others = THREE.filter((id) => id !== old);
  cluster.partition([old], others);
  const read = cluster.read(old);
  assert.equal(cluster.core(old).role, "Leader", "it still thinks it leads");
  let next: NodeId | undefined;
  let isolatedRead: number | undefined;
  for (let t = 0; t < 3_000; t += 10) {
    cluster.advance(10);
    assert.notEqual(cluster.outcome(read).status, "read", `at ${t} ms`);
    next ??= others.find((id) => cluster.core(id).role === "Leader");
    if (
      isolatedRead === undefined &&
      cluster.core(old).role === "IsolatedLeader"
    ) {
      isolatedRead = cluster.read(old);
    }
  }
  assert.ok(next, "the majority elected a leader");
  assert.ok(isolatedRead !== undefined, "the old leader became isolated");
  assert.ok(
    failure(cluster.outcome(isolatedRead)) instanceof IsolatedLeaderError,
  );
  // The majority writes; the old leader must never serve its old state.
  cluster.propose(next, "new");
  cluster.advance(60);
  // Still unanswered, or refused once the isolated leader stepped down.
  assert.notEqual(cluster.outcome(read).status, "read");
  cluster.heal();
  cluster.advance(200);
  const error = failure(cluster.outcome(read));
  assert.ok(error instanceof NotLeaderError, String(error));
});

Deno.test("§6.4 a PreLeader holds reads until its no-op commits, although a majority answers its heartbeats", () => {
  const cluster = new CoreCluster({
    voters: THREE,
    seed: 53,
    config: { maxEntriesPerAppend: 1 },
  });
  // a holds two entries of term 1 the others lack; maybe committed, maybe not.
  craftNode(cluster, "a", [1, 1, 1], 1);
  craftNode(cluster, "b", [1], 1);
  craftNode(cluster, "c", [1], 1);
  // Acks of the no-op (index 4) are lost; everything else gets through.
  cluster.filter = (m) =>
    !(m.type === "appendReply" && m.success && m.matchIndex >= 4);
  campaign(cluster, "a");
  cluster.settle();
  const a = cluster.core("a");
  assert.equal(a.role, "PreLeader");
  assert.equal(a.term, 2);
  assert.deepEqual(a.log.slice(4, 5).map((e) => [e.kind, e.term]), [
    ["noop", 2],
  ]);
  const read = cluster.read("a");
  cluster.advance(100);
  const state = a.roleState as Leadership;
  // b and c store index 3 and answer every heartbeat of this term ...
  for (const id of ["b", "c"]) {
    assert.equal(state.trackers.get(id)!.matchIndex, 3, id);
    assert.equal(state.trackers.get(id)!.ackedSeq, state.readSeq, id);
  }
  // ... but index 3 (term 1) is not known committed, so no read is served.
  assert.equal(a.commitIndex, 0);
  assert.equal(a.role, "PreLeader");
  assert.deepEqual(state.heldReads, [read]);
  assert.equal(cluster.outcome(read).status, "pending");

  cluster.filter = () => true;
  cluster.advance(150);
  assert.equal(a.role, "Leader");
  assert.equal(a.commitIndex, 4);
  assert.deepEqual(cluster.outcome(read), { status: "read", index: 4 });
});
