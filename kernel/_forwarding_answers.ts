// The leader side of request forwarding (see kernel/_forwarding.ts): hands
// the requests other members forwarded here to the role under negative
// request ids, answers each when its role does, and remembers every
// proposal's answer by (member, session, request id) so a duplicated or
// delayed copy gets the same answer again instead of a second append.
import type { ClientRequest, Outgoing } from "./behavior.ts";
import { type RaftError, TransferInProgressError } from "./errors.ts";
import type {
  ForwardProposal,
  ForwardRead,
  ForwardRefusal,
} from "./messages.ts";
import type { LogEntry, NodeId } from "./types.ts";
import { refusalOf } from "./_forwarding_refusals.ts";

/** Answers kept for duplicate `propose` messages (oldest dropped first). */
const REMEMBERED_ANSWERS = 16_384;

/** A request another member forwarded here. */
interface Inbound {
  readonly kind: "propose" | "read";
  readonly from: NodeId;
  readonly session: string;
  readonly requestId: number;
}

/** What the leader side needs to know of its node to take a proposal. */
export interface LeaderView {
  readonly term: number;
  readonly takesProposals: boolean;
  readonly startTerm: number;
  readonly leaderId: NodeId | null;
}

/** Requests other members forwarded to this node, and their answers. */
export class ForwardingAnswers {
  readonly #hooks: { send(message: Outgoing): void };
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
  #nextInbound = 0;

  constructor(hooks: { send(message: Outgoing): void }) {
    this.#hooks = hooks;
  }

  /**
   * A `propose`: the request to hand to the role, or null when it was
   * answered already (a duplicate).
   */
  received(
    message: ForwardProposal,
    node: LeaderView,
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

  /** A `readIndex`: the read to hand to the role. */
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
