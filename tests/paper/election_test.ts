// Leader election (§5.2) and the election restriction (§5.4.1).
import assert from "node:assert/strict";
import { RaftCore } from "../../kernel/core.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { runChaos } from "./_chaos.ts";
import {
  assertElectionSafety,
  campaign,
  craftNode,
  forEachSeed,
  LEADER_ROLES,
  leadersByTerm,
  ofType,
  replaySeed,
  voteRequest,
} from "./_helpers.ts";

const THREE = ["a", "b", "c"];
const FIVE = ["a", "b", "c", "d", "e"];

Deno.test("§5.2 election safety: at most one leader per term (200 seeds of partitions, drops, delays, duplicates, crashes)", () => {
  let terms = 0;
  let leaderTerms = 0;
  forEachSeed(200, (seed) => {
    const { cluster, down } = runChaos({
      voters: seed % 2 === 0 ? THREE : FIVE,
      seed,
      steps: 60,
      propose: true,
    });
    const byTerm = leadersByTerm(cluster);
    leaderTerms += byTerm.size;
    terms += Math.max(...cluster.ids.map((id) => cluster.core(id).term));
    // Once every fault is gone the cluster elects a leader again (liveness).
    cluster.filter = () => true;
    cluster.heal();
    for (const id of down) cluster.restart(id);
    cluster.advance(100);
    const leader = cluster.electLeader(5_000);
    cluster.advance(200);
    assertElectionSafety(cluster);
    const term = cluster.core(leader).term;
    for (const id of cluster.ids) {
      assert.equal(
        cluster.core(id).term,
        term,
        `${id} is in the leader's term`,
      );
      if (id !== leader) assert.equal(cluster.core(id).role, "Follower");
    }
  });
  // The schedule really produced contested elections, not one quiet term
  // (573 leader terms in 702 terms when written).
  if (replaySeed() === undefined) {
    assert.ok(leaderTerms > 400, `only ${leaderTerms} leader terms`);
    assert.ok(terms > leaderTerms, "some terms ended without a leader");
  }
});

for (const ids of [THREE, FIVE]) {
  Deno.test(`§5.2 a leader is elected in a ${ids.length}-node cluster and every follower learns it`, () => {
    const cluster = new CoreCluster({ voters: ids, seed: 11 });
    const leader = cluster.electLeader(2_000);
    cluster.advance(60); // one heartbeat
    const term = cluster.core(leader).term;
    assert.equal(term, 1, "PreVote keeps the first election at term 1");
    assert.deepEqual(cluster.leaders(), [leader]);
    for (const id of ids) {
      const core = cluster.core(id);
      assert.equal(core.term, term);
      assert.equal(core.leaderId, leader, `${id} knows the leader`);
      if (id !== leader) assert.equal(core.role, "Follower");
    }
    // The no-op of the new term is committed everywhere.
    for (const id of ids) {
      assert.equal(cluster.core(id).commitIndex, 1, `${id} commitIndex`);
      assert.equal(cluster.applied(id)[0]?.kind, "noop");
    }
  });
}

Deno.test("§5.2 split votes resolve: a term without a winner is followed by one with a single leader", () => {
  const ids = ["a", "b", "c", "d"];
  const cluster = new CoreCluster({ voters: ids, seed: 3 });
  // a's requests reach only b, c's only d: 2 of 4 votes each, no majority.
  cluster.filter = (m) =>
    m.type !== "vote" || (m.from === "a" && m.to === "b") ||
    (m.from === "c" && m.to === "d");
  campaign(cluster, "a");
  campaign(cluster, "c");
  cluster.settle();
  assert.equal(cluster.core("a").role, "Candidate");
  assert.equal(cluster.core("c").role, "Candidate");
  assert.equal(cluster.core("a").term, 1);
  assert.equal(cluster.core("c").term, 1);
  assert.equal(cluster.core("b").votedFor, "a");
  assert.equal(cluster.core("d").votedFor, "c");
  assert.equal(leadersByTerm(cluster).get(1), undefined, "nobody won term 1");
  cluster.filter = () => true;
  const leader = cluster.electLeader(3_000);
  assert.ok(cluster.core(leader).term >= 2, "a later term resolved it");
  cluster.advance(100);
  assert.deepEqual(cluster.leaders(), [leader]);
  assertElectionSafety(cluster);
});

Deno.test("§5.2 a vote is persisted before the vote reply leaves", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 5 });
  cluster.filter = () => false; // nothing moves unless delivered by hand
  assert.equal(cluster.durable("b").hardState.votedFor, null);
  cluster.deliver(voteRequest("a", "b", { term: 1 }));
  const replies = ofType(cluster.inFlight, "voteReply");
  assert.equal(replies.length, 1);
  assert.equal(replies[0].granted, true);
  assert.equal(replies[0].term, 1);
  // The reply is out, so the vote must already be on disk.
  assert.deepEqual(cluster.durable("b").hardState, { term: 1, votedFor: "a" });

  // The same contract at the core: the reply waits in `messages` (sent after
  // the persist), never in `eagerMessages`, and the Ready carries the vote.
  const core = new RaftCore({
    id: "b",
    voters: THREE,
    behaviors: defaultBehaviors(),
  });
  core.takeReady();
  core.step(
    { type: "message", message: voteRequest("c", "b", { term: 4 }) },
    0,
  );
  core.flush();
  const ready = core.takeReady();
  assert.deepEqual(ready.hardState, { term: 4, votedFor: "c" });
  assert.deepEqual(ready.eagerMessages, []);
  assert.deepEqual(
    ready.messages.map((
      m,
    ) => [m.type, m.to, m.term, (m as { granted?: boolean }).granted]),
    [["voteReply", "c", 4, true]],
  );
});

Deno.test("§5.2 a restarted node keeps its vote and does not vote twice in a term", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 5 });
  cluster.filter = () => false;
  cluster.deliver(voteRequest("a", "b", { term: 2 }));
  assert.equal(cluster.core("b").votedFor, "a");
  cluster.crash("b");
  cluster.restart("b");
  assert.equal(cluster.core("b").term, 2);
  assert.equal(
    cluster.core("b").votedFor,
    "a",
    "the vote survived the restart",
  );
  cluster.inFlight.length = 0;
  cluster.deliver(voteRequest("c", "b", { term: 2 }));
  const replies = ofType(cluster.inFlight, "voteReply");
  assert.equal(replies.length, 1);
  assert.equal(replies[0].granted, false, "second vote in term 2 refused");
  assert.equal(cluster.core("b").votedFor, "a");
  assert.deepEqual(cluster.durable("b").hardState, { term: 2, votedFor: "a" });
  // The same candidate asking again is answered yes (a retried request).
  cluster.inFlight.length = 0;
  cluster.deliver(voteRequest("a", "b", { term: 2 }));
  assert.equal(ofType(cluster.inFlight, "voteReply")[0].granted, true);
});

Deno.test("§5.4.1 a candidate whose log is less up to date is refused", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 5 });
  cluster.filter = () => false;
  craftNode(cluster, "b", [1, 1, 2], 2);
  const cases = [
    { lastLogTerm: 1, lastLogIndex: 5, granted: false }, // older last term
    { lastLogTerm: 2, lastLogIndex: 2, granted: false }, // same term, shorter
    { lastLogTerm: 2, lastLogIndex: 3, granted: true }, // equal
  ];
  let term = 3;
  for (const c of cases) {
    cluster.inFlight.length = 0;
    cluster.deliver(voteRequest("a", "b", { term, ...c }));
    const reply = ofType(cluster.inFlight, "voteReply")[0];
    assert.equal(reply.granted, c.granted, JSON.stringify(c));
    assert.equal(cluster.core("b").votedFor, c.granted ? "a" : null);
    assert.equal(cluster.core("b").term, term, "the term moves on anyway");
    term++;
  }
  // A longer log of a newer last term is up to date even though shorter.
  cluster.inFlight.length = 0;
  cluster.deliver(
    voteRequest("c", "b", { term, lastLogTerm: 3, lastLogIndex: 1 }),
  );
  assert.equal(ofType(cluster.inFlight, "voteReply")[0].granted, true);
});

Deno.test("§5.4.1 a node that missed committed entries never becomes leader (20 seeds)", () => {
  forEachSeed(20, (seed) => {
    const cluster = new CoreCluster({ voters: THREE, seed });
    const first = cluster.electLeader();
    const [other, stale] = THREE.filter((id) => id !== first);
    cluster.partition([first, other], [stale]);
    for (let i = 0; i < 3; i++) cluster.propose(first, `x${i}`);
    cluster.advance(100);
    assert.equal(cluster.core(first).commitIndex, 4);
    assert.ok(cluster.core(stale).log.lastIndex < 4);
    // The leader dies; the stale node and the up-to-date one remain.
    cluster.crash(first);
    cluster.heal();
    const before = cluster.roleChanges.length;
    const next = cluster.electLeader(5_000);
    assert.equal(next, other, "only the up-to-date node can win");
    const staleWon = cluster.roleChanges.slice(before).some((c) =>
      c.id === stale && LEADER_ROLES.has(c.to)
    );
    assert.equal(staleWon, false);
    assert.equal(cluster.core(next).log.termAt(4), cluster.core(first).term);
  });
});
