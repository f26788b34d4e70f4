/**
 * A Ready: the effects a core collects between two `RaftCore.takeReady`
 * calls: what to persist, what to send (and which messages may leave before
 * the write), and what to tell clients. The core owns the hard state and
 * the commit index; the collector gathers everything else. The types are
 * exported from kernel/core.ts.
 * @module
 */
import type { RaftError } from "./errors.ts";
import type { Message } from "./messages.ts";
import type { HardState, LogEntry, Snapshot } from "./types.ts";

/** A role switch, as reported to the driver. */
export interface RoleChange {
  /** Role left. */
  readonly from: string;
  /** Role taken. */
  readonly to: string;
  /** Term at the switch. */
  readonly term: number;
}

/** The effects of the inputs since the last {@linkcode RaftCore.takeReady}. */
export interface Ready {
  /** Hard state to persist before `messages` leave, or `null`. */
  readonly hardState: HardState | null;
  /** Entries to persist (replacing any stored suffix from the first one). */
  readonly entries: LogEntry[];
  /**
   * A snapshot received from the leader: persist it before `messages` leave
   * (dropping stored entries it covers, and all of them unless
   * `snapshotKeptLog`), then restore the state machine from it.
   */
  readonly snapshot: Snapshot | null;
  /** Whether the log after the installed snapshot was kept. */
  readonly snapshotKeptLog: boolean;
  /** Stored entries up to this index may be deleted (0: none). */
  readonly compactTo: number;
  /** Leader appends: may leave before the leader's own write (thesis §10.2.1). */
  readonly eagerMessages: Message[];
  /** Messages that leave only after the persist above completes. */
  readonly messages: Message[];
  /** Commit index now; apply up to `min(commitIndex, stableIndex)`. */
  readonly commitIndex: number;
  /** Proposals now in the log at (index, term). */
  readonly accepted: { requestId: number; index: number; term: number }[];
  /**
   * Requests sent to the leader (`forwardProposals`, `forwardReads`); a
   * proposal's outcome is unknown from now on until the leader answers.
   */
  readonly forwarded: number[];
  /** Reads that may be served once `index` is applied. */
  readonly reads: { requestId: number; index: number }[];
  /** Requests that failed. */
  readonly failures: { requestId: number; error: RaftError }[];
  /** Leadership transfers that completed. */
  readonly transfersDone: number[];
  /** Role switches in order. */
  readonly roleChanges: RoleChange[];
}

/** A Ready while it is being collected. */
type Collecting = { -readonly [K in keyof Ready]: Ready[K] };

function emptyReady(commitIndex: number): Collecting {
  return {
    hardState: null,
    entries: [],
    snapshot: null,
    snapshotKeptLog: false,
    compactTo: 0,
    eagerMessages: [],
    messages: [],
    commitIndex,
    accepted: [],
    forwarded: [],
    reads: [],
    failures: [],
    transfersDone: [],
    roleChanges: [],
  };
}

/** Collects one core's effects until the driver takes them. */
export class ReadyCollector {
  #ready: Collecting;
  #empty = true;

  /** Starts collecting at commit index `commitIndex`. */
  constructor(commitIndex: number) {
    this.#ready = emptyReady(commitIndex);
  }

  /** Whether nothing was collected (hard state and commit index aside). */
  get empty(): boolean {
    return this.#empty;
  }

  /** The commit index the last Ready handed out (or the initial one). */
  get commitIndex(): number {
    return this.#ready.commitIndex;
  }

  /** Queues a message to leave with this Ready. */
  message(message: Message): void {
    this.#empty = false;
    // Appends may leave before the leader's own write (thesis §10.2.1);
    // forwarded proposals and their answers depend on nothing durable.
    if (
      message.type === "append" || message.type === "propose" ||
      message.type === "proposeReply" || message.type === "readIndex" ||
      message.type === "readIndexReply"
    ) this.#ready.eagerMessages.push(message);
    else this.#ready.messages.push(message);
  }

  /** Queues entries to persist; they replace any queued suffix they overlap. */
  entries(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const pending = this.#ready.entries;
    const first = entries[0].index;
    if (pending.length > 0 && first <= pending[pending.length - 1].index) {
      pending.length = Math.max(0, first - pending[0].index);
    }
    for (const entry of entries) pending.push(entry);
    this.#empty = false;
  }

  /** Queues a snapshot from the leader to persist (`kept`: the log after it). */
  installSnapshot(snapshot: Snapshot, kept: boolean): void {
    // Entries queued for persist that the snapshot covers are moot.
    const pending = this.#ready.entries;
    const keep = pending.filter((e) => e.index > snapshot.index);
    this.#ready = {
      ...this.#ready,
      entries: kept ? keep : [],
      snapshot,
      snapshotKeptLog: kept,
    };
    this.#empty = false;
  }

  /** Stored entries up to `index` may be deleted. */
  compact(index: number): void {
    this.#ready = { ...this.#ready, compactTo: index };
    this.#empty = false;
  }

  /** A proposal is in the log at (index, term). */
  accepted(accepted: { requestId: number; index: number; term: number }): void {
    this.#empty = false;
    this.#ready.accepted.push(accepted);
  }

  /** A request was sent to the leader. */
  forwarded(requestId: number): void {
    this.#empty = false;
    this.#ready.forwarded.push(requestId);
  }

  /** A read may be served once `index` is applied. */
  read(read: { requestId: number; index: number }): void {
    this.#empty = false;
    this.#ready.reads.push(read);
  }

  /** A request failed. */
  failed(requestId: number, error: RaftError): void {
    this.#empty = false;
    this.#ready.failures.push({ requestId, error });
  }

  /** A leadership transfer completed. */
  transferDone(requestId: number): void {
    this.#empty = false;
    this.#ready.transfersDone.push(requestId);
  }

  /** The node switched role. */
  roleChanged(change: RoleChange): void {
    this.#empty = false;
    this.#ready.roleChanges.push(change);
  }

  /** Hands out what was collected and starts a new collection. */
  take(hardState: HardState | null, commitIndex: number): Ready {
    const ready: Ready = { ...this.#ready, hardState, commitIndex };
    this.#ready = emptyReady(commitIndex);
    this.#empty = true;
    return ready;
  }
}
