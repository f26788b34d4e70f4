/**
 * What PreLeader, Leader and IsolatedLeader share: the leadership state
 * they hand to one another and the replication machinery that runs in all
 * three. Handing the same {@linkcode Leadership} object along is the whole
 * of the ODL Bug 6587 fix: follower trackers, in-flight appends, pending
 * proposals and reads survive Leader ↔ IsolatedLeader.
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
import {
  sendSnapshotChunk,
  snapshotFloor,
  snapshotReplied,
} from "./_snapshot_sending.ts";
import { answerVote } from "./_votes.ts";

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

function sendAppend(
  ctx: BehaviorContext,
  state: Leadership,
  tracker: FollowerTracker,
  withEntries: boolean,
): void {
  const log = ctx.log;
  const prev = withEntries ? tracker.nextIndex - 1 : tracker.matchIndex;
  const prevTerm = log.termAt(prev);
  if (prevTerm === undefined) {
    // The entries it needs were compacted away: send the snapshot (§7).
    if (withEntries && ctx.snapshot) {
      tracker.becomeSnapshot(ctx.snapshot, ctx.now);
      sendSnapshotChunk(ctx, tracker);
    }
    return;
  }
  let last = withEntries
    ? Math.min(log.lastIndex, prev + ctx.config.maxEntriesPerAppend)
    : prev;
  const budget = ctx.config.maxAppendBytes;
  if (last > prev + 1 && Number.isFinite(budget)) {
    // Stay under the transport's body limit, or a follower far behind
    // would be sent the same oversized batch forever (one entry always goes).
    let bytes = 0;
    for (let index = prev + 1; index <= last; index++) {
      bytes += JSON.stringify(log.entry(index)!.command).length + 64;
      if (bytes > budget && index > prev + 1) {
        last = index - 1;
        break;
      }
    }
  }
  ctx.send({
    type: "append",
    to: tracker.id,
    prevLogIndex: prev,
    prevLogTerm: prevTerm,
    entries: last > prev ? log.slice(prev + 1, last + 1) : [],
    leaderCommit: ctx.commitIndex,
    seq: state.readSeq,
  });
  if (ctx.commitIndex > tracker.commitSent) {
    tracker.commitSent = ctx.commitIndex;
  }
  if (withEntries) tracker.sent(last);
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

/** Sends what each follower is missing, within its flow-control window. */
export function replicate(ctx: BehaviorContext, state: Leadership): void {
  const max = ctx.config.maxInflightAppends;
  const last = ctx.log.lastIndex;
  for (const tracker of state.trackers.values()) {
    if (tracker.state === "snapshot") continue;
    if (tracker.state === "probe") {
      if (!tracker.probeSent) sendAppend(ctx, state, tracker, true);
      continue;
    }
    while (tracker.nextIndex <= last && tracker.canSend(max)) {
      const before = tracker.nextIndex;
      sendAppend(ctx, state, tracker, true);
      // sendAppend switches the tracker to "snapshot" when the entries the
      // follower needs were compacted away; canSend() stays true there, so
      // without this check the loop re-sent the first snapshot chunk
      // forever (found by the simulator: seed 15, 3 nodes, step 562).
      if (tracker.state !== "replicate" || tracker.nextIndex === before) break;
    }
  }
}

/** Sends an empty AppendEntries to every follower (§5.2). */
export function heartbeat(ctx: BehaviorContext, state: Leadership): void {
  state.nextHeartbeatAt = ctx.now + ctx.config.heartbeatMs;
  const stall = 2 * ctx.config.heartbeatMs;
  for (const tracker of state.trackers.values()) {
    if (tracker.state === "snapshot") {
      // A lost chunk (or answer) is sent again from the confirmed offset.
      if (ctx.now - tracker.sending!.sentAt >= stall) {
        sendSnapshotChunk(ctx, tracker);
      }
      continue;
    }
    if (tracker.state === "probe") {
      // The probe doubles as the heartbeat; re-send it if unanswered.
      tracker.probeSent = false;
      continue;
    }
    if (
      ctx.log.termAt(tracker.matchIndex) === undefined ||
      tracker.matchIndex < tracker.nextIndex - 1 &&
        ctx.now - tracker.lastProgressAt >= stall
    ) {
      // Appends went unanswered, or what the follower has was compacted
      // away so no heartbeat can name it: probe again (which sends the
      // snapshot when needed).
      tracker.becomeProbe(tracker.matchIndex + 1);
      continue;
    }
    sendAppend(ctx, state, tracker, false);
  }
  // A lost TimeoutNow must not leave the transfer to time out: while the
  // target is still caught up and we still lead, ask it again.
  const transfer = ctx.transfer;
  if (transfer?.timeoutNowSent && transfer.term === ctx.term) {
    const target = state.trackers.get(transfer.target);
    if (target && target.matchIndex === ctx.log.lastIndex) {
      ctx.send({ type: "timeoutNow", to: transfer.target });
    }
  }
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

/**
 * A member that forwarded a proposal completes it when it applies the
 * entry, so it must learn of the commit now: an empty AppendEntries carries
 * the commit index unless this flush already sent one.
 */
function notifyForwarders(ctx: BehaviorContext, state: Leadership): void {
  for (const [member, index] of state.forwardedBy) {
    if (index > ctx.commitIndex) continue;
    const tracker = state.trackers.get(member);
    if (!tracker || tracker.commitSent >= index) {
      state.forwardedBy.delete(member);
      continue;
    }
    // Until it stores the entry it learns the commit with the entry.
    if (tracker.state !== "replicate" || tracker.matchIndex < index) continue;
    state.forwardedBy.delete(member);
    sendAppend(ctx, state, tracker, false);
  }
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
