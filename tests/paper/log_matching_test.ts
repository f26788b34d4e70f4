// Log replication (§5.3): the Fig. 7 repair, fast back-off, and the Log
// Matching / Leader Append-Only properties.
import assert from "node:assert/strict";
import type { LogEntry, NodeId } from "../../kernel/types.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { runChaos } from "./_chaos.ts";
import {
  appendEntries,
  assertLogMatching,
  assertStateMachineSafety,
  campaign,
  craftNode,
  durableTerms,
  entriesWithTerms,
  forEachSeed,
  LEADER_ROLES,
  logTerms,
  ofType,
} from "./_helpers.ts";

// Figure 7: the leader of term 8 and six followers (a)–(f) whose logs are
// missing entries, hold extra uncommitted ones, or both.
const FIGURE_7: Record<NodeId, number[]> = {
  leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};
const FOLLOWERS = ["a", "b", "c", "d", "e", "f"];

function figure7(): CoreCluster {
  const cluster = new CoreCluster({
    voters: Object.keys(FIGURE_7),
    seed: 7,
  });
  for (const [id, terms] of Object.entries(FIGURE_7)) {
    craftNode(cluster, id, terms, 7);
  }
  return cluster;
}

Deno.test("§5.3 Fig. 7: a leader of term 8 makes every follower's log identical to its own", () => {
  const cluster = figure7();
  campaign(cluster, "leader");
  cluster.settle();
  const leader = cluster.core("leader");
  assert.equal(leader.term, 8);
  // a, b, e and f vote for it; c and d have more up-to-date logs (§5.4.1).
  const granted = ofType(cluster.delivered, "voteReply")
    .filter((r) => r.granted).map((r) => r.from).sort();
  assert.deepEqual(granted, ["a", "b", "e", "f"]);
  assert.equal(leader.role, "Leader", "its no-op committed");
  cluster.advance(60); // one heartbeat carries the commit index
  const expected = [...FIGURE_7.leader, 8];
  assert.deepEqual(logTerms(cluster, "leader"), expected);
  for (const id of FOLLOWERS) {
    assert.deepEqual(logTerms(cluster, id), expected, `${id} in memory`);
    assert.deepEqual(durableTerms(cluster, id), expected, `${id} on disk`);
    assert.deepEqual(
      cluster.core(id).log.slice(1, 12),
      leader.log.slice(1, 12),
      `${id} holds the leader's very entries`,
    );
    assert.equal(cluster.core(id).commitIndex, 11);
    assert.equal(cluster.applied(id).length, 11);
  }
  // The extra entries of c (term 6) and d (term 7) were truncated.
  assert.equal(cluster.core("c").log.termAt(11), 8);
  assert.equal(cluster.core("d").log.lastIndex, 11);
});

Deno.test("§5.3 fast back-off: each follower is found in one round trip per conflicting term, not one per entry", () => {
  const cluster = figure7();
  campaign(cluster, "leader");
  cluster.settle();
  const rejections: Record<string, number> = Object.fromEntries(
    FOLLOWERS.map((id) => [
      id,
      ofType(cluster.delivered, "appendReply")
        .filter((r) => r.from === id && !r.success).length,
    ]),
  );
  // Backing off one entry per round trip would take a 1, b 6, c 0, d 0,
  // e 5 and f 7 rejections (19 in all).
  assert.deepEqual({ ...rejections }, { a: 1, b: 1, c: 0, d: 0, e: 2, f: 2 });
  // Each follower got at most one append per rejection plus the one that fit.
  for (const id of FOLLOWERS) {
    const appends = ofType(cluster.delivered, "append")
      .filter((m) => m.to === id && m.entries.length > 0).length;
    assert.equal(appends, rejections[id] + 1, `${id} appends`);
  }
});

Deno.test("§5.3 a stale or duplicated AppendEntries never truncates entries", () => {
  const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 2 });
  campaign(cluster, "a");
  cluster.settle();
  cluster.propose("a", "x");
  cluster.settle();
  const early = ofType(cluster.delivered, "append")
    .filter((m) => m.to === "b" && m.entries.length > 0);
  assert.ok(early.length >= 2, "b got the no-op and x");
  for (const command of ["y", "z"]) cluster.propose("a", command);
  cluster.advance(60);
  const before: LogEntry[] = cluster.core("b").log.slice(1, 5);
  assert.deepEqual(before.map((e) => e.index), [1, 2, 3, 4]);
  // Replay every earlier append (same term, shorter than b's log now).
  for (const message of early) {
    cluster.inFlight.length = 0;
    cluster.deliver(message);
    const reply = ofType(cluster.inFlight, "appendReply")[0];
    assert.equal(reply.success, true);
    assert.equal(
      reply.matchIndex,
      message.prevLogIndex + message.entries.length,
    );
    assert.deepEqual(cluster.core("b").log.slice(1, 5), before);
    assert.equal(cluster.core("b").log.lastIndex, 4);
  }
  assert.equal(cluster.durable("b").entries.length, 4);
  // An append from an older term is refused and changes nothing either.
  cluster.inFlight.length = 0;
  cluster.deliver(appendEntries("c", "b", {
    term: 0,
    prevLogIndex: 1,
    prevLogTerm: 0,
  }));
  assert.equal(ofType(cluster.inFlight, "appendReply")[0].success, false);
  assert.deepEqual(cluster.core("b").log.slice(1, 5), before);
});

Deno.test("§5.3 Leader Append-Only: a leader ignores AppendEntries of its own term and never rewrites its log", () => {
  const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 2 });
  campaign(cluster, "a");
  cluster.settle();
  cluster.propose("a", "x");
  cluster.settle();
  const term = cluster.core("a").term;
  const before = cluster.core("a").log.slice(1, 3);
  // A forged append of the same term that conflicts at index 2.
  cluster.deliver(appendEntries("b", "a", {
    term,
    prevLogIndex: 1,
    prevLogTerm: term,
    entries: entriesWithTerms([term, term]).slice(1),
    leaderCommit: 2,
  }));
  assert.equal(cluster.core("a").role, "Leader");
  assert.deepEqual(cluster.core("a").log.slice(1, 3), before);
});

Deno.test("§5.3 Log Matching, Leader Append-Only, §5.4 Leader Completeness and State Machine Safety under chaos (60 seeds)", () => {
  forEachSeed(60, (seed) => {
    // Leader logs seen per (id, term) must only grow.
    const leaderLogs = new Map<string, LogEntry[]>();
    // Committed entries with an upper bound of the term that committed them.
    const committed = new Map<number, { term: number; bound: number }>();
    const { cluster } = runChaos({
      voters: ["a", "b", "c", "d", "e"],
      seed,
      steps: 40,
      propose: true,
      check(cluster) {
        assertLogMatching(cluster);
        assertStateMachineSafety(cluster);
        const maxTerm = Math.max(
          ...cluster.ids.map((id) => cluster.core(id).term),
        );
        for (const id of cluster.ids) {
          for (const entry of cluster.applied(id)) {
            if (!committed.has(entry.index)) {
              committed.set(entry.index, { term: entry.term, bound: maxTerm });
            }
          }
        }
        for (const id of cluster.ids) {
          const core = cluster.core(id);
          if (!LEADER_ROLES.has(core.role)) continue;
          const log = core.log.slice(1, core.log.lastIndex + 1);
          const key = `${id}@${core.term}`;
          const seen = leaderLogs.get(key) ?? [];
          assert.deepEqual(
            log.slice(0, seen.length),
            seen,
            `leader append-only: ${key}`,
          );
          leaderLogs.set(key, log);
          for (const [index, entry] of committed) {
            if (core.term > entry.bound) {
              assert.equal(
                core.log.termAt(index),
                entry.term,
                `leader completeness: ${key} lacks committed index ${index}`,
              );
            }
          }
        }
      },
    });
    assert.ok(committed.size > 0, "something committed");
    cluster.heal();
  });
});
