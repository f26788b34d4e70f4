/**
 * The leader side of InstallSnapshot (§7): one chunk in flight per
 * follower, each answer naming the offset the follower wants next (so a
 * lost chunk resumes instead of restarting), and the compaction floor that
 * keeps the entries right after a snapshot still being sent.
 * @module
 */
import type { BehaviorContext } from "../kernel/behavior.ts";
import { encodeChunk, type InstallSnapshotReply } from "../kernel/messages.ts";
import type { FollowerTracker } from "./_tracker.ts";

/** Sends the chunk at the tracker's offset of the snapshot it is sending. */
export function sendSnapshotChunk(
  ctx: BehaviorContext,
  tracker: FollowerTracker,
): void {
  const sending = tracker.sending!;
  const { snapshot } = sending;
  const total = snapshot.data.byteLength;
  const end = Math.min(total, sending.offset + ctx.config.snapshotChunkBytes);
  sending.sentAt = ctx.now;
  ctx.send({
    type: "snapshot",
    to: tracker.id,
    lastIncludedIndex: snapshot.index,
    lastIncludedTerm: snapshot.term,
    offset: sending.offset,
    total,
    data: encodeChunk(snapshot.data.subarray(sending.offset, end)),
    done: end === total,
    voters: snapshot.voters,
    nonVoters: snapshot.nonVoters,
  });
}

/**
 * Handles a follower's answer to a chunk. Returns whether the follower
 * installed the snapshot (its match index moved: commit may advance).
 */
export function snapshotReplied(
  ctx: BehaviorContext,
  tracker: FollowerTracker,
  reply: InstallSnapshotReply,
): boolean {
  if (reply.done) {
    // Installed (possibly a transfer we had given up on): logs match there.
    if (
      reply.lastIncludedIndex > tracker.matchIndex ||
      tracker.state === "snapshot"
    ) {
      tracker.snapshotInstalled(reply.lastIncludedIndex, ctx.now);
      return true;
    }
    return false;
  }
  const sending = tracker.sending;
  if (
    tracker.state !== "snapshot" || !sending ||
    sending.snapshot.index !== reply.lastIncludedIndex ||
    reply.offset === sending.offset ||
    reply.offset > sending.snapshot.data.byteLength
  ) return false;
  // Move on to the offset the follower wants: the next chunk, or back to
  // where it lost track (resume rather than restart).
  sending.offset = reply.offset;
  sendSnapshotChunk(ctx, tracker);
  return false;
}

/** The lowest log index still needed: right after any snapshot in transfer. */
export function snapshotFloor(trackers: Iterable<FollowerTracker>): number {
  let floor = Infinity;
  for (const tracker of trackers) {
    if (tracker.sending) {
      floor = Math.min(floor, tracker.sending.snapshot.index + 1);
    }
  }
  return floor;
}
