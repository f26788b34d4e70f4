/**
 * The PreLeader role: an election winner that has not yet committed an
 * entry of its own term. It appends a no-op and replicates it; only once
 * the no-op commits does it know which earlier entries are committed
 * (§5.4.2) and may serve reads (§6.4), and then it becomes Leader.
 * Proposals are appended behind the no-op right away; reads wait.
 *
 * @example
 * ```ts
 * import { preLeader } from "./pre_leader.ts";
 * console.log(preLeader.name); // "PreLeader"
 * ```
 * @module
 */
import type { Behavior, BehaviorContext } from "../kernel/behavior.ts";
import { TransferFailedError } from "../kernel/errors.ts";
import {
  hasQuorumContact,
  heartbeat,
  leaderFlush,
  leaderOnMessage,
  Leadership,
  propose,
  releaseLeadership,
  retainFrom,
} from "./_leadership.ts";

function promoteWhenReady(ctx: BehaviorContext, state: Leadership): void {
  if (ctx.commitIndex >= state.noopIndex) ctx.become("Leader", state);
}

/**
 * The default PreLeader behavior.
 *
 * @example
 * ```ts
 * import { preLeader } from "./pre_leader.ts";
 * console.log(typeof preLeader.enter); // "function"
 * ```
 */
export const preLeader: Behavior<Leadership> = {
  name: "PreLeader",
  enter(ctx) {
    ctx.setLeader(ctx.id);
    const state = new Leadership(ctx);
    state.noopIndex = ctx.appendOwn("noop", null).index;
    return state;
  },
  exit: releaseLeadership,
  retainFrom,
  onTick(ctx, state) {
    if (ctx.now >= state.nextHeartbeatAt) heartbeat(ctx, state);
    // Cut off from the majority before its no-op committed: it cannot
    // become Leader, so it must not hold clients (or followers) forever.
    if (
      ctx.now - state.since >= ctx.config.isolationWindowMs &&
      !hasQuorumContact(ctx, state)
    ) {
      ctx.setLeader(null);
      ctx.become("Follower");
    }
  },
  onMessage(ctx, message, state) {
    leaderOnMessage(ctx, message, state);
    promoteWhenReady(ctx, state);
  },
  onClientRequest(ctx, request, state) {
    switch (request.type) {
      case "propose":
        propose(ctx, state, request);
        break;
      case "read":
        state.heldReads.push(request.id);
        break;
      case "transfer":
        ctx.reject(
          request.id,
          new TransferFailedError(
            request.target,
            "not-leader",
            "leadership is not yet established",
          ),
        );
        break;
    }
  },
  onFlush(ctx, state) {
    leaderFlush(ctx, state);
    promoteWhenReady(ctx, state);
  },
};
