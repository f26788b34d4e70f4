/**
 * The leader's view of one follower: how far its log matches
 * (`matchIndex`), what to send next (`nextIndex`), and the flow-control
 * state. Every transition lives here:
 *
 * - `probe`: the leader does not know where the logs diverge; it sends one
 *   AppendEntries and waits for the answer (or the next heartbeat).
 * - `replicate`: the logs are known to match up to `matchIndex`; the leader
 *   pipelines AppendEntries without waiting, up to an in-flight window.
 * - `snapshot`: the follower needs entries the leader compacted away; the
 *   leader sends its snapshot in chunks, then probes after it.
 *
 * Trackers are part of the state a Leader hands to IsolatedLeader and back,
 * so a healed partition resumes replication where it stopped (ODL Bug 6587).
 * @module
 */
import type { NodeId, Snapshot } from "../kernel/types.ts";

/** Flow-control state of a follower tracker. */
export type TrackerState = "probe" | "replicate" | "snapshot";

/** A snapshot being sent to a follower, chunk by chunk. */
export interface SnapshotSending {
  /** The snapshot (kept even if a newer one is taken meanwhile). */
  readonly snapshot: Snapshot;
  /** Offset of the chunk in flight (= bytes the follower confirmed). */
  offset: number;
  /** When the chunk in flight was sent. */
  sentAt: number;
}

/** The leader's bookkeeping for one follower. */
export class FollowerTracker {
  /** The follower's id. */
  readonly id: NodeId;
  /** Highest index known to match the leader's log. */
  matchIndex = 0;
  /** Next index to send. */
  nextIndex: number;
  /** Flow-control state. */
  state: TrackerState = "probe";
  /** In probe: an AppendEntries is out and unanswered. */
  probeSent = false;
  /** In replicate: last index of each unacknowledged AppendEntries. */
  inflight: number[] = [];
  /** When the follower last answered anything. */
  lastContactAt: number = -Infinity;
  /** When `matchIndex` last moved. */
  lastProgressAt: number;
  /** Highest read round the follower has echoed (§6.4). */
  ackedSeq = 0;
  /** In snapshot: the transfer in progress. */
  sending: SnapshotSending | null = null;
  /** Highest commit index sent to the follower. */
  commitSent = 0;

  /** Creates a tracker that starts probing at `nextIndex`. */
  constructor(id: NodeId, nextIndex: number, now: number) {
    this.id = id;
    this.nextIndex = nextIndex;
    this.lastProgressAt = now;
  }

  /** Whether another AppendEntries with entries may go out now. */
  canSend(maxInflight: number): boolean {
    if (this.state === "snapshot") return false;
    return this.state === "probe"
      ? !this.probeSent
      : this.inflight.length < maxInflight;
  }

  /** Records an AppendEntries whose last entry is `lastIndex`. */
  sent(lastIndex: number): void {
    if (this.state === "probe") {
      this.probeSent = true;
    } else {
      this.inflight.push(lastIndex);
      this.nextIndex = lastIndex + 1;
    }
  }

  /**
   * A successful answer: the follower matches up to `matchIndex`. Returns
   * whether `matchIndex` moved.
   */
  succeeded(matchIndex: number, now: number): boolean {
    const moved = matchIndex > this.matchIndex;
    if (moved) {
      this.matchIndex = matchIndex;
      this.lastProgressAt = now;
    }
    if (this.state === "probe") {
      // Only the answer to the probe itself (or a later one) ends probing;
      // an older answer waits for the next heartbeat to retry.
      if (matchIndex >= this.nextIndex - 1) {
        this.state = "replicate";
        this.probeSent = false;
        this.inflight = [];
        this.nextIndex = this.matchIndex + 1;
      }
    } else if (moved) {
      if (this.nextIndex <= matchIndex) this.nextIndex = matchIndex + 1;
      let freed = 0;
      while (
        freed < this.inflight.length && this.inflight[freed] <= matchIndex
      ) freed++;
      if (freed > 0) this.inflight.splice(0, freed);
    }
    return moved;
  }

  /**
   * A rejection of the AppendEntries whose `prevLogIndex` was
   * `rejectedIndex`; `nextIndex` is where to look next. Stale rejections
   * are ignored. Returns whether the tracker changed.
   */
  rejected(rejectedIndex: number, nextIndex: number): boolean {
    if (this.state === "replicate") {
      // Already known to match there: the answer is older than our view.
      if (rejectedIndex <= this.matchIndex) return false;
    } else if (rejectedIndex !== this.nextIndex - 1) {
      return false;
    }
    this.becomeProbe(
      Math.max(this.matchIndex + 1, Math.min(nextIndex, rejectedIndex)),
    );
    return true;
  }

  /** Starts sending `snapshot` from its first byte. */
  becomeSnapshot(snapshot: Snapshot, now: number): void {
    this.state = "snapshot";
    this.inflight = [];
    this.probeSent = false;
    this.sending = { snapshot, offset: 0, sentAt: now };
  }

  /**
   * The follower installed the snapshot ending at `index`: its log matches
   * up to there, and probing resumes right after it.
   */
  snapshotInstalled(index: number, now: number): void {
    if (index > this.matchIndex) {
      this.matchIndex = index;
      this.lastProgressAt = now;
    }
    this.becomeProbe(index + 1);
  }

  /** Falls back to probing from `nextIndex`. */
  becomeProbe(nextIndex: number): void {
    this.sending = null;
    this.state = "probe";
    this.probeSent = false;
    this.inflight = [];
    this.nextIndex = Math.max(this.matchIndex + 1, nextIndex);
  }
}
