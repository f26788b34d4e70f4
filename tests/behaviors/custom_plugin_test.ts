// Custom behavior plugins built by wrapping the exported defaults.
import assert from "node:assert/strict";
import type { Behavior } from "../../kernel/behavior.ts";
import type { NodeId } from "../../kernel/types.ts";
import type { BehaviorRegistry } from "../../kernel/registry.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { follower, type FollowerState } from "../../behaviors/follower.ts";
import { leader } from "../../behaviors/leader.ts";
import type { Leadership } from "../../behaviors/_leadership.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";

const IDS = ["a", "b", "mallory"];

/** A Follower that never answers a (pre-)vote request from `blocked`. */
function refusingFollower(blocked: NodeId): Behavior<FollowerState> {
  return {
    ...follower,
    onMessage(ctx, message, state) {
      if (message.type === "vote" && message.from === blocked) return;
      follower.onMessage(ctx, message, state);
    },
  };
}

/** Who led, over `rounds` elections forced by crashing each leader. */
function leadersOverCrashes(
  behaviors: ((id: NodeId) => BehaviorRegistry) | undefined,
  seeds: number,
): Map<NodeId, number> {
  const counts = new Map<NodeId, number>(IDS.map((id) => [id, 0]));
  for (let seed = 1; seed <= seeds; seed++) {
    const cluster = new CoreCluster({ voters: IDS, seed, behaviors });
    for (let round = 0; round < 4; round++) {
      const elected = cluster.electLeader(5_000);
      counts.set(elected, counts.get(elected)! + 1);
      cluster.crash(elected);
      const next = cluster.electLeader(5_000);
      counts.set(next, counts.get(next)! + 1);
      cluster.restart(elected);
      cluster.advance(300);
    }
  }
  return counts;
}

Deno.test("a custom Follower that refuses to vote for a blocked node: it never leads, the others do", () => {
  const blocking = (_id: NodeId) =>
    defaultBehaviors().replace(refusingFollower("mallory"));
  const counts = leadersOverCrashes(blocking, 15);
  assert.equal(counts.get("mallory"), 0, `mallory never led (seeds 1..15)`);
  assert.ok(counts.get("a")! > 0, "a led");
  assert.ok(counts.get("b")! > 0, "b led");
  assert.equal(counts.get("a")! + counts.get("b")!, 15 * 8);
  // With the default Follower, the same schedule lets mallory lead.
  const control = leadersOverCrashes(undefined, 15);
  assert.ok(control.get("mallory")! > 0, "mallory leads without the plugin");
});

Deno.test("a custom Leader that records every commit index (wrapping onFlush) sees them in increasing order", () => {
  const seen = new Map<NodeId, number[]>();
  const recording: Behavior<Leadership> = {
    ...leader,
    onFlush(ctx, state) {
      leader.onFlush!(ctx, state);
      const list = seen.get(ctx.id) ?? [];
      if (list.at(-1) !== ctx.commitIndex) list.push(ctx.commitIndex);
      seen.set(ctx.id, list);
    },
  };
  const cluster = new CoreCluster({
    voters: ["a", "b", "c"],
    seed: 71,
    behaviors: () => defaultBehaviors().replace(recording),
  });
  const id = cluster.electLeader();
  for (let i = 0; i < 5; i++) {
    cluster.propose(id, `one-${i}`);
    cluster.settle();
  }
  // Three whose acks are lost: the leader re-sends them in one append after
  // a stall, so they commit together.
  cluster.filter = (m) => m.type !== "appendReply";
  for (let i = 0; i < 3; i++) cluster.propose(id, `batch-${i}`);
  cluster.settle();
  cluster.filter = () => true;
  cluster.advance(150);
  assert.deepEqual([...seen.keys()], [id], "only the leader ran it");
  assert.deepEqual(seen.get(id), [1, 2, 3, 4, 5, 6, 9]);
  assert.equal(cluster.core(id).commitIndex, 9);
});
