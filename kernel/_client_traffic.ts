/**
 * A core's client traffic: a request goes to the role when the role takes
 * requests (a leader), to the leader it knows when forwarding is on
 * (`forwardProposals`, `forwardReads`), or is refused with NotLeaderError;
 * and the forwarded requests and answers other members send, which are
 * client traffic outside the term rules. Requests forwarded here are
 * answered through kernel/_forwarding.ts, the node's own through the Ready.
 * @module
 */
import type { ClientRequest, CoreConfig, Outgoing } from "./behavior.ts";
import { NotLeaderError, type RaftError } from "./errors.ts";
import type { ForwardProposal, Message } from "./messages.ts";
import type { LogEntry, NodeId } from "./types.ts";
import type { NodeState } from "./_context.ts";
import { ProposalForwarder } from "./_forwarding.ts";
import type { Ready, ReadyCollector } from "./_ready.ts";

type Accepted = Ready["accepted"][number];
type ReadyRead = Ready["reads"][number];

/** What client traffic needs from its core. */
export interface ClientTrafficHooks {
  readonly id: NodeId;
  readonly config: CoreConfig;
  readonly node: NodeState;
  readonly ready: ReadyCollector;
  /** Term at start: this node was not up for all of it (or earlier ones). */
  readonly startTerm: number;
  /** Whether the current role takes client requests itself. */
  takesRequests(): boolean;
  /** Hands a request to the current role. */
  toRole(request: ClientRequest): void;
  send(message: Outgoing): void;
  random(): number;
}

/** Routes one core's client requests, local and forwarded. */
export class ClientTraffic {
  readonly #hooks: ClientTrafficHooks;
  readonly #forwarder: ProposalForwarder;

  /** Forwards through `hooks.send`. */
  constructor(hooks: ClientTrafficHooks) {
    this.#hooks = hooks;
    this.#forwarder = new ProposalForwarder({
      send: (message) => hooks.send(message),
      random: () => hooks.random(),
      now: () => hooks.node.now,
    });
  }

  /** A request of this node's client. */
  request(request: ClientRequest): void {
    const h = this.#hooks;
    if (h.takesRequests()) {
      h.toRole(request);
      return;
    }
    const leaderId = h.node.leaderId;
    const forwards = request.type === "propose"
      ? h.config.forwardProposals
      : request.type === "read" && h.config.forwardReads;
    if (forwards && leaderId !== null && leaderId !== h.id) {
      const deadline = h.node.now + h.config.forwardTimeoutMs;
      if (request.type === "propose") {
        this.#forwarder.forward(request, leaderId, deadline);
      } else this.#forwarder.forwardRead(request.id, leaderId, deadline);
      h.ready.forwarded(request.id);
      return;
    }
    this.reject(request.id, new NotLeaderError(leaderId));
  }

  /**
   * Forwarded proposals and reads and their answers: client traffic,
   * outside the term rules. False for every Raft message.
   */
  receive(message: Message): boolean {
    const h = this.#hooks;
    switch (message.type) {
      case "propose":
        this.#receiveForwarded(message);
        return true;
      case "readIndex":
        if (h.takesRequests()) {
          h.toRole(this.#forwarder.receivedRead(message));
        } else this.#forwarder.refuseRead(message, h.node.leaderId);
        return true;
      case "proposeReply":
        this.#settleForwarded<Accepted>(
          this.#forwarder.answered(message, h.node.term, h.node.commitIndex),
          (accepted) => h.ready.accepted(accepted),
        );
        return true;
      case "readIndexReply":
        this.#settleForwarded<ReadyRead>(
          this.#forwarder.answeredRead(message),
          (read) => h.ready.read(read),
        );
        return true;
      default:
        return false;
    }
  }

  /** Fails forwarded requests whose deadline passed or whose leader is gone. */
  tick(): void {
    const h = this.#hooks;
    for (const f of this.#forwarder.expire(h.node.now)) {
      this.reject(f.requestId, f.error);
    }
    if (
      this.#forwarder.awaitingCommit && h.node.leaderId !== h.id &&
      h.node.now - h.node.leaderContactAt > 2 * h.config.electionTimeoutMs
    ) {
      for (const f of this.#forwarder.orphaned()) {
        this.reject(f.requestId, f.error);
      }
    }
  }

  /** The term changed: forwarded requests of the old one may fail. */
  termChanged(): void {
    for (const f of this.#forwarder.termChanged(this.#hooks.node.commitIndex)) {
      this.reject(f.requestId, f.error);
    }
  }

  /** The commit index may have moved. */
  committed(): void {
    this.#forwarder.committed(this.#hooks.node.commitIndex);
  }

  /** Tells the client its proposal sits at (index, term) in the log. */
  proposalAccepted(requestId: number, entry: LogEntry): void {
    if (this.#forwarder.isInbound(requestId)) {
      this.#forwarder.appended(requestId, entry);
      return;
    }
    this.#hooks.ready.accepted({
      requestId,
      index: entry.index,
      term: entry.term,
    });
  }

  /** Tells the client its read may be served once `index` is applied. */
  readReady(requestId: number, index: number): void {
    if (this.#forwarder.isInbound(requestId)) {
      this.#forwarder.readReady(requestId, index);
      return;
    }
    this.#hooks.ready.read({ requestId, index });
  }

  /** Fails a request (a forwarded one is answered to its member). */
  reject(requestId: number, error: RaftError): void {
    const h = this.#hooks;
    if (this.#forwarder.isInbound(requestId)) {
      this.#forwarder.failed(
        requestId,
        error,
        h.node.leaderId === h.id ? null : h.node.leaderId,
      );
      return;
    }
    h.ready.failed(requestId, error);
  }

  /** Records the leader's answer to a request this node forwarded. */
  #settleForwarded<T extends { requestId: number }>(
    outcome: T | { requestId: number; error: RaftError } | null,
    record: (outcome: T) => void,
  ): void {
    if (outcome === null) return;
    if ("error" in outcome) {
      this.reject(outcome.requestId, outcome.error);
      return;
    }
    record(outcome);
  }

  /**
   * A proposal another member forwarded: the role takes it when it was sent
   * in this node's own term, or it is answered from memory or refused (see
   * kernel/_forwarding.ts for when a refusal is definitive).
   */
  #receiveForwarded(message: ForwardProposal): void {
    const h = this.#hooks;
    const request = this.#forwarder.received(message, {
      term: h.node.term,
      takesProposals: h.takesRequests(),
      startTerm: h.startTerm,
      leaderId: h.node.leaderId,
    });
    if (request === null) return;
    h.toRole({ ...request, from: message.from });
  }
}
