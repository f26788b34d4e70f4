// Non-voting members (thesis §4.2.1 "learners"): they receive and apply the
// log but never campaign, never vote and never count toward a quorum.
import assert from "node:assert/strict";
import type { Leadership } from "../../behaviors/_leadership.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { campaign, failure, ofType, voteRequest } from "./_helpers.ts";
import { NotLeaderError } from "../../kernel/errors.ts";

const VOTERS = ["a", "b", "c"];
const NON_VOTERS = ["d", "e"];

function cluster(seed = 41): CoreCluster {
  return new CoreCluster({ voters: VOTERS, nonVoters: NON_VOTERS, seed });
}

Deno.test("§4.2.1 non-voters receive the log and apply it", () => {
  const c = cluster();
  const leader = c.electLeader();
  assert.ok(VOTERS.includes(leader));
  for (const command of ["x", "y"]) c.propose(leader, command);
  c.advance(60);
  for (const id of NON_VOTERS) {
    assert.equal(c.core(id).role, "Follower");
    assert.equal(c.core(id).leaderId, leader);
    assert.deepEqual(c.applied(id).map((e) => e.command), [null, "x", "y"]);
    assert.deepEqual(c.durable(id).entries, c.durable(leader).entries);
  }
  // A proposal sent to a non-voter is refused with a hint.
  const refused = c.propose("d", "z");
  const error = failure(c.outcome(refused));
  assert.ok(error instanceof NotLeaderError);
  assert.equal((error as NotLeaderError).leaderId, leader);
});

Deno.test("§4.2.1 non-voters never start an election, even with every voter gone", () => {
  const c = cluster();
  const leader = c.electLeader();
  c.advance(60);
  const term = c.core(leader).term;
  const before = c.delivered.length;
  for (const id of VOTERS) c.crash(id);
  c.advance(5_000);
  for (const id of NON_VOTERS) {
    assert.equal(c.core(id).role, "Follower");
    assert.equal(c.core(id).term, term);
    assert.equal(c.core(id).votedFor, null);
  }
  const sent = c.inFlight.concat(c.delivered.slice(before))
    .filter((m) => NON_VOTERS.includes(m.from));
  assert.deepEqual(sent, [], "not even a PreVote");
  assert.equal(
    c.roleChanges.some((ch) => NON_VOTERS.includes(ch.id)),
    false,
  );
  // A TimeoutNow does not make a non-voter campaign either.
  campaign(c, "d");
  assert.equal(c.core("d").role, "Follower");
  assert.equal(c.core("d").term, term);
});

Deno.test("§4.2.1 non-voters never count toward commit: with two of three voters down nothing commits although both non-voters ack", () => {
  const c = cluster();
  const leader = c.electLeader();
  c.advance(60);
  const commitIndex = c.core(leader).commitIndex;
  for (const id of VOTERS.filter((id) => id !== leader)) c.crash(id);
  const id = c.propose(leader, "needs-a-voter");
  c.advance(40);
  const index = commitIndex + 1;
  assert.deepEqual(c.outcome(id), {
    status: "accepted",
    index,
    term: c.core(leader).term,
  });
  const leadership = c.core(leader).roleState as Leadership;
  for (const nv of NON_VOTERS) {
    assert.equal(c.core(nv).log.lastIndex, index, `${nv} stored it`);
    assert.equal(leadership.trackers.get(nv)!.matchIndex, index, `${nv} acked`);
  }
  // Leader + two non-voters are 3 of 5 members, but 1 of 3 voters.
  assert.equal(c.core(leader).commitIndex, commitIndex);
  c.advance(500);
  assert.equal(c.core(leader).commitIndex, commitIndex);
  assert.equal(c.core(leader).role, "IsolatedLeader", "no voter majority");
  for (const nv of NON_VOTERS) {
    assert.equal(c.applied(nv).length, commitIndex);
  }
  // One voter back: now it commits.
  const back = VOTERS.find((v) => v !== leader)!;
  c.restart(back);
  c.advance(100);
  assert.equal(c.core(leader).commitIndex, index);
  assert.equal(c.core(leader).role, "Leader");
});

Deno.test("§4.2.1 non-voters never vote and their answers are not counted", () => {
  const c = cluster();
  c.filter = () => false;
  c.deliver(voteRequest("a", "d", { term: 1 }));
  const [reply] = ofType(c.inFlight, "voteReply");
  assert.equal(reply.granted, false);
  assert.equal(c.core("d").votedFor, null);
  assert.equal(c.durable("d").hardState.votedFor, null);
  // A candidate never even asks them; a forged grant does not count.
  campaign(c, "a");
  const asked = ofType(c.inFlight, "vote").filter((m) => m.from === "a")
    .map((m) => m.to).sort();
  assert.deepEqual(asked, ["b", "c"]);
  const term = c.core("a").term;
  for (const from of NON_VOTERS) {
    c.deliver({
      v: 1,
      type: "voteReply",
      from,
      to: "a",
      term,
      granted: true,
      preVote: false,
    });
  }
  assert.equal(c.core("a").role, "Candidate", "3 of 5 members but 1 voter");
  // A candidate cut off with the non-voters never wins.
  c.filter = () => true;
  c.partition(["a", ...NON_VOTERS], ["b", "c"]);
  c.advance(3_000);
  assert.notEqual(c.core("a").role, "Leader");
  assert.equal(
    c.roleChanges.some((ch) => ch.id === "a" && ch.to === "PreLeader"),
    false,
  );
});
