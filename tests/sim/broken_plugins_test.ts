// How a plugin author tests a plugin: run the seeded simulator with it in
// place of a default one, under the simulator's fault mix, and let the
// safety invariants and the linearizability check judge. Here the plugins
// are broken on purpose (each in one classic way) to show that the
// simulator catches them within a few dozen seeds, while the default
// plugins pass the very same seeds. A failing seed replays exactly: call
// simulateCluster again with the same options (add `traceLength: Infinity`
// for the whole trace).
import assert from "node:assert/strict";
import {
  type Behavior,
  type BehaviorContext,
  type BehaviorRegistry,
  candidate,
  defaultBehaviors,
  follower,
  isolatedLeader,
  leader,
  Leadership,
  preLeader,
} from "../../mod.ts";
import {
  type FaultOptions,
  type InvariantName,
  type SimResult,
  simulateCluster,
} from "../../testing/mod.ts";

const MAX_SEEDS = 50;
const STEPS = 2_000;

function run(
  seed: number,
  faults?: FaultOptions,
  behaviors?: () => BehaviorRegistry,
): SimResult {
  return simulateCluster({
    seed,
    steps: STEPS,
    nodes: seed % 2 === 1 ? 3 : 5,
    faults,
    behaviors,
  });
}

/**
 * Runs seeds 1, 2, … until the simulator rejects `behaviors`, checks which
 * property it names, then checks that the default plugins pass every seed
 * up to that one under the same faults.
 */
function assertCaught(
  behaviors: () => BehaviorRegistry,
  expected: InvariantName,
  faults?: FaultOptions,
): void {
  let failure: SimResult | undefined;
  for (let seed = 1; seed <= MAX_SEEDS && !failure; seed++) {
    const result = run(seed, faults, behaviors);
    if (!result.ok) failure = result;
  }
  assert.ok(failure, `the broken plugin survived ${MAX_SEEDS} seeds`);
  const violation = failure.violations[0];
  assert.equal(
    violation?.invariant,
    expected,
    `seed ${failure.seed}: ${violation?.invariant}: ${violation?.detail}`,
  );
  assert.ok(failure.trace.length > 0 && failure.trace.length <= 50);
  console.log(
    `caught at seed ${failure.seed}, step ${violation.step}: ${violation.detail}`,
  );
  for (let seed = 1; seed <= failure.seed; seed++) {
    const result = run(seed, faults);
    assert.ok(result.ok, `default plugins fail seed ${seed}`);
  }
}

// (a) The commit rule without its current-term check (§5.4.2, Figure 8).
// A new leader commits by counting while it is still PreLeader, so the
// broken rule goes into both leader roles. It only matters when logs hold
// entries of different terms at one index, so the test raises the chance
// that a newly elected leader is cut off before its no-op spreads.
function commitByCountingAnyTerm(
  ctx: BehaviorContext,
  state: Leadership,
): void {
  const matches = ctx.voters.map((id) =>
    id === ctx.id
      ? ctx.log.stableIndex
      : state.trackers.get(id)?.matchIndex ?? 0
  ).sort((x, y) => y - x);
  // BUG: no `ctx.log.termAt(index) === ctx.term`.
  ctx.commitTo(matches[Math.floor(ctx.voters.length / 2)]);
}

function countingAnyTerm(role: Behavior<Leadership>): Behavior<Leadership> {
  return {
    ...role,
    onMessage(ctx, message, state) {
      role.onMessage(ctx, message, state);
      commitByCountingAnyTerm(ctx, state);
    },
    onFlush(ctx, state) {
      commitByCountingAnyTerm(ctx, state);
      role.onFlush?.(ctx, state);
    },
  };
}

Deno.test("a leader that commits entries of older terms by counting is caught", () => {
  assertCaught(
    () =>
      defaultBehaviors()
        .replace(countingAnyTerm(preLeader))
        .replace(countingAnyTerm(leader)),
    "Leader Completeness",
    { ambush: 0.5 },
  );
});

// (b) A Follower that acknowledges entries it never stored, so nothing is
// persisted before the acknowledgement leaves.
Deno.test("a follower that acks entries it did not persist is caught", () => {
  assertCaught(
    () =>
      defaultBehaviors().replace({
        ...follower,
        onMessage(ctx, message, state) {
          if (message.type !== "append" || message.entries.length === 0) {
            follower.onMessage(ctx, message, state);
            return;
          }
          // Handled as a heartbeat: nothing is stored…
          follower.onMessage(ctx, { ...message, entries: [] }, state);
          // BUG: …yet every entry is acknowledged.
          ctx.send({
            type: "appendReply",
            to: message.from,
            success: true,
            matchIndex: message.prevLogIndex + message.entries.length,
            rejectedIndex: 0,
            hintIndex: 0,
            hintTerm: 0,
            seq: message.seq,
          });
        },
      }),
    "Commit Durability",
  );
});

// (c) A Candidate that grants every vote request of its term, although it
// already voted for itself (§5.2: one vote per term).
Deno.test("a candidate that votes twice in a term is caught", () => {
  assertCaught(
    () =>
      defaultBehaviors().replace({
        ...candidate,
        onMessage(ctx, message, state) {
          if (
            message.type === "vote" && !message.preVote &&
            message.term === ctx.term
          ) {
            // BUG: no check of the vote already cast.
            ctx.send({
              type: "voteReply",
              to: message.from,
              granted: true,
              preVote: false,
            });
            return;
          }
          candidate.onMessage(ctx, message, state);
        },
      }),
    "Vote Safety",
  );
});

// (d) An IsolatedLeader that hands a fresh state to Leader when a majority
// answers again, dropping trackers and pending requests (ODL Bug 6587).
function handingFreshState(ctx: BehaviorContext): BehaviorContext {
  return new Proxy(ctx, {
    get(target, property) {
      if (property !== "become") return Reflect.get(target, property);
      return (role: string, handover?: unknown) =>
        // BUG: the Leadership in hand is dropped.
        target.become(
          role,
          role === "Leader" ? new Leadership(target) : handover,
        );
    },
  });
}

Deno.test("an isolated leader that drops its trackers on returning is caught", () => {
  assertCaught(
    () =>
      defaultBehaviors().replace({
        ...isolatedLeader,
        onTick(ctx, state) {
          isolatedLeader.onTick(handingFreshState(ctx), state);
        },
        onMessage(ctx, message, state) {
          isolatedLeader.onMessage(handingFreshState(ctx), message, state);
        },
      }),
    "Match Index Monotonicity",
  );
});
