/**
 * The Leader role: serves proposals and ReadIndex reads, replicates with
 * pipelined AppendEntries, commits by counting current-term entries, and
 * transfers leadership on request (thesis §3.10). When it has not heard
 * from a majority of voters within the isolation window it becomes
 * IsolatedLeader, handing over its whole state (ODL Bug 6587).
 *
 * @example
 * ```ts
 * import { leader } from "./leader.ts";
 * console.log(leader.name); // "Leader"
 * ```
 * @module
 */
import type { Behavior } from "../kernel/behavior.ts";
import {
  adoptLeadership,
  hasQuorumContact,
  heartbeat,
  leaderFlush,
  leaderOnMessage,
  type Leadership,
  propose,
  read,
  releaseLeadership,
  retainFrom,
  transfer,
} from "./_leadership.ts";

/**
 * The default Leader behavior.
 *
 * @example
 * ```ts
 * import { leader } from "./leader.ts";
 * import { defaultBehaviors } from "./defaults.ts";
 * // A Leader that logs each commit index it reaches.
 * let seen = 0;
 * const registry = defaultBehaviors().replace({
 *   ...leader,
 *   onFlush(ctx, state) {
 *     leader.onFlush!(ctx, state);
 *     if (ctx.commitIndex > seen) seen = ctx.commitIndex;
 *   },
 * });
 * console.log(registry.has("Leader")); // true
 * ```
 */
export const leader: Behavior<Leadership> = {
  name: "Leader",
  holdsLease: true,
  enter(ctx, handover) {
    const state = adoptLeadership(ctx, handover);
    // Reads held while the no-op was committing now join a round.
    for (const requestId of state.heldReads) read(ctx, state, requestId);
    state.heldReads = [];
    return state;
  },
  exit: releaseLeadership,
  retainFrom,
  onTick(ctx, state) {
    if (ctx.now >= state.nextHeartbeatAt) heartbeat(ctx, state);
    if (
      ctx.now - state.since >= ctx.config.isolationWindowMs &&
      !hasQuorumContact(ctx, state)
    ) ctx.become("IsolatedLeader", state);
  },
  onMessage: leaderOnMessage,
  onClientRequest(ctx, request, state) {
    switch (request.type) {
      case "propose":
        propose(ctx, state, request);
        break;
      case "read":
        read(ctx, state, request.id);
        break;
      case "transfer":
        transfer(ctx, state, request.id, request.target);
        break;
    }
  },
  onFlush: leaderFlush,
};
