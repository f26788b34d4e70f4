// Committing entries from previous terms (§5.4.2, Fig. 8). Everything
// below runs at virtual time 0: elections are forced with `campaign` and
// messages move only through `settle`, so no timer ever fires.
//
// Our leaders append a no-op of their term on election, so the entry "of
// term 2 at index 2" of the figure is S1's term-2 no-op, and S1's term-4
// entry at index 3 is its term-4 no-op.
import assert from "node:assert/strict";
import { quorumIndex } from "../../kernel/quorum.ts";
import type { Leadership } from "../../behaviors/_leadership.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import {
  assertElectionSafety,
  assertLogMatching,
  campaign,
  LEADER_ROLES,
  logTerms,
} from "./_helpers.ts";

const S = ["s1", "s2", "s3", "s4", "s5"];

/** Runs Fig. 8 (a)–(c) and returns the cluster in state (c). */
function figure8UpToC(): CoreCluster {
  // One entry per AppendEntries, so S1 can hand out index 2 without index 3.
  const cluster = new CoreCluster({
    voters: S,
    seed: 8,
    config: { maxEntriesPerAppend: 1 },
  });
  // Term 1: S1 leads and index 1 is committed everywhere.
  campaign(cluster, "s1");
  cluster.settle();
  assert.equal(cluster.core("s1").commitIndex, 1);

  // (a) S1 leads term 2; index 2 (term 2) reaches S2 only.
  cluster.crash("s1");
  cluster.restart("s1");
  cluster.filter = (m) => !(m.type === "append" && m.to !== "s2");
  campaign(cluster, "s1");
  cluster.settle();
  assert.equal(cluster.core("s1").term, 2);
  assert.equal(cluster.core("s1").role, "PreLeader");
  assert.deepEqual(logTerms(cluster, "s1"), [1, 2]);
  assert.deepEqual(logTerms(cluster, "s2"), [1, 2]);
  assert.deepEqual(logTerms(cluster, "s3"), [1]);

  // (b) S5 wins term 3 with the votes of S3, S4 and itself, and appends a
  // different entry at index 2 that nobody receives. S1 crashes.
  cluster.filter = (m) => m.type !== "append";
  campaign(cluster, "s5");
  cluster.settle();
  assert.equal(cluster.core("s5").term, 3);
  assert.equal(cluster.core("s5").role, "PreLeader");
  assert.deepEqual(logTerms(cluster, "s5"), [1, 3]);
  assert.equal(cluster.core("s1").role, "Follower", "S1 saw term 3");
  cluster.crash("s1");

  // (c) S1 restarts and wins term 4 (S5 is still up and learns the term,
  // then crashes). S1 replicates index 2 to S3 and S4 but not its own
  // term-4 entry at index 3.
  cluster.restart("s1");
  // (Appends to S3/S4 that they would reject pass: they drive the back-off.)
  cluster.filter = (m) =>
    m.type !== "append" ||
    (m.from === "s1" && (m.to === "s3" || m.to === "s4") &&
      (m.entries.every((e) => e.index <= 2) ||
        cluster.core(m.to).log.termAt(m.prevLogIndex) !== m.prevLogTerm));
  campaign(cluster, "s1");
  cluster.settle();
  cluster.crash("s5");
  assert.equal(cluster.core("s1").term, 4);
  assert.deepEqual(logTerms(cluster, "s1"), [1, 2, 4]);
  for (const id of ["s2", "s3", "s4"]) {
    assert.deepEqual(logTerms(cluster, id), [1, 2], id);
  }
  return cluster;
}

Deno.test("§5.4.2 Fig. 8 (c): an entry of an older term stored on a majority is not committed by counting", () => {
  const cluster = figure8UpToC();
  const s1 = cluster.core("s1");
  const leadership = s1.roleState as Leadership;
  // S1 knows that S3 and S4 match index 2: with itself that is 3 of 5.
  const matches = S.map((id) =>
    id === "s1" ? s1.log.stableIndex : leadership.trackers.get(id)!.matchIndex
  );
  assert.deepEqual(matches, [3, 0, 2, 2, 0]);
  assert.equal(quorumIndex(matches), 2, "a majority holds index 2");
  // (The commit index is volatile: the restarted S1 starts again from 0.)
  assert.equal(s1.commitIndex, 0, "yet index 2 (term 2) is not committed");
  assert.equal(s1.role, "PreLeader", "and the term-4 no-op is not either");
  // Time passes, heartbeats flow, nothing changes.
  cluster.advance(100);
  assert.equal(s1.commitIndex, 0);
  for (const id of S) {
    assert.ok(
      cluster.applied(id).every((e) => e.index < 2),
      `${id} applied nothing past index 1`,
    );
  }
});

Deno.test("§5.4.2 Fig. 8 (d): so S5 may be elected and overwrite it everywhere", () => {
  const cluster = figure8UpToC();
  cluster.crash("s1");
  cluster.restart("s5");
  cluster.filter = () => true;
  campaign(cluster, "s5");
  cluster.settle();
  const s5 = cluster.core("s5");
  assert.equal(s5.term, 5);
  assert.equal(s5.role, "Leader");
  cluster.restart("s1");
  cluster.advance(100);
  for (const id of S) {
    assert.deepEqual(logTerms(cluster, id), [1, 3, 5], id);
    assert.equal(cluster.core(id).commitIndex, 3, id);
    assert.deepEqual(
      cluster.applied(id).map((e) => [e.index, e.term]),
      [[1, 1], [2, 3], [3, 5]],
      id,
    );
  }
  assertElectionSafety(cluster);
  assertLogMatching(cluster);
  // S1 never became Leader in term 4: its no-op never committed.
  assert.equal(
    cluster.roleChanges.some((c) =>
      c.id === "s1" && c.term === 4 && c.to === "Leader"
    ),
    false,
  );
});

Deno.test("§5.4.2 Fig. 8 (e): once an entry of the current term commits, the older entry is committed with it and survives", () => {
  const cluster = figure8UpToC();
  const s1 = cluster.core("s1");
  // S1 replicates its term-4 entry on a majority before crashing.
  cluster.filter = () => true;
  cluster.advance(150); // lost appends are re-sent after a stall
  assert.equal(s1.commitIndex, 3);
  assert.equal(s1.role, "Leader");
  for (const id of ["s2", "s3", "s4"]) {
    assert.deepEqual(logTerms(cluster, id), [1, 2, 4], id);
  }
  cluster.crash("s1");
  cluster.restart("s5");
  // S5 (last term 3) cannot win any more: S2, S3 and S4 refuse it.
  const before = cluster.roleChanges.length;
  campaign(cluster, "s5");
  cluster.settle();
  assert.equal(cluster.core("s5").term, 5);
  assert.equal(
    cluster.roleChanges.slice(before).some((c) =>
      c.id === "s5" && LEADER_ROLES.has(c.to)
    ),
    false,
  );
  const leader = cluster.electLeader(5_000);
  assert.notEqual(leader, "s5");
  cluster.restart("s1");
  cluster.advance(200);
  for (const id of S) {
    const applied = cluster.applied(id);
    assert.deepEqual(
      applied.slice(0, 3).map((e) => [e.index, e.term]),
      [[1, 1], [2, 2], [3, 4]],
      id,
    );
  }
  assertElectionSafety(cluster);
  assertLogMatching(cluster);
});
