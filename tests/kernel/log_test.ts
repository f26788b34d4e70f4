// RaftLog: the follower side of AppendEntries (§5.3) and the fast back-off
// hint, case by case.
import assert from "node:assert/strict";
import { RaftLog } from "../../kernel/log.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import type { LogEntry } from "../../kernel/types.ts";

/** Entries of the given terms starting at `first`. */
function entries(first: number, ...terms: number[]): LogEntry[] {
  return terms.map((term, i) => ({
    index: first + i,
    term,
    kind: "command",
    command: `i${first + i}t${term}`,
  }));
}

function terms(log: RaftLog): number[] {
  return log.slice(log.firstIndex, log.lastIndex + 1).map((e) => e.term);
}

Deno.test("RaftLog.accept stores entries into an empty log", () => {
  const log = new RaftLog();
  const result = log.accept(0, 0, entries(1, 1, 1, 2));
  assert.deepEqual(result, {
    ok: true,
    matchIndex: 3,
    truncatedFrom: null,
    appended: entries(1, 1, 1, 2),
  });
  assert.deepEqual(terms(log), [1, 1, 2]);
  assert.equal(log.lastIndex, 3);
  assert.equal(log.lastTerm, 2);
  assert.equal(log.stableIndex, 0, "new entries are not durable yet");
});

Deno.test("RaftLog.accept: a heartbeat that matches changes nothing and reports prevLogIndex", () => {
  const log = new RaftLog(entries(1, 1, 1, 2));
  assert.deepEqual(log.accept(2, 1, []), {
    ok: true,
    matchIndex: 2,
    truncatedFrom: null,
    appended: [],
  });
  assert.deepEqual(terms(log), [1, 1, 2]);
});

Deno.test("RaftLog.accept rejects a prevLogIndex past the end with the index just past the end", () => {
  const log = new RaftLog(entries(1, 1, 1));
  assert.deepEqual(log.accept(5, 1, entries(6, 1)), {
    ok: false,
    hintIndex: 3,
    hintTerm: 0,
  });
  assert.deepEqual(terms(log), [1, 1]);
});

Deno.test("RaftLog.accept rejects a term mismatch with the first index of the conflicting term", () => {
  const log = new RaftLog(entries(1, 1, 2, 2, 2, 3));
  assert.deepEqual(log.accept(4, 4, entries(5, 4)), {
    ok: false,
    hintIndex: 2,
    hintTerm: 2,
  });
  assert.deepEqual(log.accept(5, 4, []), {
    ok: false,
    hintIndex: 5,
    hintTerm: 3,
  });
  assert.deepEqual(log.accept(1, 5, []), {
    ok: false,
    hintIndex: 1,
    hintTerm: 1,
  });
  assert.deepEqual(terms(log), [1, 2, 2, 2, 3], "unchanged");
});

Deno.test("RaftLog.accept truncates from the first conflicting entry only", () => {
  const log = new RaftLog(entries(1, 1, 1, 2, 2, 2));
  assert.equal(log.stableIndex, 5);
  const result = log.accept(1, 1, entries(2, 1, 3));
  assert.deepEqual(result, {
    ok: true,
    matchIndex: 3,
    truncatedFrom: 3,
    appended: entries(3, 3),
  });
  assert.deepEqual(terms(log), [1, 1, 3]);
  assert.equal(log.stableIndex, 2, "the durable prefix shrinks with it");
});

Deno.test("RaftLog.accept never truncates on a stale or duplicated message", () => {
  const log = new RaftLog(entries(1, 1, 1, 2, 2, 2));
  // The first three entries again: all match.
  assert.deepEqual(log.accept(0, 0, entries(1, 1, 1, 2)), {
    ok: true,
    matchIndex: 3,
    truncatedFrom: null,
    appended: [],
  });
  // A shorter suffix from the middle.
  assert.deepEqual(log.accept(3, 2, entries(4, 2)), {
    ok: true,
    matchIndex: 4,
    truncatedFrom: null,
    appended: [],
  });
  assert.deepEqual(terms(log), [1, 1, 2, 2, 2]);
  assert.equal(log.stableIndex, 5);
});

Deno.test("RaftLog.accept appends only the part past the end when a message overlaps", () => {
  const log = new RaftLog(entries(1, 1, 1, 2));
  const result = log.accept(1, 1, entries(2, 1, 2, 2, 3));
  assert.deepEqual(result, {
    ok: true,
    matchIndex: 5,
    truncatedFrom: null,
    appended: entries(4, 2, 3),
  });
  assert.deepEqual(terms(log), [1, 1, 2, 2, 3]);
});

Deno.test("RaftLog.accept skips what a snapshot covers and hints stop at the snapshot", () => {
  // Compacted up to 5 (term 2); entries 6 and 7 of term 3 remain.
  const log = new RaftLog(entries(6, 3, 3), 5, 2);
  assert.equal(log.firstIndex, 6);
  assert.equal(log.termAt(5), 2);
  assert.equal(log.termAt(4), undefined);
  const result = log.accept(3, 1, entries(4, 2, 2, 3, 3, 4));
  assert.deepEqual(result, {
    ok: true,
    matchIndex: 8,
    truncatedFrom: null,
    appended: entries(8, 4),
  });
  assert.deepEqual(terms(log), [3, 3, 4]);
  assert.deepEqual(log.accept(7, 9, []), {
    ok: false,
    hintIndex: 6,
    hintTerm: 3,
  });
});

Deno.test("RaftLog.markStable moves only forward and only for the entry it names", () => {
  const log = new RaftLog();
  log.accept(0, 0, entries(1, 1, 1, 2));
  log.markStable(2, 2); // index 2 has term 1: a stale notification
  assert.equal(log.stableIndex, 0);
  log.markStable(3, 2);
  assert.equal(log.stableIndex, 3);
  log.markStable(1, 1);
  assert.equal(log.stableIndex, 3);
});

Deno.test("RaftLog.appendOwn, entry, slice and compact", () => {
  const log = new RaftLog();
  const first = log.appendOwn(4, "noop", null);
  const second = log.appendOwn(4, "command", { op: "put" });
  assert.deepEqual(first, { index: 1, term: 4, kind: "noop", command: null });
  assert.equal(second.index, 2);
  assert.deepEqual(log.entry(2), second);
  assert.equal(log.entry(3), undefined);
  assert.deepEqual(log.slice(1, 3), [first, second]);
  assert.deepEqual(log.slice(2, 99), [second]);
  log.compact(1);
  assert.equal(log.snapshotIndex, 1);
  assert.equal(log.snapshotTerm, 4);
  assert.equal(log.entry(1), undefined);
  assert.deepEqual(log.slice(1, 3), [second]);
  log.compact(5); // beyond the end: ignored
  assert.equal(log.snapshotIndex, 1);
});

Deno.test("maxAppendBytes caps one AppendEntries by size but always sends one entry", () => {
  const cluster = new CoreCluster({
    voters: ["a", "b", "c"],
    seed: 41,
    config: { maxAppendBytes: 3_000 },
  });
  const leader = cluster.electLeader();
  const lagger = cluster.ids.find((id) => id !== leader)!;
  cluster.partition(cluster.ids.filter((id) => id !== lagger), [lagger]);
  for (let i = 0; i < 10; i++) cluster.propose(leader, "x".repeat(1_000));
  cluster.propose(leader, "y".repeat(5_000)); // larger than the cap alone
  cluster.settle();
  const sizes: number[] = [];
  cluster.filter = (m) => {
    if (m.type === "append" && m.to === lagger && m.entries.length > 0) {
      sizes.push(m.entries.length);
    }
    return true;
  };
  cluster.heal();
  cluster.advance(1_000);
  assert.ok(sizes.length > 0);
  assert.ok(Math.max(...sizes) <= 3, `batches of ${sizes.join(",")}`);
  assert.deepEqual(cluster.applied(lagger), cluster.applied(leader));
});
