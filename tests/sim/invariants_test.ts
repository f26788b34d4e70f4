// The invariant checker on hand-made histories: each property named after
// its section of the Raft paper fails on the smallest counterexample.
import assert from "node:assert/strict";
import { RaftLog } from "../../kernel/log.ts";
import type { LogEntry } from "../../kernel/types.ts";
import {
  InvariantChecker,
  type InvariantName,
  InvariantViolation,
  type NodeView,
} from "../../testing/mod.ts";

function entry(index: number, term: number, command = `c${index}`): LogEntry {
  return { index, term, kind: "command", command };
}

/** A log holding entries of `terms` from index 1. */
function log(...terms: number[]): RaftLog {
  return new RaftLog(terms.map((term, i) => entry(i + 1, term)));
}

function node(
  id: string,
  role: string,
  term: number,
  raftLog: RaftLog,
  commitIndex = 0,
): NodeView {
  return { id, role, term, log: raftLog, commitIndex };
}

function violates(invariant: InvariantName, action: () => void): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof InvariantViolation);
    assert.equal(error.invariant, invariant, error.message);
    return true;
  });
}

/** Stores `raftLog`'s entries as durable on `id`. */
function store(checker: InvariantChecker, id: string, raftLog: RaftLog): void {
  checker.durableEntries(id, raftLog.slice(1, raftLog.lastIndex + 1));
}

Deno.test("Election Safety (§5.2): two leaders of one term are caught", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  checker.observe(node("a", "Leader", 2, log(1, 2)));
  checker.observe(node("b", "Follower", 2, log(1, 2)));
  violates("Election Safety", () => {
    checker.observe(node("b", "IsolatedLeader", 2, log(1, 2)));
  });
});

Deno.test("Vote Safety (§5.2): a second vote in one term is caught", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  checker.durableHardState("a", { term: 3, votedFor: "a" });
  checker.voteGranted("a", 3, "a");
  violates("Vote Safety", () => checker.voteGranted("a", 3, "b"));
});

Deno.test("Log Matching (§5.3): one index and term with two commands is caught", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  const a = log(1, 1);
  checker.appended("a", a.slice(1, 3), a);
  const b = new RaftLog([entry(1, 1), entry(2, 1, "other")]);
  violates("Log Matching", () => checker.appended("b", b.slice(1, 3), b));
});

Deno.test("Leader Append-Only (§5.3): a leader overwriting its log is caught", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  const a = log(1, 2, 2);
  checker.observe(node("a", "Leader", 2, a));
  a.accept(1, 1, [entry(2, 1)]);
  violates("Leader Append-Only", () => {
    checker.observe(node("a", "Leader", 2, a));
  });
});

Deno.test("Commit Durability: a commit not stored on a majority is caught", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  const a = log(1, 1);
  store(checker, "a", a);
  violates("Commit Durability", () => {
    checker.observe(node("a", "Leader", 1, a, 2));
  });
});

Deno.test("Leader Completeness (§5.4, Figure 8): an unsafe commit is caught at once", () => {
  // Figure 8 (c): s1 leads term 4 with (2, t2) on s1, s2, s3; s5 holds
  // (2, t3). Counting replicas commits (2, t2), yet s5 can still win s2,
  // s3 and s4, which store nothing newer than term 2.
  const voters = ["s1", "s2", "s3", "s4", "s5"];
  const checker = new InvariantChecker({ voters });
  const old = log(1, 2);
  for (const id of ["s1", "s2", "s3"]) store(checker, id, old);
  store(checker, "s4", log(1));
  store(checker, "s5", log(1, 3));
  checker.observe(node("s5", "Follower", 4, log(1, 3)));
  violates("Leader Completeness", () => {
    checker.observe(node("s1", "PreLeader", 4, log(1, 2), 2));
  });
});

Deno.test("Leader Completeness (§5.4): a committed entry stays in later leaders", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  const committed = log(1, 1);
  for (const id of ["a", "b"]) store(checker, id, committed);
  store(checker, "c", log(1, 1));
  checker.observe(node("a", "Leader", 1, committed, 2));
  violates("Leader Completeness", () => {
    checker.observe(node("c", "PreLeader", 2, log(1)));
  });
});

Deno.test("State Machine Safety (§5.4.3): different applies at one index are caught", () => {
  const checker = new InvariantChecker({ voters: ["a"] });
  const a = log(1);
  store(checker, "a", a);
  checker.observe(node("a", "Leader", 1, a, 1));
  checker.applied("a", entry(1, 1));
  violates("State Machine Safety", () => checker.applied("b", entry(1, 2)));
  checker.stateAt("a", 1, "x=1");
  violates("State Machine Safety", () => checker.stateAt("b", 1, "x=2"));
});

Deno.test("Commit Monotonicity: a commit index going back is caught", () => {
  const checker = new InvariantChecker({ voters: ["a"] });
  const a = log(1, 1);
  store(checker, "a", a);
  checker.observe(node("a", "Leader", 1, a, 2));
  violates("Commit Monotonicity", () => {
    checker.observe(node("a", "Leader", 1, a, 1));
  });
  // After a crash the node starts over from what it stored.
  checker.crashed("a");
  checker.observe(node("a", "Follower", 1, a, 0));
});

Deno.test("Match Index Monotonicity (Figure 2): a leader forgetting a follower is caught", () => {
  const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
  const trackers = new Map([["b", { matchIndex: 4 }]]);
  const a = log(1, 1, 1, 1);
  checker.observe({ ...node("a", "Leader", 1, a), roleState: { trackers } });
  trackers.set("b", { matchIndex: 0 });
  violates("Match Index Monotonicity", () => {
    checker.observe({
      ...node("a", "IsolatedLeader", 1, a),
      roleState: { trackers },
    });
  });
});
