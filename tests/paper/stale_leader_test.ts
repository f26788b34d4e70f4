// A deposed leader (§5.1, §5.3): it steps down when it sees a higher term,
// its uncommitted entries are replaced, and its clients learn exactly what
// happened to their requests.
import assert from "node:assert/strict";
import {
  IsolatedLeaderError,
  NotLeaderError,
  OutcomeUnknownError,
} from "../../kernel/errors.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import {
  assertElectionSafety,
  assertLogMatching,
  failure,
} from "./_helpers.ts";

const FIVE = ["a", "b", "c", "d", "e"];

Deno.test("§5.1 a partitioned old leader steps down on heal, its uncommitted entries are replaced and its proposals fail with OutcomeUnknownError", () => {
  const cluster = new CoreCluster({ voters: FIVE, seed: 21 });
  const old = cluster.electLeader();
  const oldTerm = cluster.core(old).term;
  const committed = cluster.propose(old, "before");
  cluster.advance(60);
  assert.equal(cluster.core(old).commitIndex, 2);
  const [buddy, ...majority] = FIVE.filter((id) => id !== old);

  // The old leader keeps one follower; the other three form a majority.
  cluster.partition([old, buddy], majority);
  const lost = [cluster.propose(old, "lost-1"), cluster.propose(old, "lost-2")];
  cluster.advance(20);
  for (const [i, id] of lost.entries()) {
    assert.deepEqual(cluster.outcome(id), {
      status: "accepted",
      index: 3 + i,
      term: oldTerm,
    });
  }
  assert.equal(cluster.core(buddy).log.lastIndex, 4, "buddy stored them");
  assert.equal(cluster.core(old).commitIndex, 2, "2 of 5 cannot commit");

  // The majority elects a leader of a newer term and commits there.
  let next = "";
  for (let t = 0; t < 3_000 && !next; t += 10) {
    cluster.advance(10);
    next = majority.find((id) => cluster.core(id).role === "Leader") ?? "";
  }
  assert.ok(next, "the majority elected a leader");
  const newTerm = cluster.core(next).term;
  assert.ok(newTerm > oldTerm);
  cluster.propose(next, "after-1");
  cluster.advance(60);
  assert.equal(cluster.core(next).commitIndex, 4, "no-op + after-1");
  // Meanwhile the old one only noticed it is cut off.
  assert.equal(cluster.core(old).role, "IsolatedLeader");
  assert.equal(cluster.core(old).term, oldTerm);
  const refused = cluster.propose(old, "never");
  assert.ok(failure(cluster.outcome(refused)) instanceof IsolatedLeaderError);
  assert.equal(cluster.core(old).log.lastIndex, 4, "never appended");
  for (const id of lost) assert.equal(cluster.outcome(id).status, "accepted");

  cluster.heal();
  cluster.advance(200);
  assert.equal(cluster.core(old).role, "Follower");
  assert.equal(cluster.core(old).term, newTerm);
  assert.equal(cluster.core(old).leaderId, next);
  for (const [i, id] of lost.entries()) {
    const error = failure(cluster.outcome(id));
    assert.ok(error instanceof OutcomeUnknownError, String(error));
    assert.equal((error as OutcomeUnknownError).index, 3 + i);
  }
  assert.equal(cluster.outcome(committed).status, "accepted");
  // Every log now holds the new leader's entries in place of lost-1/lost-2.
  const expected = cluster.core(next).log.slice(1, 5);
  assert.deepEqual(
    expected.map((e) => [e.term === oldTerm, e.command]),
    [[true, null], [true, "before"], [false, null], [false, "after-1"]],
  );
  for (const id of FIVE) {
    assert.deepEqual(cluster.core(id).log.slice(1, 5), expected, id);
    assert.deepEqual(cluster.durable(id).entries, expected, `${id} on disk`);
    assert.ok(
      cluster.applied(id).every((e) =>
        e.command !== "lost-1" && e.command !== "lost-2"
      ),
      `${id} never applied a lost entry`,
    );
  }
  assertElectionSafety(cluster);
  assertLogMatching(cluster);

  // A request to the deposed leader now was never appended: NotLeaderError
  // with a hint of the new leader.
  const retry = cluster.propose(old, "retry");
  const error = failure(cluster.outcome(retry));
  assert.ok(error instanceof NotLeaderError);
  assert.equal((error as NotLeaderError).leaderId, next);
  assert.equal(cluster.core(old).log.lastIndex, 4);
});

Deno.test("§5.1 a leader that receives a higher term from a follower's reply steps down at once", () => {
  const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 4 });
  const old = cluster.electLeader();
  const term = cluster.core(old).term;
  const follower = ["a", "b", "c"].find((id) => id !== old)!;
  const pending = cluster.propose(old, "x");
  // The follower has (somehow) moved on to a later term before the append.
  cluster.filter = () => false;
  cluster.crash(follower);
  cluster.durable(follower).hardState = { term: term + 3, votedFor: null };
  cluster.restart(follower);
  const append = cluster.inFlight.find((m) =>
    m.type === "append" && m.to === follower
  )!;
  cluster.deliver(append);
  const reply = cluster.inFlight.find((m) =>
    m.type === "appendReply" && m.from === follower
  )!;
  assert.equal(reply.term, term + 3);
  cluster.deliver(reply);
  assert.equal(cluster.core(old).role, "Follower");
  assert.equal(cluster.core(old).term, term + 3);
  assert.deepEqual(cluster.durable(old).hardState, {
    term: term + 3,
    votedFor: null,
  });
  assert.ok(failure(cluster.outcome(pending)) instanceof OutcomeUnknownError);
});
