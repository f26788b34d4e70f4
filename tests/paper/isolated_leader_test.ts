// IsolatedLeader and ODL Bug 6587: a leader that loses contact with a
// majority keeps its whole leadership state (trackers, in-flight appends,
// pending proposals and reads) and gives it back to Leader in the same term.
import assert from "node:assert/strict";
import type { Behavior } from "../../kernel/behavior.ts";
import {
  IsolatedLeaderError,
  OutcomeUnknownError,
} from "../../kernel/errors.ts";
import type { NodeId } from "../../kernel/types.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { isolatedLeader } from "../../behaviors/isolated_leader.ts";
import { leader } from "../../behaviors/leader.ts";
import type { Leadership } from "../../behaviors/_leadership.ts";
import type { FollowerTracker } from "../../behaviors/_tracker.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { assertElectionSafety, failure } from "./_helpers.ts";

const THREE = ["a", "b", "c"];

/** A copy of what a leadership holds at one moment. */
interface Snapshot {
  hook: string;
  term: number;
  state: Leadership;
  handover?: unknown;
  trackers: Map<NodeId, FollowerTracker>;
  values: Record<NodeId, unknown>;
  pending: [number, number][];
  reads: number[];
}

function snapshot(
  hook: string,
  state: Leadership,
  handover?: unknown,
): Snapshot {
  return {
    hook,
    term: state.term,
    state,
    handover,
    trackers: new Map(state.trackers),
    values: Object.fromEntries(
      [...state.trackers].map(([id, t]) => [id, {
        matchIndex: t.matchIndex,
        nextIndex: t.nextIndex,
        state: t.state,
        probeSent: t.probeSent,
        inflight: [...t.inflight],
        ackedSeq: t.ackedSeq,
      }]),
    ),
    pending: [...state.pending],
    reads: state.reads.map((r) => r.requestId),
  };
}

/** Default behaviors that record the leadership at every leader switch. */
function recording(log: Snapshot[]) {
  return () =>
    defaultBehaviors()
      .replace({
        ...leader,
        enter(ctx, handover) {
          const state = leader.enter!(ctx, handover);
          log.push(snapshot("Leader.enter", state, handover));
          return state;
        },
        exit(ctx, state, next) {
          log.push(snapshot("Leader.exit", state));
          return leader.exit!(ctx, state, next);
        },
      } as Behavior<Leadership>)
      .replace({
        ...isolatedLeader,
        enter(ctx, handover) {
          const state = isolatedLeader.enter!(ctx, handover);
          log.push(snapshot("IsolatedLeader.enter", state, handover));
          return state;
        },
        exit(ctx, state, next) {
          log.push(snapshot("IsolatedLeader.exit", state));
          return isolatedLeader.exit!(ctx, state, next);
        },
      } as Behavior<Leadership>);
}

function assertSameLeadership(out: Snapshot, into: Snapshot): void {
  assert.equal(
    into.state,
    out.state,
    `${into.hook}: the same Leadership object`,
  );
  assert.equal(into.handover, out.state, `${into.hook}: handed over`);
  assert.equal(into.term, out.term);
  for (const [id, tracker] of out.trackers) {
    assert.equal(
      into.trackers.get(id),
      tracker,
      `tracker ${id} is the same object`,
    );
  }
  assert.deepEqual(into.values, out.values, "matchIndex, nextIndex, in-flight");
  assert.deepEqual(into.pending, out.pending, "pending proposals");
  assert.deepEqual(into.reads, out.reads, "pending reads");
}

Deno.test("Bug 6587: Leader → IsolatedLeader → Leader hands over the same trackers, pending proposals and reads, and a pending proposal commits after heal", () => {
  const switches: Snapshot[] = [];
  const cluster = new CoreCluster({
    voters: THREE,
    seed: 17,
    behaviors: recording(switches),
  });
  const id = cluster.electLeader();
  const term = cluster.core(id).term;
  cluster.propose(id, "before");
  cluster.advance(60);
  assert.equal(cluster.core(id).commitIndex, 2);
  const followers = THREE.filter((x) => x !== id);

  // Asymmetric fault: followers still get appends and heartbeats (so nobody
  // campaigns) but their answers never reach the leader.
  cluster.filter = (m) => m.type !== "appendReply";
  const pending = cluster.propose(id, "pending");
  const read = cluster.read(id);
  cluster.advance(20);
  for (const f of followers) {
    assert.equal(cluster.core(f).log.entry(3)?.command, "pending", f);
  }
  cluster.advance(200);
  const core = cluster.core(id);
  assert.equal(core.role, "IsolatedLeader");
  assert.equal(core.term, term);
  for (const f of followers) {
    assert.equal(cluster.core(f).role, "Follower", `${f} stays a follower`);
    assert.equal(cluster.core(f).term, term);
  }
  const [toLeader, intoIsolated] = switches.slice(-2);
  assert.equal(toLeader.hook, "Leader.exit");
  assert.equal(intoIsolated.hook, "IsolatedLeader.enter");
  assertSameLeadership(toLeader, intoIsolated);
  assert.deepEqual(intoIsolated.pending, [[3, pending]]);
  assert.deepEqual(intoIsolated.reads, [read]);
  assert.equal(core.roleState, intoIsolated.state);

  // New proposals and reads are refused while isolated, and never appended.
  const refused = cluster.propose(id, "refused");
  const refusedRead = cluster.read(id);
  assert.ok(failure(cluster.outcome(refused)) instanceof IsolatedLeaderError);
  assert.ok(
    failure(cluster.outcome(refusedRead)) instanceof IsolatedLeaderError,
  );
  assert.equal(core.log.lastIndex, 3);
  assert.equal(core.commitIndex, 2);
  assert.deepEqual(cluster.outcome(pending), {
    status: "accepted",
    index: 3,
    term,
  });
  assert.equal(cluster.outcome(read).status, "pending");

  cluster.filter = () => true;
  cluster.advance(60);
  assert.equal(core.role, "Leader");
  assert.equal(core.term, term, "same term");
  const [outOfIsolated, backToLeader] = switches.slice(-2);
  assert.equal(outOfIsolated.hook, "IsolatedLeader.exit");
  assert.equal(backToLeader.hook, "Leader.enter");
  assertSameLeadership(outOfIsolated, backToLeader);
  assert.equal(backToLeader.state, intoIsolated.state, "one object all along");
  assert.equal(core.roleState, intoIsolated.state);
  for (const [f, tracker] of intoIsolated.trackers) {
    assert.equal(backToLeader.trackers.get(f), tracker);
    assert.ok(tracker.matchIndex >= 2, `${f} matchIndex kept`);
  }

  // The proposal made before the isolation committed in the same term.
  assert.equal(core.commitIndex, 3);
  assert.deepEqual(cluster.outcome(pending), {
    status: "accepted",
    index: 3,
    term,
  });
  assert.deepEqual(
    cluster.applied(id).map((e) => e.command),
    [null, "before", "pending"],
  );
  assert.equal(intoIsolated.state.pending.size, 0);
  // So did the read, at the commit index it arrived with.
  assert.deepEqual(cluster.outcome(read), { status: "read", index: 2 });
  // And the leader accepts proposals again.
  const after = cluster.propose(id, "after");
  assert.equal(cluster.outcome(after).status, "accepted");
  assertElectionSafety(cluster);
});

Deno.test("Bug 6587: an isolated leader whose majority elected someone else steps down on heal and its pending proposal fails with OutcomeUnknownError", () => {
  const cluster = new CoreCluster({ voters: THREE, seed: 17 });
  const old = cluster.electLeader();
  const term = cluster.core(old).term;
  const others = THREE.filter((x) => x !== old);
  cluster.partition([old], others);
  const pending = cluster.propose(old, "pending");
  const read = cluster.read(old);
  assert.equal(cluster.outcome(pending).status, "accepted");
  let next: NodeId | undefined;
  for (let t = 0; t < 3_000 && !next; t += 10) {
    cluster.advance(10);
    next = others.find((x) => cluster.core(x).role === "Leader");
  }
  assert.ok(next, "the majority elected a leader");
  assert.equal(cluster.core(old).role, "IsolatedLeader");
  assert.equal(cluster.outcome(pending).status, "accepted", "still unknown");
  cluster.propose(next, "elsewhere");
  cluster.heal();
  cluster.advance(200);
  const roles = cluster.roleChanges.filter((c) => c.id === old).map((c) =>
    c.to
  );
  assert.deepEqual(roles.slice(-2), ["IsolatedLeader", "Follower"]);
  assert.ok(cluster.core(old).term > term);
  const error = failure(cluster.outcome(pending));
  assert.ok(error instanceof OutcomeUnknownError, String(error));
  assert.equal((error as OutcomeUnknownError).index, 2);
  assert.notEqual(cluster.core(old).log.entry(2)?.command, "pending");
  assert.equal(cluster.outcome(read).status, "failed", "the read never served");
  assertElectionSafety(cluster);
});

Deno.test("an IsolatedLeader behind a one-way link steps down so the others can elect a leader", () => {
  const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 61 });
  const old = cluster.electLeader();
  cluster.advance(60);
  // The old leader still reaches everyone but hears no one.
  cluster.filter = (m) => m.to !== old;
  let isolated = false;
  let next: string | undefined;
  for (let t = 0; t < 3_000 && !next; t += 10) {
    cluster.advance(10);
    isolated ||= cluster.core(old).role === "IsolatedLeader";
    next = cluster.ids.find((id) =>
      id !== old && cluster.core(id).role === "Leader"
    );
  }
  assert.ok(isolated, "it became IsolatedLeader first");
  assert.ok(next, "the majority elected a new leader despite its heartbeats");
  assert.notEqual(cluster.core(old).role, "Leader");
  assert.notEqual(
    cluster.core(old).leaderId,
    old,
    "after stepping down it no longer names itself as leader",
  );
});
