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
  IsolatedLeaderError,
  NotLeaderError,
  OutcomeUnknownError,
  type RaftError,
  TransferInProgressError,
} from "./errors.ts";
import type {
  ForwardProposal,
  ForwardProposalReply,
  ForwardRead,
  ForwardReadReply,
  ForwardRefusal,
} from "./messages.ts";
import type { LogEntry, NodeId } from "./types.ts";

/** Answers kept for duplicate `propose` messages (oldest dropped first). */
const REMEMBERED_ANSWERS = 16_384;

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

/** A request another member forwarded here. */
interface Inbound {
  readonly kind: "propose" | "read";
  readonly from: NodeId;
  readonly session: string;
  readonly requestId: number;
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
  readonly #inbound = new Map<number, Inbound>();
  readonly #answers = new Map<
    string,
    {
      from: NodeId;
      session: string;
      requestId: number;
      index: number;
      term: number;
      refused: ForwardRefusal | null;
      leaderId: NodeId | null;
    }
  >();
  /** Proposals handed to the role and not answered yet (copies wait). */
  readonly #pending = new Set<string>();
  /** Per (member, session): answers below this request id were dropped. */
  readonly #forgottenBelow = new Map<string, number>();
  /** Own proposals appended by the leader but not yet known committed. */
  readonly #appended = new Map<number, { index: number; term: number }>();
  /** Own reads with a read index not yet known committed here. */
  readonly #readsAwaiting = new Map<number, number>();
  #nextInbound = 0;

  constructor(hooks: ForwardingHooks) {
    this.#hooks = hooks;
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
    node: {
      term: number;
      takesProposals: boolean;
      startTerm: number;
      leaderId: NodeId | null;
    },
  ): Extract<ClientRequest, { type: "propose" }> | null {
    const key = answerKey(message.from, message.session, message.requestId);
    const answer = this.#answers.get(key);
    if (answer) {
      this.#reply(
        message,
        answer.index,
        answer.term,
        answer.refused,
        answer.leaderId,
      );
      return null;
    }
    if (this.#pending.has(key)) return null; // its role has not answered yet
    const forgotten = message.requestId <
      (this.#forgottenBelow.get(sessionKey(message.from, message.session)) ??
        0);
    if (!forgotten && message.term === node.term && node.takesProposals) {
      const id = this.#inboundId(message, "propose");
      return { type: "propose", id, command: message.command };
    }
    // Not taken now. Whether an earlier copy was, this node knows only if it
    // was up for the whole of that term and forgot nothing since.
    const knows = !forgotten && message.term > node.startTerm;
    const refused: ForwardRefusal = knows ? "not-leader" : "unknown";
    const inbound = {
      kind: "propose" as const,
      from: message.from,
      session: message.session,
      requestId: message.requestId,
    };
    if (knows) this.#remember(inbound, 0, 0, refused, node.leaderId);
    this.#reply(message, 0, 0, refused, node.leaderId);
    return null;
  }

  /** The leader side of a `readIndex`: the read to hand to the role. */
  receivedRead(message: ForwardRead): Extract<ClientRequest, { type: "read" }> {
    return { type: "read", id: this.#inboundId(message, "read") };
  }

  #inboundId(
    message: ForwardProposal | ForwardRead,
    kind: Inbound["kind"],
  ): number {
    const id = -++this.#nextInbound;
    this.#inbound.set(id, {
      kind,
      from: message.from,
      session: message.session,
      requestId: message.requestId,
    });
    if (kind === "propose") {
      this.#pending.add(
        answerKey(message.from, message.session, message.requestId),
      );
    }
    return id;
  }

  /** Takes an inbound request off the books once its role answered. */
  #settleInbound(requestId: number): Inbound | undefined {
    const inbound = this.#inbound.get(requestId);
    if (!inbound) return undefined;
    this.#inbound.delete(requestId);
    this.#pending.delete(
      answerKey(inbound.from, inbound.session, inbound.requestId),
    );
    return inbound;
  }

  /** Refuses a read this node's role cannot take. */
  refuseRead(message: ForwardRead, leaderId: NodeId | null): void {
    this.#replyRead(message, 0, "not-leader", leaderId);
  }

  /** Whether `requestId` stands for a request another member forwarded. */
  isInbound(requestId: number): boolean {
    return requestId < 0;
  }

  /** The role found the read index of an inbound read. */
  readReady(requestId: number, index: number): void {
    const inbound = this.#settleInbound(requestId);
    if (!inbound) return;
    this.#replyRead(inbound, index, null, null);
  }

  /** The role appended an inbound proposal as `entry`. */
  appended(requestId: number, entry: LogEntry): void {
    const inbound = this.#settleInbound(requestId);
    if (!inbound) return;
    this.#remember(inbound, entry.index, entry.term, null, null);
    this.#reply(inbound, entry.index, entry.term, null, null);
  }

  /**
   * The role failed an inbound request. For a proposal only a refusal
   * before the append is answered; once appended the member tracks the
   * entry itself.
   */
  failed(requestId: number, error: RaftError, leaderId: NodeId | null): void {
    const inbound = this.#settleInbound(requestId);
    if (!inbound) return;
    // A transfer's answer names its target: the member's best next leader.
    const hint = error instanceof TransferInProgressError
      ? error.target
      : leaderId;
    if (inbound.kind === "read") {
      this.#replyRead(inbound, 0, refusalOf(error), hint);
      return;
    }
    this.#remember(inbound, 0, 0, refusalOf(error), hint);
    this.#reply(inbound, 0, 0, refusalOf(error), hint);
  }

  #replyRead(
    to: { from: NodeId; session: string; requestId: number },
    index: number,
    refused: ForwardRefusal | null,
    leaderId: NodeId | null,
  ): void {
    this.#hooks.send({
      type: "readIndexReply",
      to: to.from,
      session: to.session,
      requestId: to.requestId,
      index,
      refused,
      leaderId,
    });
  }

  #remember(
    inbound: Inbound,
    index: number,
    term: number,
    refused: ForwardRefusal | null,
    leaderId: NodeId | null,
  ): void {
    const key = answerKey(inbound.from, inbound.session, inbound.requestId);
    this.#answers.set(key, {
      from: inbound.from,
      session: inbound.session,
      requestId: inbound.requestId,
      index,
      term,
      refused,
      leaderId,
    });
    if (this.#answers.size <= REMEMBERED_ANSWERS) return;
    const [oldestKey, oldest] = this.#answers.entries().next().value!;
    this.#answers.delete(oldestKey);
    const session = sessionKey(oldest.from, oldest.session);
    const below = this.#forgottenBelow.get(session) ?? 0;
    this.#forgottenBelow.delete(session); // re-insert: newest last
    // Kept for good (one number per member run that ever forwarded this
    // much): dropping it would make a forgotten request look new.
    this.#forgottenBelow.set(session, Math.max(below, oldest.requestId + 1));
  }

  #reply(
    to: { from: NodeId; session: string; requestId: number },
    index: number,
    term: number,
    refused: ForwardRefusal | null,
    leaderId: NodeId | null,
  ): void {
    this.#hooks.send({
      type: "proposeReply",
      to: to.from,
      session: to.session,
      requestId: to.requestId,
      index,
      entryTerm: term,
      refused,
      leaderId,
    });
  }
}

function answerKey(from: NodeId, session: string, requestId: number): string {
  return `${from}\u0000${session}\u0000${requestId}`;
}

function sessionKey(from: NodeId, session: string): string {
  return `${from}\u0000${session}`;
}

function refusalOf(error: RaftError): ForwardRefusal {
  if (error instanceof IsolatedLeaderError) return "isolated";
  if (error instanceof TransferInProgressError) return "transfer";
  // Anything else a role refuses with before appending (not leader,
  // stopped) means: ask the leader, if there is one.
  return "not-leader";
}

function refusalError(
  refused: ForwardRefusal,
  leaderId: NodeId | null,
  from: NodeId,
): RaftError {
  switch (refused) {
    case "isolated":
      return new IsolatedLeaderError(
        `Cannot propose as leader ${from} cannot reach a majority (never proposed)`,
      );
    case "transfer":
      return new TransferInProgressError(leaderId ?? "another member");
    case "unknown":
      return new OutcomeUnknownError(
        0,
        `${from} cannot tell whether an earlier copy of it was appended`,
      );
    case "not-leader":
      // The hint may be the refusing node itself: it leads a newer term
      // than the one the proposal was sent in.
      return new NotLeaderError(leaderId);
  }
}
