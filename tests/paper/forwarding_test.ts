// Proposal forwarding (option forwardProposals): a proposal made on a
// member that is not the leader goes to the leader, is appended once, and
// completes on the member when it applies that entry; every refusal means
// "never appended", a missing answer means "outcome unknown".
import assert from "node:assert/strict";
import {
  NotLeaderError,
  OutcomeUnknownError,
  TransferInProgressError,
} from "../../kernel/errors.ts";
import type { CoreConfig } from "../../kernel/behavior.ts";
import type { Message } from "../../kernel/messages.ts";
import type { NodeId } from "../../kernel/types.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { ProposalForwarder } from "../../kernel/_forwarding.ts";
import { seededRandom } from "../../kernel/random.ts";
import { failure, ofType } from "./_helpers.ts";

const THREE = ["a", "b", "c"];

function forwarding(
  config: Partial<CoreConfig> = { forwardProposals: true },
): {
  cluster: CoreCluster;
  leader: NodeId;
  follower: NodeId;
  other: NodeId;
} {
  const cluster = new CoreCluster({
    voters: THREE,
    seed: 5,
    config: { ...config, forwardTimeoutMs: 200 },
  });
  const leader = cluster.electLeader();
  cluster.advance(60); // every follower knows the leader
  const [follower, other] = THREE.filter((id) => id !== leader);
  return { cluster, leader, follower, other };
}

function commandsApplied(cluster: CoreCluster, id: NodeId): unknown[] {
  return cluster.applied(id).filter((e) => e.kind === "command").map((e) =>
    e.command
  );
}

Deno.test("a follower forwards a proposal; the leader appends it once and the follower applies it without waiting for a heartbeat", () => {
  const { cluster, leader, follower, other } = forwarding();
  const id = cluster.propose(follower, "x");
  const [propose] = ofType(cluster.inFlight, "propose");
  assert.equal(propose.from, follower);
  assert.equal(propose.to, leader);
  cluster.settle(); // no time passes: no heartbeat carries the commit
  const outcome = cluster.outcome(id);
  assert.equal(outcome.status, "accepted");
  const { index, term } = outcome as { index: number; term: number };
  assert.equal(term, cluster.core(leader).term);
  for (const member of [leader, follower]) {
    assert.deepEqual(commandsApplied(cluster, member), ["x"], member);
  }
  assert.deepEqual(cluster.applied(follower).at(-1), {
    index,
    term,
    kind: "command",
    command: "x",
  });
  // The third member learns the commit as usual, with the next heartbeat.
  assert.deepEqual(commandsApplied(cluster, other), []);
  cluster.advance(60);
  assert.deepEqual(commandsApplied(cluster, other), ["x"]);
});

Deno.test("a duplicated forwarded proposal is answered again, not appended twice", () => {
  const { cluster, leader, follower } = forwarding();
  const id = cluster.propose(follower, "once");
  const [propose] = ofType(cluster.inFlight, "propose");
  cluster.settle();
  cluster.deliver(propose); // the network repeats it
  cluster.settle();
  const replies = cluster.delivered.filter((m): m is Extract<
    Message,
    { type: "proposeReply" }
  > => m.type === "proposeReply");
  assert.equal(replies.length, 2);
  assert.equal(replies[0].index, replies[1].index);
  assert.equal(cluster.outcome(id).status, "accepted");
  cluster.advance(100);
  for (const member of THREE) {
    assert.deepEqual(commandsApplied(cluster, member), ["once"], member);
  }
  assert.equal(cluster.core(leader).role, "Leader");
});

Deno.test("a forwarded proposal refused by a transfer under way fails with TransferInProgressError and is never appended", () => {
  const { cluster, leader, follower, other } = forwarding();
  cluster.partition([leader, follower], [other]); // the target cannot catch up
  cluster.propose(leader, "pending"); // so the target lags
  cluster.advance(20);
  const transfer = cluster.transfer(leader, other);
  const id = cluster.propose(follower, "refused");
  cluster.settle();
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof TransferInProgressError, String(error));
  assert.equal((error as TransferInProgressError).target, other);
  assert.ok(
    cluster.core(leader).log.slice(1, cluster.core(leader).log.lastIndex + 1)
      .every((e) => e.command !== "refused"),
    "never appended",
  );
  assert.equal(cluster.outcome(transfer).status, "pending");
});

Deno.test("a proposal forwarded to a member that is not the leader fails with NotLeaderError naming the leader it knows", () => {
  const { cluster, leader, follower, other } = forwarding();
  // `follower` still believes in `other` as leader (a stale hint).
  const stale = cluster.core(follower);
  const id = cluster.propose(follower, "lost");
  const [propose] = ofType(cluster.inFlight, "propose");
  cluster.inFlight.length = 0;
  cluster.deliver({ ...propose, to: other });
  cluster.settle();
  const error = failure(cluster.outcome(id));
  // `other` is a follower: it refuses and points at the real leader. The
  // request only reached `other` because the test re-addressed it; the
  // refusal settles it all the same.
  assert.ok(error instanceof NotLeaderError, String(error));
  assert.equal((error as NotLeaderError).leaderId, leader);
  assert.equal(stale.role, "Follower");
});

Deno.test("a forwarded proposal with no answer fails with OutcomeUnknownError after forwardTimeoutMs", () => {
  const { cluster, leader, follower } = forwarding();
  cluster.crash(leader);
  const id = cluster.propose(follower, "maybe");
  cluster.advance(150);
  assert.equal(cluster.outcome(id).status, "pending");
  cluster.advance(100);
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof OutcomeUnknownError, String(error));
  assert.equal((error as OutcomeUnknownError).index, 0);
  assert.match(error.message, /forwarded proposal/);
});

Deno.test("without forwardProposals a follower refuses proposals with NotLeaderError", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 5 });
  const leader = cluster.electLeader();
  cluster.advance(60);
  const follower = THREE.find((id) => id !== leader)!;
  const id = cluster.propose(follower, "x");
  assert.equal(ofType(cluster.inFlight, "propose").length, 0);
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof NotLeaderError);
  assert.equal((error as NotLeaderError).leaderId, leader);
});

Deno.test("a forwarded proposal delivered late, in a newer term, is refused and never appended (simulator seed 493)", () => {
  const { cluster, leader, follower, other } = forwarding();
  const id = cluster.propose(follower, "late");
  const [propose] = ofType(cluster.inFlight, "propose");
  cluster.inFlight.length = 0; // the network holds it back
  // The same node leads again, in a newer term; then the old message arrives.
  const term = cluster.core(leader).term;
  cluster.transfer(leader, other);
  cluster.advance(50);
  cluster.transfer(other, leader);
  cluster.advance(50);
  assert.deepEqual(cluster.leaders(), [leader]);
  assert.ok(cluster.core(leader).term > term);
  cluster.deliver(propose);
  cluster.settle();
  cluster.advance(100);
  for (const member of THREE) {
    assert.deepEqual(commandsApplied(cluster, member), [], member);
  }
  // The proposal itself was answered: refused, or lost after the term moved.
  assert.notEqual(cluster.outcome(id).status, "accepted");
});

Deno.test("a duplicate of a refused forwarded proposal is refused again, even once the refusal no longer holds", () => {
  const { cluster, leader, follower, other } = forwarding();
  cluster.partition([leader, follower], [other]);
  cluster.propose(leader, "pending");
  cluster.advance(20);
  cluster.transfer(leader, other); // cannot finish: proposals are refused
  const id = cluster.propose(follower, "refused");
  const [propose] = ofType(cluster.inFlight, "propose");
  cluster.settle();
  assert.ok(failure(cluster.outcome(id)) instanceof TransferInProgressError);
  cluster.advance(400); // the transfer times out: proposals are taken again
  assert.equal(cluster.core(leader).transfer, null);
  const term = cluster.core(leader).term;
  cluster.deliver(propose); // the network repeats the old message
  cluster.settle();
  assert.equal(cluster.core(leader).term, term);
  const log = cluster.core(leader).log;
  assert.ok(
    log.slice(1, log.lastIndex + 1).every((e) => e.command !== "refused"),
    "never appended",
  );
});

const readForwarding = () => forwarding({ forwardReads: true });

Deno.test("§6.4 a follower read gets a read index confirmed by the leader and is served once the follower applied it", () => {
  const { cluster, leader, follower } = readForwarding();
  cluster.propose(leader, "w");
  cluster.settle(); // committed on the leader; the follower may lag
  const committed = cluster.core(leader).commitIndex;
  const id = cluster.read(follower);
  assert.equal(ofType(cluster.inFlight, "readIndex").length, 1);
  cluster.settle();
  const outcome = cluster.outcome(id);
  assert.deepEqual(outcome, { status: "read", index: committed });
  // The read round's heartbeat carried the commit: the follower can serve.
  assert.ok(cluster.core(follower).commitIndex >= committed);
  assert.deepEqual(commandsApplied(cluster, follower), ["w"]);
});

Deno.test("a read forwarded to a member that is not the leader is refused with NotLeaderError", () => {
  const { cluster, leader, follower, other } = readForwarding();
  const id = cluster.read(follower);
  const [request] = ofType(cluster.inFlight, "readIndex");
  cluster.inFlight.length = 0;
  cluster.deliver({ ...request, to: other });
  cluster.settle();
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof NotLeaderError, String(error));
  assert.equal((error as NotLeaderError).leaderId, leader);
});

Deno.test("a forwarded read with no answer fails with NotLeaderError after forwardTimeoutMs", () => {
  const { cluster, leader, follower } = readForwarding();
  cluster.crash(leader);
  const id = cluster.read(follower);
  cluster.advance(150);
  assert.equal(cluster.outcome(id).status, "pending");
  cluster.advance(100);
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof NotLeaderError, String(error));
  assert.match(error.message, /did not answer/);
});

Deno.test("a forwarded read is not served by a leader that cannot confirm its leadership", () => {
  const { cluster, leader, follower, other } = readForwarding();
  const id = cluster.read(follower);
  const [request] = ofType(cluster.inFlight, "readIndex");
  cluster.inFlight.length = 0;
  // The leader hears the request but no majority answers its round.
  cluster.partition([leader], [follower, other]);
  cluster.deliver(request);
  cluster.advance(10);
  assert.equal(cluster.outcome(id).status, "pending");
  assert.equal(ofType(cluster.inFlight, "readIndexReply").length, 0);
});

Deno.test("a late copy of an appended forwarded proposal gets the append as answer, even in a newer term (simulator seed 1572)", () => {
  const { cluster, leader, follower, other } = forwarding();
  const id = cluster.propose(follower, "kept");
  const [propose] = ofType(cluster.inFlight, "propose");
  // The answer is lost; the network keeps a copy of the proposal.
  cluster.filter = (m) => m.type !== "proposeReply";
  cluster.settle();
  cluster.filter = () => true;
  assert.equal(cluster.outcome(id).status, "pending");
  cluster.transfer(leader, other); // the term moves on
  cluster.advance(50);
  assert.notEqual(cluster.core(leader).role, "Leader");
  cluster.deliver(propose);
  cluster.settle();
  const outcome = cluster.outcome(id);
  assert.equal(outcome.status, "accepted", JSON.stringify(outcome));
  cluster.advance(100);
  for (const member of THREE) {
    assert.deepEqual(commandsApplied(cluster, member), ["kept"], member);
  }
});

Deno.test("a leader that restarted cannot vouch for its old term: a late copy is answered outcome unknown, not never-appended", () => {
  const { cluster, leader, follower } = forwarding();
  const id = cluster.propose(follower, "maybe");
  const [propose] = ofType(cluster.inFlight, "propose");
  cluster.filter = (m) => m.type !== "proposeReply";
  cluster.settle();
  cluster.filter = () => true;
  cluster.crash(leader);
  cluster.restart(leader); // memory of its answers is gone; same term
  cluster.deliver(propose);
  cluster.settle();
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof OutcomeUnknownError, String(error));
  assert.match(error.message, /cannot tell whether an earlier copy/);
});

Deno.test("an appended forwarded proposal on a member cut off from every leader fails as outcome unknown instead of waiting for the heal", () => {
  const { cluster, follower } = forwarding();
  // The answer arrives, but no AppendEntries that would carry the commit.
  cluster.filter = (m) => !(m.type === "append" && m.to === follower);
  const id = cluster.propose(follower, "cut");
  cluster.settle();
  assert.equal(cluster.outcome(id).status, "accepted");
  const others = THREE.filter((m) => m !== follower);
  cluster.partition([follower], others);
  cluster.filter = () => true;
  const term = cluster.core(follower).term;
  cluster.advance(200);
  assert.equal(cluster.outcome(id).status, "accepted", "still waiting");
  cluster.advance(200); // past twice the election timeout without a leader
  assert.equal(cluster.core(follower).term, term, "PreVote kept the term");
  const error = failure(cluster.outcome(id));
  assert.ok(error instanceof OutcomeUnknownError, String(error));
  assert.match(error.message, /no leader was heard from/);
});

Deno.test("a member restarted with the same seeded randomness and clock starts a new forwarding session", () => {
  const sessions = [1, 2].map(() => {
    const sent: Message[] = [];
    const forwarder = new ProposalForwarder({
      send: (m) => sent.push(m as Message),
      random: seededRandom(7).next,
      now: () => 1_000,
    });
    forwarder.forward({ type: "propose", id: 1, command: "x" }, "a", 2_000);
    return (sent[0] as Extract<Message, { type: "propose" }>).session;
  });
  assert.notEqual(sessions[0], sessions[1]);
});
