/**
 * The IsolatedLeader role: a leader that has not heard from a majority of
 * voters within the isolation window. It refuses new proposals and reads
 * with {@linkcode IsolatedLeaderError} (a client can retry elsewhere at
 * once) but keeps replicating and committing, and returns to Leader in the
 * same term, with the same state, as soon as a majority answers again. A
 * proposal pending when it was isolated still commits and resolves if the
 * term survives (ODL Bug 6587).
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
  enter: adoptLeadership,
  exit: releaseLeadership,
  retainFrom,
  onTick(ctx, state) {
    if (ctx.now >= state.nextHeartbeatAt) heartbeat(ctx, state);
    if (hasQuorumContact(ctx, state)) ctx.become("Leader", state);
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
