/**
 * What PreLeader, Leader and IsolatedLeader share: the leadership state
 * they hand to one another and the replication machinery that runs in all
 * three (what they send followers is in _replication.ts). Handing the same
 * {@linkcode Leadership} object along is the whole of the ODL Bug 6587 fix:
 * follower trackers, in-flight appends, pending proposals and reads survive
 * Leader ↔ IsolatedLeader.
 * @module
 */
import type { BehaviorContext, ClientRequest } from "../kernel/behavior.ts";
import {
  NotLeaderError,
  OutcomeUnknownError,
  TransferFailedError,
  TransferInProgressError,
} from "../kernel/errors.ts";
import type {
  AppendEntriesReply,
  InstallSnapshotReply,
  Message,
} from "../kernel/messages.ts";
import { majority, quorumIndex } from "../kernel/quorum.ts";
import type { NodeId } from "../kernel/types.ts";
import { FollowerTracker } from "./_tracker.ts";
import { heartbeat, notifyForwarders, replicate } from "./_replication.ts";
import { snapshotFloor, snapshotReplied } from "./_snapshot_sending.ts";
import { answerVote } from "./_votes.ts";

// Re-exported so the roles and plugins keep importing them from here.
export { heartbeat, replicate };

/** The roles that hold leadership and pass {@linkcode Leadership} along. */
export const LEADER_ROLES: ReadonlySet<string> = new Set([
  "PreLeader",
  "Leader",
  "IsolatedLeader",
]);

/** A read waiting for a majority to confirm leadership (§6.4). */
export interface PendingRead {
  /** Client request id. */
  readonly requestId: number;
  /** Commit index when the read arrived: the read index. */
  readonly index: number;
  /** Read round that must be confirmed by a majority. */
  readonly seq: number;
}

/** The state of a term's leadership, handed from role to role. */
export class Leadership {
  /** Term this leadership belongs to. */
  readonly term: number;
  /** One tracker per other member (voters and non-voters). */
  readonly trackers: Map<NodeId, FollowerTracker> = new Map();
  /** Proposals appended but not yet committed: index → request id. */
  readonly pending: Map<number, number> = new Map();
  /** Reads waiting for their round to be confirmed. */
  reads: PendingRead[] = [];
  /** Reads that arrived before the no-op committed (PreLeader). */
  heldReads: number[] = [];
  /** Current read round, carried by every AppendEntries. */
  readSeq = 0;
  /** A read arrived: the next flush opens a new round. */
  readRoundDue = false;
  /** Index of this term's no-op. */
  noopIndex = 0;
  /** When leadership began. */
  readonly since: number;
  /** When the next heartbeat is due. */
  nextHeartbeatAt: number;
  /** When the leader last became isolated (IsolatedLeader only). */
  isolatedAt = 0;
  /**
   * Members waiting for proposals they forwarded: member → highest index.
   * Each hears of the commit at once, not at the next heartbeat.
   */
  readonly forwardedBy: Map<NodeId, number> = new Map();

  /** Creates trackers for every peer, probing from the log's end. */
  constructor(ctx: BehaviorContext) {
    this.term = ctx.term;
    this.since = ctx.now;
    this.nextHeartbeatAt = ctx.now;
    for (const peer of ctx.peers) {
      this.trackers.set(
        peer,
        new FollowerTracker(peer, ctx.log.lastIndex + 1, ctx.now),
      );
    }
  }
}

/** Takes over the hand-over value when it is this term's leadership. */
export function adoptLeadership(
  ctx: BehaviorContext,
  handover: unknown,
): Leadership {
  if (handover instanceof Leadership && handover.term === ctx.term) {
    return handover;
  }
  return new Leadership(ctx);
}

/**
 * Leaving leadership for a non-leader role: every pending proposal may or
 * may not commit under the next leader, so its client learns exactly that.
 */
export function releaseLeadership(
  ctx: BehaviorContext,
  state: Leadership,
  next: string,
): Leadership | undefined {
  if (LEADER_ROLES.has(next)) return state;
  for (const [index, requestId] of state.pending) {
    ctx.reject(
      requestId,
      new OutcomeUnknownError(index, `leadership lost (now ${next})`),
    );
  }
  state.pending.clear();
  for (const read of state.reads) {
    ctx.reject(read.requestId, new NotLeaderError(ctx.leaderId));
  }
  for (const requestId of state.heldReads) {
    ctx.reject(requestId, new NotLeaderError(ctx.leaderId));
  }
  state.reads = [];
  state.heldReads = [];
  return undefined;
}

function onSnapshotReply(
  ctx: BehaviorContext,
  state: Leadership,
  reply: InstallSnapshotReply,
): void {
  const tracker = state.trackers.get(reply.from);
  if (!tracker) return;
  tracker.lastContactAt = ctx.now;
  if (snapshotReplied(ctx, tracker, reply)) advanceCommit(ctx, state);
}

/** The lowest index a leader role needs to keep: right after snapshots in transfer. */
export function retainFrom(_ctx: BehaviorContext, state: Leadership): number {
  return snapshotFloor(state.trackers.values());
}

/** Advances the commit index from the voters' match indexes (§5.3, §5.4.2). */
export function advanceCommit(ctx: BehaviorContext, state: Leadership): void {
  const matches: number[] = [];
  for (const voter of ctx.voters) {
    // The leader counts itself only for what is durable in its storage.
    matches.push(
      voter === ctx.id
        ? ctx.log.stableIndex
        : state.trackers.get(voter)?.matchIndex ?? 0,
    );
  }
  const index = quorumIndex(matches);
  // Only an entry of the current term is committed by counting (§5.4.2).
  if (index > ctx.commitIndex && ctx.log.termAt(index) === ctx.term) {
    ctx.commitTo(index);
  }
  for (const [index, _] of state.pending) {
    if (index > ctx.commitIndex) break;
    state.pending.delete(index);
  }
}

/** How many voters (this node included) answered within `windowMs`. */
export function votersHeardWithin(
  ctx: BehaviorContext,
  state: Leadership,
  windowMs: number,
): number {
  let heard = ctx.isVoter(ctx.id) ? 1 : 0;
  const since = ctx.now - windowMs;
  for (const voter of ctx.voters) {
    const tracker = state.trackers.get(voter);
    if (tracker && tracker.lastContactAt >= since) heard++;
  }
  return heard;
}

/** Whether a majority of voters answered within the isolation window. */
export function hasQuorumContact(
  ctx: BehaviorContext,
  state: Leadership,
): boolean {
  return votersHeardWithin(ctx, state, ctx.config.isolationWindowMs) >=
    majority(ctx.voters.length);
}

function confirmReads(ctx: BehaviorContext, state: Leadership): void {
  if (state.reads.length === 0) return;
  const acked: number[] = [];
  for (const voter of ctx.voters) {
    acked.push(
      voter === ctx.id
        ? state.readSeq
        : state.trackers.get(voter)?.ackedSeq ?? 0,
    );
  }
  const confirmed = quorumIndex(acked);
  let done = 0;
  while (done < state.reads.length && state.reads[done].seq <= confirmed) {
    ctx.readReady(state.reads[done].requestId, state.reads[done].index);
    done++;
  }
  if (done > 0) state.reads.splice(0, done);
}

function onAppendReply(
  ctx: BehaviorContext,
  state: Leadership,
  reply: AppendEntriesReply,
): void {
  const tracker = state.trackers.get(reply.from);
  if (!tracker) return;
  tracker.lastContactAt = ctx.now;
  if (reply.seq > tracker.ackedSeq && reply.seq <= state.readSeq) {
    tracker.ackedSeq = reply.seq;
  }
  if (tracker.state === "snapshot") {
    // Answers to appends sent before the snapshot started say nothing new.
  } else if (reply.success) {
    if (tracker.succeeded(reply.matchIndex, ctx.now)) advanceCommit(ctx, state);
  } else {
    tracker.rejected(reply.rejectedIndex, nextIndexAfterReject(ctx, reply));
  }
  confirmReads(ctx, state);
  const transfer = ctx.transfer;
  if (
    transfer && !transfer.timeoutNowSent && transfer.target === reply.from &&
    tracker.matchIndex === ctx.log.lastIndex
  ) {
    transfer.timeoutNowSent = true;
    ctx.send({ type: "timeoutNow", to: reply.from });
  }
}

/**
 * Fast back-off (thesis §5.3): skip the follower's whole conflicting term
 * instead of one entry per round trip.
 */
function nextIndexAfterReject(
  ctx: BehaviorContext,
  reply: AppendEntriesReply,
): number {
  if (reply.hintTerm === 0) return reply.hintIndex;
  let index = Math.min(reply.rejectedIndex, ctx.log.lastIndex);
  while (index >= ctx.log.firstIndex) {
    const term = ctx.log.termAt(index)!;
    if (term === reply.hintTerm) return index + 1;
    if (term < reply.hintTerm) break;
    index--;
  }
  return reply.hintIndex;
}

/** Messages every leader role handles the same way. */
export function leaderOnMessage(
  ctx: BehaviorContext,
  message: Message,
  state: Leadership,
): void {
  switch (message.type) {
    case "appendReply":
      onAppendReply(ctx, state, message);
      break;
    case "snapshotReply":
      onSnapshotReply(ctx, state, message);
      break;
    case "vote":
      answerVote(ctx, message);
      break;
  }
}

/** End of a batch: commit, open a read round, replicate. */
export function leaderFlush(ctx: BehaviorContext, state: Leadership): void {
  advanceCommit(ctx, state);
  if (state.readRoundDue) {
    state.readRoundDue = false;
    state.readSeq++;
    heartbeat(ctx, state);
  }
  replicate(ctx, state);
  notifyForwarders(ctx, state);
  confirmReads(ctx, state);
}

/** Appends a proposal unless a transfer is under way. */
export function propose(
  ctx: BehaviorContext,
  state: Leadership,
  request: Extract<ClientRequest, { type: "propose" }>,
): void {
  if (ctx.transfer) {
    ctx.reject(request.id, new TransferInProgressError(ctx.transfer.target));
    return;
  }
  const entry = ctx.appendOwn("command", request.command);
  state.pending.set(entry.index, request.id);
  if (request.from !== undefined) {
    state.forwardedBy.set(request.from, entry.index);
  }
  ctx.proposalAccepted(request.id, entry);
}

/** Registers a ReadIndex read; a new round opens at the next flush. */
export function read(
  ctx: BehaviorContext,
  state: Leadership,
  requestId: number,
): void {
  state.reads.push({
    requestId,
    index: ctx.commitIndex,
    seq: state.readSeq + 1,
  });
  state.readRoundDue = true;
}

/** Starts a leadership transfer (thesis §3.10). */
export function transfer(
  ctx: BehaviorContext,
  state: Leadership,
  requestId: number,
  target: NodeId,
): void {
  if (ctx.transfer) {
    ctx.reject(requestId, new TransferInProgressError(ctx.transfer.target));
    return;
  }
  if (!ctx.isVoter(target)) {
    ctx.reject(
      requestId,
      new TransferFailedError(
        target,
        "not-a-voter",
        ctx.nonVoters.includes(target)
          ? "it is a non-voting member"
          : "it is not a member",
      ),
    );
    return;
  }
  ctx.startTransfer(requestId, target);
  if (target === ctx.id) {
    ctx.endTransfer();
    return;
  }
  const tracker = state.trackers.get(target)!;
  if (tracker.matchIndex === ctx.log.lastIndex) {
    ctx.transfer!.timeoutNowSent = true;
    ctx.send({ type: "timeoutNow", to: target });
  }
}
