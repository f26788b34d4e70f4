/**
 * The IsolatedLeader role: a leader that has not heard from a majority of
 * voters within the isolation window. It refuses new proposals and reads
 * with {@linkcode IsolatedLeaderError} (a client can retry elsewhere at
 * once) but keeps replicating and committing, and returns to Leader in the
 * same term, with the same state, as soon as a majority answers again. A
 * proposal pending when it was isolated still commits and resolves if the
 * term survives (ODL Bug 6587). If no majority answers within
 * `isolatedStepDownMs` it steps down, since its heartbeats would otherwise
 * keep followers it reaches but cannot hear from electing anyone.
 *
 * @example
 * ```ts
 * import { isolatedLeader } from "./isolated_leader.ts";
 * console.log(isolatedLeader.name); // "IsolatedLeader"
 * ```
 * @module
 */
import type { Behavior } from "../kernel/behavior.ts";
import { IsolatedLeaderError } from "../kernel/errors.ts";
import {
  adoptLeadership,
  hasQuorumContact,
  heartbeat,
  leaderFlush,
  leaderOnMessage,
  type Leadership,
  releaseLeadership,
  retainFrom,
} from "./_leadership.ts";

/**
 * The default IsolatedLeader behavior.
 *
 * @example
 * ```ts
 * import { isolatedLeader } from "./isolated_leader.ts";
 * console.log(typeof isolatedLeader.onClientRequest); // "function"
 * ```
 */
export const isolatedLeader: Behavior<Leadership> = {
  name: "IsolatedLeader",
  enter(ctx, handover) {
    const state = adoptLeadership(ctx, handover);
    state.isolatedAt = ctx.now;
    return state;
  },
  exit: releaseLeadership,
  retainFrom,
  onTick(ctx, state) {
    if (ctx.now >= state.nextHeartbeatAt) heartbeat(ctx, state);
    if (hasQuorumContact(ctx, state)) {
      ctx.become("Leader", state);
      return;
    }
    const limit = ctx.config.isolatedStepDownMs;
    if (limit > 0 && ctx.now - state.isolatedAt >= limit) {
      // Our heartbeats keep followers from electing anyone they can reach
      // while we cannot hear them: give the term up (pending proposals
      // become outcome unknown). Clients must not be sent back here.
      ctx.setLeader(null);
      ctx.become("Follower");
    }
  },
  onMessage(ctx, message, state) {
    leaderOnMessage(ctx, message, state);
    if (message.type === "appendReply" && hasQuorumContact(ctx, state)) {
      ctx.become("Leader", state);
    }
  },
  onClientRequest(ctx, request) {
    ctx.reject(request.id, new IsolatedLeaderError());
  },
  onFlush: leaderFlush,
};
