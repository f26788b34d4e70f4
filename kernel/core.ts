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
import { ConfigError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { type Message, MESSAGE_VERSION } from "./messages.ts";
import { type RandomSource, systemRandom } from "./random.ts";
import type { BehaviorRegistry } from "./registry.ts";
import type { NodeId, Snapshot } from "./types.ts";
import { ClientTraffic } from "./_client_traffic.ts";
import { makeContext, type NodeState } from "./_context.ts";
import { checkMembers, type CoreOptions, withDefaults } from "./_options.ts";
import { type Ready, ReadyCollector } from "./_ready.ts";
import { staleReply } from "./_stale_reply.ts";
import { TransferTracker } from "./_transfer.ts";

export { type CoreOptions, DEFAULT_CONFIG } from "./_options.ts";
export type { Ready, RoleChange } from "./_ready.ts";

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
  readonly #members: Set<NodeId>;
  readonly #registry: BehaviorRegistry;
  readonly #random: RandomSource;
  /** Term at start: this node was not up for all of it (or earlier ones). */
  readonly #startTerm: number;
  readonly #node: NodeState;
  #behavior!: Behavior;
  #state: unknown;
  #transitioning = false;
  #deferred: { role: string; handover: unknown } | null = null;
  readonly #ready: ReadyCollector;
  readonly #transfer: TransferTracker;
  readonly #traffic: ClientTraffic;
  readonly #ctx: BehaviorContext;

  /** Creates a core in the Follower role. */
  constructor(options: CoreOptions) {
    this.id = options.id;
    const members = checkMembers(this.id, options.voters, options.nonVoters);
    this.#voters = members.voters;
    this.#nonVoters = members.nonVoters;
    this.#members = members.members;
    const peers = [...this.#members].filter((id) => id !== this.id);
    this.config = withDefaults(options.config);
    this.#registry = options.behaviors;
    this.#registry.freeze();
    this.#random = options.random ?? systemRandom;
    const term = options.hardState?.term ?? 0;
    this.#startTerm = term;
    this.log = options.log ?? new RaftLog();
    const snapshot = options.snapshot ?? null;
    const node: NodeState = {
      term,
      votedFor: options.hardState?.votedFor ?? null,
      leaderId: null,
      leaderContactAt: -Infinity,
      commitIndex: Math.max(this.log.snapshotIndex, snapshot?.index ?? 0),
      now: options.now ?? 0,
      snapshot,
      hardStateDirty: false,
    };
    this.#node = node;
    this.#ready = new ReadyCollector(node.commitIndex);
    this.#transfer = new TransferTracker(this.#ready);
    this.#traffic = new ClientTraffic({
      id: this.id,
      config: this.config,
      node,
      ready: this.#ready,
      startTerm: this.#startTerm,
      takesRequests: () => this.#behavior.onClientRequest !== undefined,
      toRole: (request) =>
        this.#behavior.onClientRequest!(this.#ctx, request, this.#state),
      send: (message) => this.#send(message),
      random: () => this.#random.next(),
    });
    this.#ctx = makeContext(node, {
      id: this.id,
      config: this.config,
      log: this.log,
      voters: this.#voters,
      nonVoters: this.#nonVoters,
      peers,
      ready: this.#ready,
      transfer: this.#transfer,
      traffic: this.#traffic,
      role: () => this.#behavior.name,
      inLease: () => this.#inLease(),
      random: () => this.#random.next(),
      send: (message) => this.#send(message),
      become: (role, handover) => this.#become(role, handover),
      dispatch: (message) =>
        this.#behavior.onMessage(this.#ctx, message, this.#state),
      setTerm: (term) => this.#setTerm(term),
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
    return this.#node.term;
  }
  /** Vote in the current term. */
  get votedFor(): NodeId | null {
    return this.#node.votedFor;
  }
  /** Leader of the current term, if known. */
  get leaderId(): NodeId | null {
    return this.#node.leaderId;
  }
  /** Highest index known committed. */
  get commitIndex(): number {
    return this.#node.commitIndex;
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
    return this.#transfer.current;
  }

  /** Feeds one input at time `now` (milliseconds). */
  step(input: CoreInput, now: number): void {
    if (now > this.#node.now) this.#node.now = now;
    switch (input.type) {
      case "message":
        this.#receive(input.message);
        break;
      case "tick":
        this.#behavior.onTick(this.#ctx, this.#state);
        this.#traffic.tick();
        break;
      case "client":
        this.#traffic.request(input.request);
        break;
      case "persisted":
        this.log.markStable(input.index, input.term);
        break;
      case "snapshotted":
        this.#snapshotTaken(input.snapshot);
        break;
    }
    this.#checkTransfer();
    this.#traffic.committed();
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
    return !this.#ready.empty || this.#node.hardStateDirty ||
      this.#ready.commitIndex !== this.#node.commitIndex;
  }

  /** Takes the collected effects and starts a new collection. */
  takeReady(): Ready {
    const node = this.#node;
    const ready = this.#ready.take(
      node.hardStateDirty ? { term: node.term, votedFor: node.votedFor } : null,
      node.commitIndex,
    );
    node.hardStateDirty = false;
    return ready;
  }

  /** The latest snapshot held, if any. */
  get snapshot(): Snapshot | null {
    return this.#node.snapshot;
  }

  /**
   * A snapshot of the local state machine is durable: keep it to send to
   * slow followers and compact the log behind it, keeping
   * `trailingEntries` and whatever the role still needs.
   */
  #snapshotTaken(snapshot: Snapshot): void {
    if (snapshot.index <= (this.#node.snapshot?.index ?? 0)) return;
    this.#node.snapshot = snapshot;
    const floor = this.#behavior.retainFrom?.(this.#ctx, this.#state) ??
      Infinity;
    const compactTo = Math.min(
      snapshot.index - this.config.trailingEntries,
      floor - 1,
      this.log.lastIndex,
    );
    if (compactTo > this.log.snapshotIndex) {
      this.log.compact(compactTo);
      this.#ready.compact(compactTo);
    }
  }

  /** Fails the transfer in progress because the node stops. */
  stopTransfer(): void {
    this.#transfer.stop();
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
    const node = this.#node;
    if (
      message.to !== this.id || message.from === this.id ||
      !this.#members.has(message.from)
    ) return;
    if (this.#traffic.receive(message)) return;
    if (message.term > node.term) {
      const keepsTerm = (message.type === "vote" && message.preVote) ||
        (message.type === "voteReply" && message.preVote && message.granted);
      if (!keepsTerm) {
        if (
          message.type === "vote" && !message.transfer && this.#inLease()
        ) return;
        this.#setTerm(message.term);
        if (message.type === "append" || message.type === "snapshot") {
          node.leaderId = message.from;
        }
        if (this.#behavior.name !== "Follower") this.#become("Follower");
      }
    } else if (message.term < node.term) {
      // A stale sender learns the current term from the answer (§5.1).
      const reply = staleReply(message);
      if (reply) this.#send(reply);
      return;
    }
    if (
      (message.type === "append" || message.type === "snapshot") &&
      message.term === node.term
    ) node.leaderContactAt = node.now;
    this.#behavior.onMessage(this.#ctx, message, this.#state);
  }

  #inLease(): boolean {
    // A role flag (a custom leader plugin can set it); a Leader plugin that
    // does not say keeps the lease it always had.
    if (this.#behavior.holdsLease ?? this.#behavior.name === "Leader") {
      return true;
    }
    const node = this.#node;
    return node.leaderId !== null && node.leaderId !== this.id &&
      node.now - node.leaderContactAt < this.config.electionTimeoutMs;
  }

  #checkTransfer(): void {
    this.#transfer.check(this.#node.term, this.#node.leaderId, this.#node.now);
  }

  #setTerm(term: number): void {
    const node = this.#node;
    node.term = term;
    node.votedFor = null;
    node.leaderId = null;
    node.hardStateDirty = true;
    this.#traffic.termChanged();
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
    this.#ready.roleChanged({ from, to: role, term: this.#node.term });
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
    this.#ready.message(
      {
        ...out,
        v: MESSAGE_VERSION,
        from: this.id,
        term: out.term ?? this.#node.term,
      } as Message,
    );
  }
}
