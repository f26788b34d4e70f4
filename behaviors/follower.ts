/**
 * The Follower role: answers AppendEntries and votes, and starts an
 * election when it has not heard from a leader for a randomized election
 * timeout (§5.2). Non-voters stay followers forever.
 *
 * @example
 * ```ts
 * import { follower } from "./follower.ts";
 * console.log(follower.name); // "Follower"
 * ```
 * @module
 */
import type { Behavior, BehaviorContext } from "../kernel/behavior.ts";
import type { AppendEntries } from "../kernel/messages.ts";
import { answerVote, electionDeadline } from "./_votes.ts";

/** The Follower's own state. */
export interface FollowerState {
  /** When the follower gives up on the leader and campaigns. */
  electionDeadline: number;
}

/**
 * The follower side of AppendEntries (§5.3), shared with roles that hand a
 * message to the Follower. The answer leaves only after the accepted entries
 * are persisted (the driver sends replies after the persist).
 */
export function answerAppend(
  ctx: BehaviorContext,
  message: AppendEntries,
): void {
  ctx.setLeader(message.from);
  const result = ctx.accept(
    message.prevLogIndex,
    message.prevLogTerm,
    message.entries,
  );
  if (result.ok) {
    // Only entries verified to match the leader may be committed here.
    ctx.commitTo(Math.min(message.leaderCommit, result.matchIndex));
    ctx.send({
      type: "appendReply",
      to: message.from,
      success: true,
      matchIndex: result.matchIndex,
      rejectedIndex: 0,
      hintIndex: 0,
      hintTerm: 0,
      seq: message.seq,
    });
  } else {
    ctx.send({
      type: "appendReply",
      to: message.from,
      success: false,
      matchIndex: 0,
      rejectedIndex: message.prevLogIndex,
      hintIndex: result.hintIndex,
      hintTerm: result.hintTerm,
      seq: message.seq,
    });
  }
}

/**
 * The default Follower behavior.
 *
 * @example
 * ```ts
 * import { follower } from "./follower.ts";
 * import { defaultBehaviors } from "./defaults.ts";
 * // Wrap it: a Follower that never votes for "mallory".
 * const registry = defaultBehaviors().replace({
 *   ...follower,
 *   onMessage(ctx, message, state) {
 *     if (message.type === "vote" && message.from === "mallory") return;
 *     follower.onMessage(ctx, message, state);
 *   },
 * });
 * console.log(registry.has("Follower")); // true
 * ```
 */
export const follower: Behavior<FollowerState> = {
  name: "Follower",
  enter(ctx) {
    return { electionDeadline: electionDeadline(ctx) };
  },
  onTick(ctx, state) {
    if (ctx.now < state.electionDeadline) return;
    if (ctx.isVoter(ctx.id)) ctx.become("Candidate");
    else state.electionDeadline = electionDeadline(ctx);
  },
  onMessage(ctx, message, state) {
    switch (message.type) {
      case "append":
        state.electionDeadline = electionDeadline(ctx);
        answerAppend(ctx, message);
        break;
      case "vote":
        if (answerVote(ctx, message) && !message.preVote) {
          state.electionDeadline = electionDeadline(ctx);
        }
        break;
      case "timeoutNow":
        // The leader asks us to campaign now (thesis §3.10).
        if (ctx.isVoter(ctx.id)) ctx.become("Candidate", { transfer: true });
        break;
    }
  },
};
