/**
 * Vote bookkeeping every role shares: answering RequestVote (§5.2, §5.4.1)
 * and PreVote (thesis §9.6), and drawing a randomized election timeout.
 * @module
 */
import type { BehaviorContext } from "../kernel/behavior.ts";
import type { RequestVote } from "../kernel/messages.ts";

/** A fresh election deadline drawn from `[t, 2t)` (§5.2). */
export function electionDeadline(ctx: BehaviorContext): number {
  const t = ctx.config.electionTimeoutMs;
  return ctx.now + t + Math.floor(ctx.random() * t);
}

/** Whether a candidate's log is at least as up to date as ours (§5.4.1). */
export function candidateLogIsUpToDate(
  ctx: BehaviorContext,
  request: RequestVote,
): boolean {
  const lastTerm = ctx.log.lastTerm;
  return request.lastLogTerm > lastTerm ||
    (request.lastLogTerm === lastTerm &&
      request.lastLogIndex >= ctx.log.lastIndex);
}

/**
 * Answers a (pre-)vote request and returns whether it was granted. A real
 * vote is recorded (and persisted by the driver before the answer leaves);
 * a PreVote changes nothing here, since the candidate's term is only
 * hypothetical until it wins the PreVote round.
 */
export function answerVote(
  ctx: BehaviorContext,
  request: RequestVote,
): boolean {
  const voter = ctx.isVoter(ctx.id);
  let granted: boolean;
  if (request.preVote) {
    granted = voter && request.term > ctx.term &&
      candidateLogIsUpToDate(ctx, request) &&
      (request.transfer || !ctx.inLeaderLease());
  } else {
    granted = voter && request.term === ctx.term &&
      (ctx.votedFor === null || ctx.votedFor === request.from) &&
      candidateLogIsUpToDate(ctx, request);
    if (granted) ctx.vote(request.from);
  }
  ctx.send({
    type: "voteReply",
    to: request.from,
    granted,
    preVote: request.preVote,
    // A granted PreVote answers in the candidate's hypothetical term so the
    // candidate can tell it from a stale answer.
    term: granted && request.preVote ? request.term : ctx.term,
  });
  return granted;
}
