/**
 * The Candidate role: a PreVote round first (thesis §9.6; on by default),
 * so a node that cannot win never bumps its term and disrupts the cluster,
 * then a real election (§5.2). It wins with a majority of voters and hands
 * over to PreLeader.
 *
 * @example
 * ```ts
 * import { candidate } from "./candidate.ts";
 * console.log(candidate.name); // "Candidate"
 * ```
 * @module
 */
import type { Behavior, BehaviorContext } from "../kernel/behavior.ts";
import { voteResult } from "../kernel/quorum.ts";
import { answerVote, electionDeadline } from "./_votes.ts";

/** The Candidate's own state. */
export interface CandidateState {
  /** Whether the current round is a PreVote. */
  preVote: boolean;
  /** Whether the election was asked for by TimeoutNow. */
  transfer: boolean;
  /** Voters that granted. */
  granted: Set<string>;
  /** Voters that refused. */
  refused: Set<string>;
  /** When the round is abandoned and a new one starts. */
  deadline: number;
}

function startRound(
  ctx: BehaviorContext,
  state: CandidateState,
  preVote: boolean,
): void {
  state.preVote = preVote;
  state.granted = new Set([ctx.id]);
  state.refused = new Set();
  state.deadline = electionDeadline(ctx);
  if (!preVote) {
    ctx.setTerm(ctx.term + 1);
    ctx.vote(ctx.id);
  }
  const term = preVote ? ctx.term + 1 : ctx.term;
  for (const voter of ctx.voters) {
    if (voter === ctx.id) continue;
    ctx.send({
      type: "vote",
      to: voter,
      term,
      lastLogIndex: ctx.log.lastIndex,
      lastLogTerm: ctx.log.lastTerm,
      preVote,
      transfer: state.transfer,
    });
  }
  tally(ctx, state);
}

function tally(ctx: BehaviorContext, state: CandidateState): void {
  if (voteResult(ctx.voters, state.granted, state.refused) !== "won") return;
  if (state.preVote) startRound(ctx, state, false);
  else ctx.become("PreLeader");
}

/**
 * The default Candidate behavior.
 *
 * @example
 * ```ts
 * import { candidate } from "./candidate.ts";
 * console.log(typeof candidate.onTick); // "function"
 * ```
 */
export const candidate: Behavior<CandidateState> = {
  name: "Candidate",
  enter(ctx, handover) {
    const transfer = (handover as { transfer?: boolean } | undefined)
      ?.transfer === true;
    ctx.setLeader(null);
    const state: CandidateState = {
      preVote: false,
      transfer,
      granted: new Set(),
      refused: new Set(),
      deadline: 0,
    };
    startRound(ctx, state, ctx.config.preVote && !transfer);
    return state;
  },
  onTick(ctx, state) {
    if (ctx.now < state.deadline) return;
    state.transfer = false;
    startRound(ctx, state, ctx.config.preVote);
  },
  onMessage(ctx, message, state) {
    switch (message.type) {
      case "append":
      case "snapshot":
        // A leader of our term exists (§5.2): follow it.
        ctx.become("Follower");
        ctx.dispatch(message);
        break;
      case "vote":
        answerVote(ctx, message);
        break;
      case "voteReply": {
        if (message.preVote !== state.preVote) break;
        const expected = state.preVote && message.granted
          ? ctx.term + 1
          : ctx.term;
        if (message.term !== expected) break;
        (message.granted ? state.granted : state.refused).add(message.from);
        tally(ctx, state);
        break;
      }
      case "timeoutNow":
        if (state.preVote) {
          state.transfer = true;
          startRound(ctx, state, false);
        }
        break;
    }
  },
};
