/**
 * The pure core of a node: `step(input)` changes the state and collects
 * effects (persist, send, commit, replies) that {@linkcode RaftCore.takeReady}
 * hands to the driver. No I/O, no real clock, no `Math.random`: time arrives
 * with each input and randomness from an injected source.
 *
 * The rules every role shares run here before the role's behavior sees a
 * message (§5.1): a newer term turns the node into a follower of that term,
 * a stale message is answered with the current term or dropped.
 *
 * The core trusts its input: whoever drives it (the node driver, the
 * simulator, `CoreCluster`) validates every message at the
 * boundary with `validateMessage` first.
 *
 * @example
 * ```ts
 * import { RaftCore } from "./core.ts";
 * import { defaultBehaviors } from "../behaviors/defaults.ts";
 * const core = new RaftCore({ id: "a", voters: ["a"], behaviors: defaultBehaviors() });
 * core.step({ type: "tick" }, 1000);
 * console.log(core.role); // "Candidate" (a single voter elects itself)
 * ```
 * @module
 */
import type {
  Behavior,
  BehaviorContext,
  ClientRequest,
  CoreConfig,
  Outgoing,
  TransferState,
} from "./behavior.ts";
import {
  ConfigError,
  NotLeaderError,
  type RaftError,
  TransferFailedError,
} from "./errors.ts";
import { type AcceptResult, RaftLog } from "./log.ts";
import {
  type ForwardProposal,
  type Message,
  MESSAGE_VERSION,
} from "./messages.ts";
import { ProposalForwarder } from "./_forwarding.ts";
import { type RandomSource, systemRandom } from "./random.ts";
import type { BehaviorRegistry } from "./registry.ts";
import type { HardState, Json, LogEntry, NodeId, Snapshot } from "./types.ts";

/** What the core is told. */
export type CoreInput =
  | { readonly type: "message"; readonly message: Message }
  | { readonly type: "tick" }
  | { readonly type: "client"; readonly request: ClientRequest }
  | {
    readonly type: "persisted";
    readonly index: number;
    readonly term: number;
  }
  | { readonly type: "snapshotted"; readonly snapshot: Snapshot };

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

/** Options of {@linkcode RaftCore}. */
export interface CoreOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** Voting members (may include `id`). */
  readonly voters: readonly NodeId[];
  /** Non-voting members. */
  readonly nonVoters?: readonly NodeId[];
  /** The role plugins (validated here). */
  readonly behaviors: BehaviorRegistry;
  /** Settings; defaults fill what is missing. */
  readonly config?: Partial<CoreConfig>;
  /** Randomness for election timeouts. */
  readonly random?: RandomSource;
  /** Recovered hard state. */
  readonly hardState?: HardState;
  /** Recovered log. */
  readonly log?: RaftLog;
  /** Recovered snapshot (the log starts right after it). */
  readonly snapshot?: Snapshot | null;
  /** Time at creation, in milliseconds. */
  readonly now?: number;
}

/** Default settings (150 ms election timeout, 50 ms heartbeat). */
export const DEFAULT_CONFIG: CoreConfig = {
  electionTimeoutMs: 150,
  heartbeatMs: 50,
  isolationWindowMs: 150,
  isolatedStepDownMs: 600,
  transferTimeoutMs: 300,
  preVote: true,
  maxEntriesPerAppend: 1024,
  maxAppendBytes: Number.POSITIVE_INFINITY,
  maxInflightAppends: 16,
  trailingEntries: 1_000,
  snapshotChunkBytes: 32 * 1024,
  forwardProposals: false,
  forwardReads: false,
  forwardTimeoutMs: 1_000,
};

function emptyReady(commitIndex: number): Ready {
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

/**
 * One node's protocol state and the kernel rules around its behaviors.
 *
 * @example
 * ```ts
 * import { RaftCore } from "./core.ts";
 * import { defaultBehaviors } from "../behaviors/defaults.ts";
 * const core = new RaftCore({ id: "a", voters: ["a", "b", "c"], behaviors: defaultBehaviors() });
 * console.log(core.role, core.term); // "Follower" 0
 * ```
 */
export class RaftCore {
  /** This node's id. */
  readonly id: NodeId;
  /** Settings in force. */
  readonly config: CoreConfig;
  /** The in-memory log. */
  readonly log: RaftLog;
  readonly #voters: NodeId[];
  readonly #nonVoters: NodeId[];
  readonly #peers: NodeId[];
  readonly #members: Set<NodeId>;
  readonly #registry: BehaviorRegistry;
  readonly #random: RandomSource;
  #term: number;
  /** Term at start: this node was not up for all of it (or earlier ones). */
  readonly #startTerm: number;
  #votedFor: NodeId | null;
  #leaderId: NodeId | null = null;
  #leaderContactAt = -Infinity;
  #commitIndex: number;
  #now: number;
  #behavior!: Behavior;
  #state: unknown;
  #transitioning = false;
  #deferred: { role: string; handover: unknown } | null = null;
  #transfer: TransferState | null = null;
  #snapshot: Snapshot | null;
  #hardStateDirty = false;
  #ready: Ready;
  #readyEmpty = true;
  readonly #ctx: BehaviorContext;
  readonly #forwarder: ProposalForwarder;

  /** Creates a core in the Follower role. */
  constructor(options: CoreOptions) {
    this.id = options.id;
    this.#voters = [...new Set(options.voters)];
    this.#nonVoters = [...new Set(options.nonVoters ?? [])];
    this.#members = new Set([...this.#voters, ...this.#nonVoters]);
    if (!this.#members.has(this.id)) {
      throw new ConfigError(
        `Cannot create node ${this.id} as it is neither a voter nor a non-voter`,
      );
    }
    if (this.#voters.some((id) => this.#nonVoters.includes(id))) {
      throw new ConfigError(
        "Cannot create the node as a member is listed as both voter and non-voter",
      );
    }
    if (this.#voters.length === 0) {
      throw new ConfigError("Cannot create the node as voters is empty");
    }
    this.#peers = [...this.#members].filter((id) => id !== this.id);
    const given = Object.entries(options.config ?? {}).filter(([, value]) =>
      value !== undefined
    );
    this.config = { ...DEFAULT_CONFIG, ...Object.fromEntries(given) };
    this.#registry = options.behaviors;
    this.#registry.freeze();
    this.#random = options.random ?? systemRandom;
    this.#term = options.hardState?.term ?? 0;
    this.#startTerm = this.#term;
    this.#votedFor = options.hardState?.votedFor ?? null;
    this.log = options.log ?? new RaftLog();
    this.#snapshot = options.snapshot ?? null;
    this.#commitIndex = Math.max(
      this.log.snapshotIndex,
      this.#snapshot?.index ?? 0,
    );
    this.#now = options.now ?? 0;
    this.#ready = emptyReady(this.#commitIndex);
    this.#ctx = this.#makeContext();
    this.#forwarder = new ProposalForwarder({
      send: (message) => this.#send(message),
      random: () => this.#random.next(),
      now: () => this.#now,
    });
    this.#behavior = this.#plugin("Follower");
    this.#transitioning = true;
    this.#state = this.#behavior.enter?.(this.#ctx, undefined);
    this.#transitioning = false;
    this.#runDeferred();
  }

  /** Current role name. */
  get role(): string {
    return this.#behavior.name;
  }
  /** Current term. */
  get term(): number {
    return this.#term;
  }
  /** Vote in the current term. */
  get votedFor(): NodeId | null {
    return this.#votedFor;
  }
  /** Leader of the current term, if known. */
  get leaderId(): NodeId | null {
    return this.#leaderId;
  }
  /** Highest index known committed. */
  get commitIndex(): number {
    return this.#commitIndex;
  }
  /** Voting members. */
  get voters(): readonly NodeId[] {
    return this.#voters;
  }
  /** Non-voting members. */
  get nonVoters(): readonly NodeId[] {
    return this.#nonVoters;
  }
  /** The role's own state (for tests and tools; treat as read-only). */
  get roleState(): unknown {
    return this.#state;
  }
  /** The transfer in progress, if any. */
  get transfer(): TransferState | null {
    return this.#transfer;
  }

  /** Feeds one input at time `now` (milliseconds). */
  step(input: CoreInput, now: number): void {
    if (now > this.#now) this.#now = now;
    switch (input.type) {
      case "message":
        this.#receive(input.message);
        break;
      case "tick":
        this.#behavior.onTick(this.#ctx, this.#state);
        for (const f of this.#forwarder.expire(this.#now)) {
          this.#reject(f.requestId, f.error);
        }
        if (
          this.#forwarder.awaitingCommit && this.#leaderId !== this.id &&
          this.#now - this.#leaderContactAt > 2 * this.config.electionTimeoutMs
        ) {
          for (const f of this.#forwarder.orphaned()) {
            this.#reject(f.requestId, f.error);
          }
        }
        break;
      case "client":
        this.#clientRequest(input.request);
        break;
      case "persisted":
        this.log.markStable(input.index, input.term);
        break;
      case "snapshotted":
        this.#snapshotTaken(input.snapshot);
        break;
    }
    this.#checkTransfer();
    this.#forwarder.committed(this.#commitIndex);
  }

  /** Ends a batch of inputs: lets the role batch its sends. */
  flush(): void {
    // A role taken during a flush (PreLeader -> Leader) flushes too, so work
    // it inherits (held reads) does not wait for the next input.
    for (let round = 0; round < 4; round++) {
      const behavior = this.#behavior;
      behavior.onFlush?.(this.#ctx, this.#state);
      if (this.#behavior === behavior) break;
    }
    this.#checkTransfer();
  }

  /** Whether effects are waiting in the ready. */
  get hasReady(): boolean {
    return !this.#readyEmpty || this.#hardStateDirty ||
      this.#ready.commitIndex !== this.#commitIndex;
  }

  /** Takes the collected effects and starts a new collection. */
  takeReady(): Ready {
    const ready: Ready = {
      ...this.#ready,
      hardState: this.#hardStateDirty
        ? { term: this.#term, votedFor: this.#votedFor }
        : null,
      commitIndex: this.#commitIndex,
    };
    this.#hardStateDirty = false;
    this.#ready = emptyReady(this.#commitIndex);
    this.#readyEmpty = true;
    return ready;
  }

  /** The latest snapshot held, if any. */
  get snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  /**
   * A snapshot of the local state machine is durable: keep it to send to
   * slow followers and compact the log behind it, keeping
   * `trailingEntries` and whatever the role still needs.
   */
  #snapshotTaken(snapshot: Snapshot): void {
    if (snapshot.index <= (this.#snapshot?.index ?? 0)) return;
    this.#snapshot = snapshot;
    const floor = this.#behavior.retainFrom?.(this.#ctx, this.#state) ??
      Infinity;
    const compactTo = Math.min(
      snapshot.index - this.config.trailingEntries,
      floor - 1,
      this.log.lastIndex,
    );
    if (compactTo > this.log.snapshotIndex) {
      this.log.compact(compactTo);
      this.#ready = { ...this.#ready, compactTo };
      this.#readyEmpty = false;
    }
  }

  /** Fails the transfer in progress because the node stops. */
  stopTransfer(): void {
    if (this.#transfer) {
      this.#endTransfer(
        new TransferFailedError(this.#transfer.target, "stopped"),
      );
    }
  }

  #plugin(name: string): Behavior {
    const plugin = this.#registry.get(name);
    if (!plugin) {
      throw new ConfigError(
        `Cannot switch to role "${name}" as no behavior by that name is registered`,
      );
    }
    return plugin;
  }

  #receive(message: Message): void {
    if (
      message.to !== this.id || message.from === this.id ||
      !this.#members.has(message.from)
    ) return;
    if (this.#receiveClientTraffic(message)) return;
    if (message.term > this.#term) {
      const keepsTerm = (message.type === "vote" && message.preVote) ||
        (message.type === "voteReply" && message.preVote && message.granted);
      if (!keepsTerm) {
        if (
          message.type === "vote" && !message.transfer && this.#inLease()
        ) return;
        this.#setTerm(message.term);
        if (message.type === "append" || message.type === "snapshot") {
          this.#leaderId = message.from;
        }
        if (this.#behavior.name !== "Follower") this.#become("Follower");
      }
    } else if (message.term < this.#term) {
      this.#answerStale(message);
      return;
    }
    if (
      (message.type === "append" || message.type === "snapshot") &&
      message.term === this.#term
    ) this.#leaderContactAt = this.#now;
    this.#behavior.onMessage(this.#ctx, message, this.#state);
  }

  /** A stale sender learns the current term from the answer (§5.1). */
  #answerStale(message: Message): void {
    if (message.type === "append") {
      this.#send({
        type: "appendReply",
        to: message.from,
        success: false,
        matchIndex: 0,
        rejectedIndex: message.prevLogIndex,
        hintIndex: 0,
        hintTerm: 0,
        seq: message.seq,
      });
    } else if (message.type === "snapshot") {
      this.#send({
        type: "snapshotReply",
        to: message.from,
        lastIncludedIndex: message.lastIncludedIndex,
        offset: 0,
        done: false,
      });
    } else if (message.type === "vote") {
      this.#send({
        type: "voteReply",
        to: message.from,
        granted: false,
        preVote: message.preVote,
      });
    }
  }

  #clientRequest(request: ClientRequest): void {
    if (this.#behavior.onClientRequest) {
      this.#behavior.onClientRequest(this.#ctx, request, this.#state);
      return;
    }
    const leaderId = this.#leaderId;
    const forwards = request.type === "propose"
      ? this.config.forwardProposals
      : request.type === "read" && this.config.forwardReads;
    if (forwards && leaderId !== null && leaderId !== this.id) {
      const deadline = this.#now + this.config.forwardTimeoutMs;
      if (request.type === "propose") {
        this.#forwarder.forward(request, leaderId, deadline);
      } else this.#forwarder.forwardRead(request.id, leaderId, deadline);
      this.#readyEmpty = false;
      this.#ready.forwarded.push(request.id);
      return;
    }
    this.#reject(request.id, new NotLeaderError(leaderId));
  }

  /**
   * Forwarded proposals and reads and their answers: client traffic,
   * outside the term rules. False for every Raft message.
   */
  #receiveClientTraffic(message: Message): boolean {
    switch (message.type) {
      case "propose":
        this.#receiveForwarded(message);
        return true;
      case "readIndex":
        if (this.#behavior.onClientRequest) {
          const read = this.#forwarder.receivedRead(message);
          this.#behavior.onClientRequest(this.#ctx, read, this.#state);
        } else this.#forwarder.refuseRead(message, this.#leaderId);
        return true;
      case "proposeReply":
        this.#settleForwarded(
          this.#forwarder.answered(message, this.#term, this.#commitIndex),
          this.#ready.accepted,
        );
        return true;
      case "readIndexReply":
        this.#settleForwarded(
          this.#forwarder.answeredRead(message),
          this.#ready.reads,
        );
        return true;
      default:
        return false;
    }
  }

  /** Records the leader's answer to a request this node forwarded. */
  #settleForwarded<T extends { requestId: number }>(
    outcome: T | { requestId: number; error: RaftError } | null,
    into: T[],
  ): void {
    if (outcome === null) return;
    if ("error" in outcome) {
      this.#reject(outcome.requestId, outcome.error);
      return;
    }
    this.#readyEmpty = false;
    into.push(outcome);
  }

  /**
   * A proposal another member forwarded: the role takes it when it was sent
   * in this node's own term, or it is answered from memory or refused (see
   * kernel/_forwarding.ts for when a refusal is definitive).
   */
  #receiveForwarded(message: ForwardProposal): void {
    const request = this.#forwarder.received(message, {
      term: this.#term,
      takesProposals: this.#behavior.onClientRequest !== undefined,
      startTerm: this.#startTerm,
      leaderId: this.#leaderId,
    });
    if (request === null) return;
    this.#behavior.onClientRequest!(
      this.#ctx,
      { ...request, from: message.from },
      this.#state,
    );
  }

  #inLease(): boolean {
    // A role flag (a custom leader plugin can set it); a Leader plugin that
    // does not say keeps the lease it always had.
    if (this.#behavior.holdsLease ?? this.#behavior.name === "Leader") {
      return true;
    }
    return this.#leaderId !== null && this.#leaderId !== this.id &&
      this.#now - this.#leaderContactAt < this.config.electionTimeoutMs;
  }

  #checkTransfer(): void {
    const transfer = this.#transfer;
    if (!transfer) return;
    if (this.#term > transfer.term && this.#leaderId !== null) {
      if (this.#leaderId === transfer.target) this.#endTransfer();
      else {
        this.#endTransfer(
          new TransferFailedError(
            transfer.target,
            "superseded",
            `${this.#leaderId} became leader`,
          ),
        );
      }
    } else if (this.#now >= transfer.deadline) {
      this.#endTransfer(new TransferFailedError(transfer.target, "timeout"));
    }
  }

  #endTransfer(error?: RaftError): void {
    const transfer = this.#transfer;
    if (!transfer) return;
    this.#transfer = null;
    this.#readyEmpty = false;
    if (error) {
      this.#ready.failures.push({ requestId: transfer.requestId, error });
    } else this.#ready.transfersDone.push(transfer.requestId);
  }

  #setTerm(term: number): void {
    this.#term = term;
    this.#votedFor = null;
    this.#leaderId = null;
    this.#hardStateDirty = true;
    for (const f of this.#forwarder.termChanged(this.#commitIndex)) {
      this.#reject(f.requestId, f.error);
    }
  }

  #become(role: string, handover?: unknown): void {
    if (this.#transitioning) {
      this.#deferred = { role, handover };
      return;
    }
    const next = this.#plugin(role);
    const from = this.#behavior.name;
    this.#transitioning = true;
    try {
      const out = this.#behavior.exit?.(this.#ctx, this.#state, role);
      this.#behavior = next;
      this.#state = undefined;
      this.#state = next.enter?.(
        this.#ctx,
        handover === undefined ? out : handover,
      );
    } finally {
      this.#transitioning = false;
    }
    this.#readyEmpty = false;
    this.#ready.roleChanges.push({ from, to: role, term: this.#term });
    this.#runDeferred();
  }

  #runDeferred(): void {
    const deferred = this.#deferred;
    if (deferred) {
      this.#deferred = null;
      this.#become(deferred.role, deferred.handover);
    }
  }

  #send(out: Outgoing): void {
    const message = {
      ...out,
      v: MESSAGE_VERSION,
      from: this.id,
      term: out.term ?? this.#term,
    } as Message;
    this.#readyEmpty = false;
    // Appends may leave before the leader's own write (thesis §10.2.1);
    // forwarded proposals and their answers depend on nothing durable.
    if (
      message.type === "append" || message.type === "propose" ||
      message.type === "proposeReply" || message.type === "readIndex" ||
      message.type === "readIndexReply"
    ) this.#ready.eagerMessages.push(message);
    else this.#ready.messages.push(message);
  }

  #queueEntries(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const pending = this.#ready.entries;
    const first = entries[0].index;
    if (pending.length > 0 && first <= pending[pending.length - 1].index) {
      pending.length = Math.max(0, first - pending[0].index);
    }
    for (const entry of entries) pending.push(entry);
    this.#readyEmpty = false;
  }

  #reject(requestId: number, error: RaftError): void {
    if (this.#forwarder.isInbound(requestId)) {
      this.#forwarder.failed(
        requestId,
        error,
        this.#leaderId === this.id ? null : this.#leaderId,
      );
      return;
    }
    this.#readyEmpty = false;
    this.#ready.failures.push({ requestId, error });
  }

  #makeContext(): BehaviorContext {
    // deno-lint-ignore no-this-alias
    const core = this;
    return {
      get id() {
        return core.id;
      },
      get term() {
        return core.#term;
      },
      get votedFor() {
        return core.#votedFor;
      },
      get leaderId() {
        return core.#leaderId;
      },
      get commitIndex() {
        return core.#commitIndex;
      },
      get role() {
        return core.#behavior.name;
      },
      get now() {
        return core.#now;
      },
      get config() {
        return core.config;
      },
      get voters() {
        return core.#voters;
      },
      get nonVoters() {
        return core.#nonVoters;
      },
      get peers() {
        return core.#peers;
      },
      get log() {
        return core.log;
      },
      get transfer() {
        return core.#transfer;
      },
      get snapshot() {
        return core.#snapshot;
      },
      isVoter: (id: NodeId) => core.#voters.includes(id),
      inLeaderLease: () => core.#inLease(),
      random: () => core.#random.next(),
      send: (message: Outgoing) => core.#send(message),
      become: (role: string, handover?: unknown) =>
        core.#become(role, handover),
      dispatch: (message: Message) =>
        core.#behavior.onMessage(core.#ctx, message, core.#state),
      setTerm: (term: number) => {
        if (term <= core.#term) {
          throw new RangeError(
            `Cannot move to term ${term} as the node is in term ${core.#term}`,
          );
        }
        core.#setTerm(term);
      },
      vote: (candidate: NodeId) => {
        core.#votedFor = candidate;
        core.#hardStateDirty = true;
      },
      setLeader: (leaderId: NodeId | null) => {
        core.#leaderId = leaderId;
      },
      appendOwn: (kind: LogEntry["kind"], command: Json) => {
        const entry = core.log.appendOwn(core.#term, kind, command);
        core.#queueEntries([entry]);
        return entry;
      },
      accept: (prevLogIndex, prevLogTerm, entries): AcceptResult => {
        const result = core.log.accept(prevLogIndex, prevLogTerm, entries);
        if (result.ok) core.#queueEntries(result.appended);
        return result;
      },
      installSnapshot: (snapshot: Snapshot) => {
        const kept = core.log.installSnapshot(snapshot.index, snapshot.term);
        core.#snapshot = snapshot;
        if (snapshot.index > core.#commitIndex) {
          core.#commitIndex = snapshot.index;
        }
        // Entries queued for persist that the snapshot covers are moot.
        const pending = core.#ready.entries;
        const keep = pending.filter((e) => e.index > snapshot.index);
        core.#ready = {
          ...core.#ready,
          entries: kept ? keep : [],
          snapshot,
          snapshotKeptLog: kept,
        };
        core.#readyEmpty = false;
      },
      commitTo: (index: number) => {
        const capped = Math.min(index, core.log.lastIndex);
        if (capped > core.#commitIndex) core.#commitIndex = capped;
      },
      proposalAccepted: (requestId: number, entry: LogEntry) => {
        if (core.#forwarder.isInbound(requestId)) {
          core.#forwarder.appended(requestId, entry);
          return;
        }
        core.#readyEmpty = false;
        core.#ready.accepted.push({
          requestId,
          index: entry.index,
          term: entry.term,
        });
      },
      readReady: (requestId: number, index: number) => {
        if (core.#forwarder.isInbound(requestId)) {
          core.#forwarder.readReady(requestId, index);
          return;
        }
        core.#readyEmpty = false;
        core.#ready.reads.push({ requestId, index });
      },
      reject: (requestId: number, error: RaftError) =>
        core.#reject(requestId, error),
      startTransfer: (requestId: number, target: NodeId) => {
        core.#transfer = {
          requestId,
          target,
          term: core.#term,
          deadline: core.#now + core.config.transferTimeoutMs,
          timeoutNowSent: false,
        };
        return core.#transfer;
      },
      endTransfer: (error?: RaftError) => core.#endTransfer(error),
    };
  }
}
