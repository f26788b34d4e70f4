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
import {
  type AppendEntries,
  decodeChunk,
  type InstallSnapshot,
} from "../kernel/messages.ts";
import { answerVote, electionDeadline } from "./_votes.ts";

/** A snapshot being received from the leader. */
export interface IncomingSnapshot {
  /** The leader sending it. */
  readonly from: string;
  /** The term it is sent in. */
  readonly leaderTerm: number;
  /** Last index it covers. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** Chunks received so far, in order. */
  readonly parts: Uint8Array[];
  /** Bytes received so far. */
  received: number;
}

/** The Follower's own state. */
export interface FollowerState {
  /** When the follower gives up on the leader and campaigns. */
  electionDeadline: number;
  /** A snapshot transfer in progress, if any. */
  incoming: IncomingSnapshot | null;
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * The follower side of InstallSnapshot (§7): chunks are taken only in
 * order; any other offset is answered with the offset wanted, so the leader
 * resumes there. The last chunk installs the snapshot, and the final answer
 * leaves only after it is persisted.
 */
export function answerSnapshot(
  ctx: BehaviorContext,
  message: InstallSnapshot,
  state: FollowerState,
): void {
  ctx.setLeader(message.from);
  const reply = (offset: number, done: boolean) =>
    ctx.send({
      type: "snapshotReply",
      to: message.from,
      lastIncludedIndex: message.lastIncludedIndex,
      offset,
      done,
    });
  if (
    message.lastIncludedIndex <= ctx.commitIndex ||
    message.lastIncludedIndex <= ctx.log.snapshotIndex
  ) {
    // Already committed here, so our log matches the leader's up to there.
    state.incoming = null;
    reply(message.total, true);
    return;
  }
  let incoming = state.incoming;
  // Chunks of one transfer only: two leaders may hold different bytes for
  // the same index, and splicing them would corrupt the state machine.
  if (
    !incoming || incoming.index !== message.lastIncludedIndex ||
    incoming.term !== message.lastIncludedTerm ||
    incoming.from !== message.from || incoming.leaderTerm !== message.term
  ) {
    if (message.offset !== 0) {
      reply(0, false);
      return;
    }
    incoming = state.incoming = {
      from: message.from,
      leaderTerm: message.term,
      index: message.lastIncludedIndex,
      term: message.lastIncludedTerm,
      parts: [],
      received: 0,
    };
  }
  if (message.offset !== incoming.received) {
    reply(incoming.received, false);
    return;
  }
  const chunk = decodeChunk(message.data);
  incoming.parts.push(chunk);
  incoming.received += chunk.byteLength;
  if (!message.done) {
    reply(incoming.received, false);
    return;
  }
  state.incoming = null;
  ctx.installSnapshot({
    index: incoming.index,
    term: incoming.term,
    voters: message.voters,
    nonVoters: message.nonVoters,
    data: concat(incoming.parts, incoming.received),
  });
  reply(incoming.received, true);
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
    return { electionDeadline: electionDeadline(ctx), incoming: null };
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
      case "snapshot":
        state.electionDeadline = electionDeadline(ctx);
        answerSnapshot(ctx, message, state);
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
