// Request forwarding, the part of the core that lets a client propose on
// any member (option `forwardProposals`) and read through any member
// (option `forwardReads`; a read asks the leader for a read index, §6.4, and
// is served from this member's state once it applied that far). A member whose role takes no
// client requests sends the proposal to the leader it knows as a `propose`
// message; the leader's role handles it like a local proposal under a
// negative request id, and the answer goes back as `proposeReply`: the
// (index, term) it was appended at, or why it was refused (then it was never
// appended). The member then waits for that entry like the leader does: it
// succeeds when the entry at that index and term is applied locally.
//
// A `propose` counts only in the term it was sent in: a leader takes it
// when the sender's term is its own, and remembers its answers (appended
// or refused) by (member, session, request id) for the rest of that term,
// so a duplicated or late `propose` is answered again instead of appended
// twice, or appended after its client was told it never was (found by the
// simulator: seed 493, a duplicate delivered after the refusal).
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

/** Answers the leader keeps for duplicate `propose` messages. */
const REMEMBERED_ANSWERS = 4096;

/** What the forwarder needs from its core. */
export interface ForwardingHooks {
  send(message: Outgoing): void;
  random(): number;
}

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

/** Both sides of proposal forwarding for one core. */
export class ProposalForwarder {
  readonly #hooks: ForwardingHooks;
  #session: string | null = null;
  readonly #outbound = new Map<number, Outbound>();
  readonly #inbound = new Map<number, Inbound>();
  readonly #answers = new Map<
    string,
    {
      index: number;
      term: number;
      refused: ForwardRefusal | null;
      leaderId: NodeId | null;
    }
  >();
  #answersTerm = 0;
  /** Own proposals appended by the leader but not yet known committed. */
  readonly #appended = new Map<number, { index: number; term: number }>();
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
    // randomness (simulator seeds replay as before).
    this.#session ??= Math.floor(this.#hooks.random() * 2 ** 52).toString(36);
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

  /** The member side of a `proposeReply`; null when it is not ours. */
  answered(reply: ForwardProposalReply): ForwardOutcome | null {
    if (!this.#take(reply, "propose")) return null;
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
    if (this.#appended.size === 0) return;
    for (const [requestId, at] of this.#appended) {
      if (at.index <= commitIndex) this.#appended.delete(requestId);
    }
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
    const failed: { requestId: number; error: RaftError }[] = [];
    for (const [requestId, at] of this.#appended) {
      failed.push({
        requestId,
        error: new OutcomeUnknownError(
          at.index,
          `the term moved past ${at.term} before it was known committed`,
        ),
      });
    }
    this.#appended.clear();
    return failed;
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
    term: number,
  ): Extract<ClientRequest, { type: "propose" }> | null {
    if (term !== this.#answersTerm) {
      this.#answers.clear(); // a new term: older proposals are refused below
      this.#answersTerm = term;
    }
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
    const id = this.#inboundId(message, "propose");
    return { type: "propose", id, command: message.command };
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
    return id;
  }

  /** Refuses a request this node's role cannot take. */
  refuse(
    message: ForwardProposal | ForwardRead,
    leaderId: NodeId | null,
  ): void {
    if (message.type === "readIndex") {
      this.#replyRead(message, 0, "not-leader", leaderId);
    } else this.#reply(message, 0, 0, "not-leader", leaderId);
  }

  /** Whether `requestId` stands for a request another member forwarded. */
  isInbound(requestId: number): boolean {
    return requestId < 0;
  }

  /** The role found the read index of an inbound read. */
  readReady(requestId: number, index: number): void {
    const inbound = this.#inbound.get(requestId);
    if (!inbound) return;
    this.#inbound.delete(requestId);
    this.#replyRead(inbound, index, null, null);
  }

  /** The role appended an inbound proposal as `entry`. */
  appended(requestId: number, entry: LogEntry): void {
    const inbound = this.#inbound.get(requestId);
    if (!inbound) return;
    this.#inbound.delete(requestId);
    this.#remember(inbound, entry.index, entry.term, null, null);
    this.#reply(inbound, entry.index, entry.term, null, null);
  }

  /**
   * The role failed an inbound request. For a proposal only a refusal
   * before the append is answered; once appended the member tracks the
   * entry itself.
   */
  failed(requestId: number, error: RaftError, leaderId: NodeId | null): void {
    const inbound = this.#inbound.get(requestId);
    if (!inbound) return;
    this.#inbound.delete(requestId);
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
    this.#answers.set(key, { index, term, refused, leaderId });
    if (this.#answers.size > REMEMBERED_ANSWERS) {
      this.#answers.delete(this.#answers.keys().next().value!);
    }
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
    case "not-leader":
      // The hint may be the refusing node itself: it leads a newer term
      // than the one the proposal was sent in.
      return new NotLeaderError(leaderId);
  }
}
