// Request forwarding, the part of the core that lets a client propose on
// any member (option `forwardProposals`) and read through any member
// (option `forwardReads`; a read asks the leader for a read index, §6.4, and
// is served from this member's state once it applied that far). A member
// whose role takes no client requests sends the proposal to the leader it
// knows as a `propose` message; the leader's role handles it like a local proposal under a
// negative request id, and the answer goes back as `proposeReply`: the
// (index, term) it was appended at, or why it was refused (then it was never
// appended). The member then waits for that entry like the leader does: it
// succeeds when the entry at that index and term is applied locally.
//
// A `propose` is taken only in the term it was sent in, by a leader role of
// that term. Every answer (appended or refused) is remembered by (member,
// session, request id), across terms, so a copy the network duplicates or
// delays gets the same answer again instead of a second append, or an
// append after its client was told it never was (the simulator found both:
// seed 493, a late copy appended after the refusal; seed 1572, a late copy
// refused after the first was appended). A refusal is definitive ("never
// appended") only when this node knows it: it has been up for the whole of
// the proposal's term and still remembers everything it answered for that
// session since (answers are dropped oldest first, and a request id older
// than a dropped answer is not known). Otherwise the answer is "unknown".
import type { ClientRequest, Outgoing } from "./behavior.ts";
import {
  NotLeaderError,
  OutcomeUnknownError,
  type RaftError,
} from "./errors.ts";
import type {
  ForwardProposal,
  ForwardProposalReply,
  ForwardRead,
  ForwardReadReply,
} from "./messages.ts";
import type { LogEntry, NodeId } from "./types.ts";
import { ForwardingAnswers, type LeaderView } from "./_forwarding_answers.ts";
import { refusalError } from "./_forwarding_refusals.ts";

/** What the forwarder needs from its core. */
export interface ForwardingHooks {
  send(message: Outgoing): void;
  random(): number;
  /** The core's clock. */
  now(): number;
}

/** Sessions started in this process (part of every session id). */
let sessionsStarted = 0;

/** A forwarded request seen from the member that made it. */
interface Outbound {
  readonly kind: "propose" | "read";
  readonly leaderId: NodeId;
  readonly deadline: number;
}

/** The outcome of a `readIndexReply` for the member's own read. */
export type ReadOutcome =
  | { readonly requestId: number; readonly index: number }
  | { readonly requestId: number; readonly error: RaftError };

/** The outcome of a `proposeReply` for the member's own request. */
export type ForwardOutcome =
  | {
    readonly requestId: number;
    readonly index: number;
    readonly term: number;
  }
  | { readonly requestId: number; readonly error: RaftError };

/** Both sides of proposal and read forwarding for one core. */
export class ProposalForwarder {
  readonly #hooks: ForwardingHooks;
  #session: string | null = null;
  readonly #outbound = new Map<number, Outbound>();
  /** The leader side: requests forwarded here and their answers. */
  readonly #answers: ForwardingAnswers;
  /** Own proposals appended by the leader but not yet known committed. */
  readonly #appended = new Map<number, { index: number; term: number }>();
  /** Own reads with a read index not yet known committed here. */
  readonly #readsAwaiting = new Map<number, number>();

  constructor(hooks: ForwardingHooks) {
    this.#hooks = hooks;
    this.#answers = new ForwardingAnswers(hooks);
  }

  /** Sends a local proposal to `leaderId`; it fails after `deadline`. */
  forward(
    request: Extract<ClientRequest, { type: "propose" }>,
    leaderId: NodeId,
    deadline: number,
  ): void {
    this.#outbound.set(request.id, { kind: "propose", leaderId, deadline });
    this.#hooks.send({
      type: "propose",
      to: leaderId,
      session: this.#sessionId(),
      requestId: request.id,
      command: request.command,
    });
  }

  /** Asks `leaderId` for a read index for a local read. */
  forwardRead(requestId: number, leaderId: NodeId, deadline: number): void {
    this.#outbound.set(requestId, { kind: "read", leaderId, deadline });
    this.#hooks.send({
      type: "readIndex",
      to: leaderId,
      session: this.#sessionId(),
      requestId,
    });
  }

  #sessionId(): string {
    // Drawn on first use only, so a node that never forwards consumes no
    // randomness (simulator seeds replay as before). A node restarted with
    // the same seeded random source must not reuse its last run's session
    // (its request ids start again at 1, and a leader would answer them
    // from memory), so the time and a per-process count go in too.
    this.#session ??= [
      Math.floor(this.#hooks.random() * 2 ** 52),
      Math.floor(this.#hooks.now()),
      ++sessionsStarted,
    ].map((n) => n.toString(36)).join(".");
    return this.#session;
  }

  /** Whether `requestId` is a local proposal waiting for the leader. */
  isOutbound(requestId: number): boolean {
    return this.#outbound.has(requestId);
  }

  /** The member side of a `readIndexReply`; null when it is not ours. */
  answeredRead(reply: ForwardReadReply): ReadOutcome | null {
    if (!this.#take(reply, "read")) return null;
    if (reply.refused === null) {
      this.#readsAwaiting.set(reply.requestId, reply.index);
      return { requestId: reply.requestId, index: reply.index };
    }
    return {
      requestId: reply.requestId,
      error: refusalError(reply.refused, reply.leaderId, reply.from),
    };
  }

  /** Removes and reports our outstanding request a reply answers. */
  #take(
    reply: { session: string; requestId: number },
    kind: Outbound["kind"],
  ): boolean {
    if (reply.session !== this.#session) return false; // a previous run's
    if (this.#outbound.get(reply.requestId)?.kind !== kind) return false;
    return this.#outbound.delete(reply.requestId); // else duplicate or late
  }

  /**
   * The member side of a `proposeReply` (this node now in `term`, knowing
   * `commitIndex`); null when it is not ours.
   */
  answered(
    reply: ForwardProposalReply,
    term: number,
    commitIndex: number,
  ): ForwardOutcome | null {
    if (!this.#take(reply, "propose")) return null;
    if (
      reply.refused === null && reply.entryTerm < term &&
      reply.index > commitIndex
    ) {
      // Appended in a term this node has left: as in termChanged().
      return {
        requestId: reply.requestId,
        error: new OutcomeUnknownError(
          reply.index,
          `the term moved past ${reply.entryTerm} before it was known committed`,
        ),
      };
    }
    if (reply.refused === null) {
      this.#appended.set(reply.requestId, {
        index: reply.index,
        term: reply.entryTerm,
      });
      return {
        requestId: reply.requestId,
        index: reply.index,
        term: reply.entryTerm,
      };
    }
    return {
      requestId: reply.requestId,
      error: refusalError(reply.refused, reply.leaderId, reply.from),
    };
  }

  /** Forgets appended proposals up to `commitIndex`: the apply settles them. */
  committed(commitIndex: number): void {
    for (const [requestId, at] of this.#appended) {
      if (at.index <= commitIndex) this.#appended.delete(requestId);
    }
    for (const [requestId, index] of this.#readsAwaiting) {
      if (index <= commitIndex) this.#readsAwaiting.delete(requestId);
    }
  }

  /** Whether answered requests still wait for a commit to reach this node. */
  get awaitingCommit(): boolean {
    return this.#appended.size > 0 || this.#readsAwaiting.size > 0;
  }

  /**
   * This node lost contact with any leader while answered requests wait for
   * their commit: they fail rather than wait for a partition to heal (the
   * leader's own proposals are bounded the same way, by IsolatedLeader).
   */
  orphaned(): { requestId: number; error: RaftError }[] {
    const failed = this.#failAppended(() =>
      "no leader was heard from before it was known committed"
    );
    for (const requestId of this.#readsAwaiting.keys()) {
      failed.push({
        requestId,
        error: new NotLeaderError(
          null,
          "Cannot serve the read as no leader was heard from before its read index was known committed",
        ),
      });
    }
    this.#readsAwaiting.clear();
    return failed;
  }

  /** Fails every appended proposal not yet known committed. */
  #failAppended(
    reason: (at: { index: number; term: number }) => string,
  ): { requestId: number; error: RaftError }[] {
    const failed = [...this.#appended].map(([requestId, at]) => ({
      requestId,
      error: new OutcomeUnknownError(at.index, reason(at)) as RaftError,
    }));
    this.#appended.clear();
    return failed;
  }

  /**
   * The term moved on: appended proposals not yet known committed may or
   * may not commit under the next leader, as for the leader's own pending
   * proposals when it steps down. Without this a member would wait forever
   * for an entry that a new leader dropped.
   */
  termChanged(
    commitIndex: number,
  ): { requestId: number; error: RaftError }[] {
    this.committed(commitIndex);
    return this.#failAppended((at) =>
      `the term moved past ${at.term} before it was known committed`
    );
  }

  /** Local requests whose leader did not answer by `now`. */
  expire(now: number): { requestId: number; error: RaftError }[] {
    const failed: { requestId: number; error: RaftError }[] = [];
    for (const [requestId, outbound] of this.#outbound) {
      if (outbound.deadline > now) continue;
      this.#outbound.delete(requestId);
      failed.push({
        requestId,
        // A read changes nothing: it is simply not served.
        error: outbound.kind === "read"
          ? new NotLeaderError(
            outbound.leaderId,
            `Cannot serve the read as leader ${outbound.leaderId} did not answer in time`,
          )
          : new OutcomeUnknownError(
            0,
            `leader ${outbound.leaderId} did not answer in time`,
          ),
      });
    }
    return failed;
  }

  /**
   * The leader side of a `propose`: the request to hand to the role, or
   * null when it was answered already (a duplicate).
   */
  received(
    message: ForwardProposal,
    node: LeaderView,
  ): Extract<ClientRequest, { type: "propose" }> | null {
    return this.#answers.received(message, node);
  }

  /** The leader side of a `readIndex`: the read to hand to the role. */
  receivedRead(message: ForwardRead): Extract<ClientRequest, { type: "read" }> {
    return this.#answers.receivedRead(message);
  }

  /** Refuses a read this node's role cannot take. */
  refuseRead(message: ForwardRead, leaderId: NodeId | null): void {
    this.#answers.refuseRead(message, leaderId);
  }

  /** Whether `requestId` stands for a request another member forwarded. */
  isInbound(requestId: number): boolean {
    return requestId < 0;
  }

  /** The role found the read index of an inbound read. */
  readReady(requestId: number, index: number): void {
    this.#answers.readReady(requestId, index);
  }

  /** The role appended an inbound proposal as `entry`. */
  appended(requestId: number, entry: LogEntry): void {
    this.#answers.appended(requestId, entry);
  }

  /**
   * The role failed an inbound request. For a proposal only a refusal
   * before the append is answered; once appended the member tracks the
   * entry itself.
   */
  failed(requestId: number, error: RaftError, leaderId: NodeId | null): void {
    this.#answers.failed(requestId, error, leaderId);
  }
}
