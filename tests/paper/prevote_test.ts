// PreVote and the leader lease (thesis §9.6, §4.2.3): a node that cannot
// win an election must not disrupt a healthy leader.
import assert from "node:assert/strict";
import type { NodeId } from "../../kernel/types.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import {
  appendEntries,
  assertElectionSafety,
  ofType,
  voteRequest,
} from "./_helpers.ts";

const THREE = ["a", "b", "c"];

interface Rejoin {
  cluster: CoreCluster;
  leader: NodeId;
  isolated: NodeId;
  term: number;
  isolatedTerm: number;
  campaigns: number;
  isolatedRole: string;
}

/** A follower is cut off for 2 s, then rejoins for 1 s. */
function rejoin(preVote: boolean, writeWhileAway: boolean): Rejoin {
  const cluster = new CoreCluster({
    voters: THREE,
    seed: 9,
    config: { preVote },
  });
  const leader = cluster.electLeader();
  const term = cluster.core(leader).term;
  const isolated = THREE.find((id) => id !== leader)!;
  cluster.partition([isolated], THREE.filter((id) => id !== isolated));
  // With a write it falls behind, and (pre-)votes fail on the log check
  // alone; without one only the leader lease stops it.
  if (writeWhileAway) cluster.propose(leader, "while-away");
  cluster.advance(2_000);
  const isolatedTerm = cluster.core(isolated).term;
  const isolatedRole = cluster.core(isolated).role;
  const campaigns =
    cluster.roleChanges.filter((c) => c.id === isolated && c.to === "Candidate")
      .length;
  cluster.heal();
  cluster.advance(1_000);
  return {
    cluster,
    leader,
    isolated,
    term,
    isolatedTerm,
    campaigns,
    isolatedRole,
  };
}

for (const writeWhileAway of [false, true]) {
  Deno.test(
    `§9.6 PreVote: an isolated node does not raise its term and does not disrupt the leader when it rejoins (${
      writeWhileAway ? "log behind" : "log up to date"
    })`,
    () => {
      const r = rejoin(true, writeWhileAway);
      assert.ok(r.campaigns >= 1, "it did campaign");
      assert.equal(r.isolatedRole, "Candidate", "still campaigning (PreVote)");
      assert.equal(r.isolatedTerm, r.term, "no term bump while isolated");
      assert.deepEqual(r.cluster.leaders(), [r.leader]);
      for (const id of THREE) {
        assert.equal(r.cluster.core(id).term, r.term, `${id} term`);
      }
      assert.equal(r.cluster.core(r.isolated).role, "Follower");
      assert.equal(r.cluster.core(r.isolated).leaderId, r.leader);
      assert.equal(
        r.cluster.core(r.isolated).commitIndex,
        writeWhileAway ? 2 : 1,
        "caught up",
      );
      const leaderChanges = r.cluster.roleChanges.filter((c) =>
        c.id === r.leader
      );
      assert.deepEqual(leaderChanges.map((c) => c.to), [
        "Candidate",
        "PreLeader",
        "Leader",
      ], "the leader never stepped down");
    },
  );
}

Deno.test("§9.6 without PreVote the same rejoin bumps the term and deposes the leader", () => {
  const r = rejoin(false, false);
  assert.ok(
    r.isolatedTerm >= r.term + 5,
    `isolated term ${r.isolatedTerm} vs ${r.term}`,
  );
  assert.ok(r.cluster.core(r.leader).term > r.term, "the cluster moved on");
  assert.ok(
    r.cluster.roleChanges.some((c) => c.id === r.leader && c.to === "Follower"),
    "the old leader stepped down",
  );
  assertElectionSafety(r.cluster);
});

/** A cluster whose followers heard from the leader just now. */
function leased(): {
  cluster: CoreCluster;
  leader: NodeId;
  voter: NodeId;
  rival: NodeId;
} {
  const cluster = new CoreCluster({ voters: THREE, seed: 9 });
  const leader = cluster.electLeader();
  cluster.advance(50); // a heartbeat round
  const [voter, rival] = THREE.filter((id) => id !== leader);
  cluster.filter = () => false;
  return { cluster, leader, voter, rival };
}

Deno.test("§4.2.3 leader lease: a follower that heard from the leader recently ignores a vote request of a higher term", () => {
  const { cluster, voter, rival, leader } = leased();
  const core = cluster.core(voter);
  const term = core.term;
  const log = {
    lastLogIndex: core.log.lastIndex,
    lastLogTerm: core.log.lastTerm,
  };
  cluster.deliver(voteRequest(rival, voter, { term: term + 1, ...log }));
  assert.equal(core.term, term, "term unchanged");
  assert.equal(core.votedFor, cluster.durable(voter).hardState.votedFor);
  assert.equal(core.leaderId, leader);
  assert.deepEqual(ofType(cluster.inFlight, "voteReply"), [], "no answer");
  // A PreVote is answered, with a refusal.
  cluster.deliver(
    voteRequest(rival, voter, { term: term + 1, preVote: true, ...log }),
  );
  const [pre] = ofType(cluster.inFlight, "voteReply");
  assert.equal(pre.granted, false);
  assert.equal(pre.preVote, true);
  assert.equal(core.term, term);
  // A transfer election (TimeoutNow, thesis §3.10) overrides the lease.
  cluster.deliver(
    voteRequest(rival, voter, { term: term + 1, transfer: true, ...log }),
  );
  const granted = ofType(cluster.inFlight, "voteReply").filter((m) =>
    !m.preVote
  );
  assert.equal(granted.length, 1);
  assert.equal(granted[0].granted, true);
  assert.equal(core.term, term + 1);
  assert.equal(core.votedFor, rival);
});

Deno.test("§4.2.3 leader lease: once the leader has been silent for an election timeout, the vote is granted", () => {
  const { cluster, voter, rival, leader } = leased();
  const core = cluster.core(voter);
  const term = core.term;
  const log = {
    lastLogIndex: core.log.lastIndex,
    lastLogTerm: core.log.lastTerm,
  };
  // A heartbeat arrives now; the lease runs for one election timeout.
  cluster.deliver(appendEntries(leader, voter, {
    term,
    prevLogIndex: core.log.lastIndex,
    prevLogTerm: core.log.lastTerm,
    leaderCommit: core.commitIndex,
  }));
  cluster.now += 149; // still inside the lease: no ticks, just time
  cluster.deliver(voteRequest(rival, voter, { term: term + 1, ...log }));
  assert.equal(core.term, term);
  cluster.now += 1; // 150 ms since the last heartbeat: lease over
  cluster.deliver(voteRequest(rival, voter, { term: term + 1, ...log }));
  assert.equal(core.term, term + 1);
  assert.equal(core.votedFor, rival);
  const replies = ofType(cluster.inFlight, "voteReply");
  assert.equal(ofType(cluster.inFlight, "appendReply").length, 1);
  assert.deepEqual(replies.map((m) => [m.to, m.granted, m.term]), [
    [rival, true, term + 1],
  ]);
});

Deno.test("§4.2.3 the leader's own lease comes from its plugin's holdsLease flag, not its name", () => {
  for (const holdsLease of [true, false]) {
    const cluster = new CoreCluster({
      voters: ["a", "b", "c"],
      seed: 3,
      config: { preVote: false },
      behaviors: () => {
        const registry = defaultBehaviors();
        registry.replace({ ...registry.get("Leader")!, holdsLease });
        return registry;
      },
    });
    const leader = cluster.electLeader();
    const rival = ["a", "b", "c"].find((id) => id !== leader)!;
    const core = cluster.core(leader);
    const term = core.term;
    cluster.deliver({
      v: 1,
      type: "vote",
      from: rival,
      to: leader,
      term: term + 1,
      lastLogIndex: core.log.lastIndex,
      lastLogTerm: core.log.lastTerm,
      preVote: false,
      transfer: false,
    });
    if (holdsLease) {
      assert.equal(core.role, "Leader", "the lease refuses the vote");
      assert.equal(core.term, term);
    } else {
      assert.equal(cluster.core(leader).role, "Follower", "no lease");
      assert.equal(cluster.core(leader).term, term + 1);
    }
  }
});
