// Leadership transfer (thesis §3.10): stop accepting proposals, bring the
// target up to date, send TimeoutNow; fail on timeout or a bad target.
import assert from "node:assert/strict";
import {
  NotLeaderError,
  TransferFailedError,
  TransferInProgressError,
} from "../../kernel/errors.ts";
import type { NodeId } from "../../kernel/types.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { assertElectionSafety, failure, ofType } from "./_helpers.ts";

const THREE = ["a", "b", "c"];

function ready(
  nonVoters: NodeId[] = [],
): { cluster: CoreCluster; leader: NodeId; target: NodeId; other: NodeId } {
  const cluster = new CoreCluster({ voters: THREE, nonVoters, seed: 31 });
  const leader = cluster.electLeader();
  cluster.propose(leader, "x");
  cluster.advance(60);
  const [target, other] = THREE.filter((id) => id !== leader);
  return { cluster, leader, target, other };
}

function transferFailure(
  cluster: CoreCluster,
  requestId: number,
): TransferFailedError {
  const error = failure(cluster.outcome(requestId));
  assert.ok(error instanceof TransferFailedError, String(error));
  return error as TransferFailedError;
}

Deno.test("§3.10 transfer to an up-to-date follower: TimeoutNow at once, the target becomes Leader of the next term", () => {
  const { cluster, leader, target } = ready();
  const term = cluster.core(leader).term;
  const id = cluster.transfer(leader, target);
  assert.deepEqual(
    ofType(cluster.inFlight, "timeoutNow").map((m) => [m.from, m.to, m.term]),
    [[leader, target, term]],
    "sent right away",
  );
  cluster.settle();
  assert.deepEqual(cluster.outcome(id), { status: "done" });
  assert.deepEqual(cluster.leaders(), [target]);
  assert.equal(cluster.core(target).term, term + 1);
  assert.equal(cluster.core(leader).role, "Follower");
  assert.equal(cluster.core(leader).leaderId, target);
  assert.equal(cluster.core(leader).transfer, null);
  // The old leader now sends clients to the new one.
  const retry = cluster.propose(leader, "y");
  const error = failure(cluster.outcome(retry));
  assert.ok(error instanceof NotLeaderError);
  assert.equal((error as NotLeaderError).leaderId, target);
  assertElectionSafety(cluster);
});

Deno.test("§3.10 transfer to a lagging follower catches it up first, then sends TimeoutNow; proposals meanwhile get TransferInProgressError", () => {
  const { cluster, leader, target } = ready();
  // The target misses three entries.
  cluster.filter = (m) => m.to !== target;
  for (const command of ["p1", "p2", "p3"]) cluster.propose(leader, command);
  cluster.advance(60);
  const lastIndex = cluster.core(leader).log.lastIndex;
  assert.equal(lastIndex, 5);
  assert.equal(cluster.core(target).log.lastIndex, 2);

  const id = cluster.transfer(leader, target);
  assert.deepEqual(ofType(cluster.inFlight, "timeoutNow"), [], "not yet");
  assert.equal(cluster.core(leader).transfer?.target, target);
  const during = cluster.propose(leader, "during");
  const error = failure(cluster.outcome(during));
  assert.ok(error instanceof TransferInProgressError, String(error));
  assert.equal((error as TransferInProgressError).target, target);
  assert.equal(cluster.core(leader).log.lastIndex, lastIndex, "not appended");
  const second = cluster.transfer(leader, target);
  assert.ok(
    failure(cluster.outcome(second)) instanceof TransferInProgressError,
  );

  // Record what the target holds when TimeoutNow reaches it.
  const seen: string[] = [];
  cluster.filter = (m) => {
    if (m.to === target && m.type === "append" && m.entries.length > 0) {
      seen.push(`append ${m.entries.map((e) => e.index).join(",")}`);
    }
    if (m.type === "timeoutNow") {
      seen.push(`timeoutNow at ${cluster.core(target).log.lastIndex}`);
    }
    return true;
  };
  cluster.advance(150);
  assert.deepEqual(cluster.outcome(id), { status: "done" });
  assert.equal(seen.at(-1), `timeoutNow at ${lastIndex}`);
  assert.equal(seen.filter((s) => s.startsWith("timeoutNow")).length, 1);
  assert.ok(seen.length >= 2, "appends went first");
  assert.equal(
    cluster.leaders().join(),
    target,
    "the caught-up target won",
  );
  assert.deepEqual(
    cluster.core(target).log.slice(1, 6).map((e) => e.command),
    [null, "x", "p1", "p2", "p3"],
  );
  assertElectionSafety(cluster);
});

Deno.test("§3.10 a transfer to an unreachable target times out with TransferFailedError and proposals are accepted again", () => {
  const { cluster, leader, target, other } = ready();
  cluster.partition([leader, other], [target]);
  const term = cluster.core(leader).term;
  const id = cluster.transfer(leader, target);
  cluster.advance(290);
  assert.equal(cluster.outcome(id).status, "pending", "before the deadline");
  const refused = cluster.propose(leader, "refused");
  assert.ok(
    failure(cluster.outcome(refused)) instanceof TransferInProgressError,
  );
  cluster.advance(20); // transferTimeoutMs is 300
  const error = transferFailure(cluster, id);
  assert.equal(error.reason, "timeout");
  assert.equal(error.target, target);
  assert.equal(cluster.core(leader).transfer, null);
  assert.equal(cluster.core(leader).role, "Leader");
  assert.equal(cluster.core(leader).term, term);
  const accepted = cluster.propose(leader, "again");
  assert.equal(cluster.outcome(accepted).status, "accepted");
  cluster.advance(60);
  assert.equal(
    cluster.core(leader).commitIndex,
    cluster.core(leader).log.lastIndex,
  );
});

Deno.test("§3.10 a transfer to a non-voter or an unknown id fails with not-a-voter", () => {
  const { cluster, leader } = ready(["d"]);
  assert.equal(cluster.applied("d").length, 2, "the non-voter replicates");
  for (const target of ["d", "zz"]) {
    const id = cluster.transfer(leader, target);
    const error = transferFailure(cluster, id);
    assert.equal(error.reason, "not-a-voter");
    assert.equal(error.target, target);
    assert.equal(cluster.core(leader).transfer, null, "nothing in progress");
  }
  assert.deepEqual(ofType(cluster.inFlight, "timeoutNow"), []);
  const accepted = cluster.propose(leader, "still-leader");
  assert.equal(cluster.outcome(accepted).status, "accepted");
});

Deno.test("§3.10 a second transfer while one is in progress gets TransferInProgressError", () => {
  const { cluster, leader, target, other } = ready();
  cluster.partition([leader, other], [target]);
  const first = cluster.transfer(leader, target);
  const second = cluster.transfer(leader, other);
  const error = failure(cluster.outcome(second));
  assert.ok(error instanceof TransferInProgressError, String(error));
  assert.equal((error as TransferInProgressError).target, target);
  assert.equal(cluster.outcome(first).status, "pending");
  assert.equal(cluster.core(leader).transfer?.target, target);
});

Deno.test("§3.10 a lost TimeoutNow is sent again, so the transfer still completes", () => {
  const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 21 });
  const leader = cluster.electLeader();
  cluster.advance(100);
  const target = cluster.ids.find((id) => id !== leader)!;
  let dropped = 0;
  cluster.filter = (m) => {
    if (m.type === "timeoutNow" && dropped === 0) {
      dropped++;
      return false;
    }
    return true;
  };
  const request = cluster.transfer(leader, target);
  cluster.advance(200);
  assert.equal(dropped, 1);
  assert.equal(cluster.outcome(request).status, "done");
  assert.equal(cluster.core(target).role, "Leader");
});
