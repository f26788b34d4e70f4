/**
 * What a leader role sends its followers: AppendEntries batches within each
 * follower's flow-control window, heartbeats (which also re-probe stalled
 * followers and re-send lost snapshot chunks and TimeoutNow), and the early
 * commit notice to members waiting for proposals they forwarded.
 * @module
 */
import type { BehaviorContext } from "../kernel/behavior.ts";
import type { Leadership } from "./_leadership.ts";
import type { FollowerTracker } from "./_tracker.ts";
import { sendSnapshotChunk } from "./_snapshot_sending.ts";

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

/**
 * A member that forwarded a proposal completes it when it applies the
 * entry, so it must learn of the commit now: an empty AppendEntries carries
 * the commit index unless this flush already sent one.
 */
export function notifyForwarders(
  ctx: BehaviorContext,
  state: Leadership,
): void {
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
