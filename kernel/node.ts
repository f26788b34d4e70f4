/**
 * The driver: one async loop per node around the pure core. Each turn it
 * takes every input queued since the last turn (messages, ticks, client
 * requests), steps the core, then carries out the effects in the order
 * safety needs: **persist → send → apply → reply**. A leader's own appends
 * leave before its write completes (thesis §10.2.1) but it counts itself
 * toward commit only once the write is durable. Inputs that arrive during a
 * persist go into the next one (group commit).
 *
 * @example
 * ```ts
 * import { createNode } from "./node.ts";
 * import { defaultBehaviors } from "../behaviors/defaults.ts";
 * import { MemoryNetwork } from "../transports/memory.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const net = new MemoryNetwork();
 * const node = createNode({
 *   id: "a", voters: ["a"], transport: net.connect("a"),
 *   storage: new MemoryStorage(), behaviors: defaultBehaviors(),
 *   stateMachine: { apply: (command) => command },
 * });
 * await node.start();
 * await node.stop();
 * ```
 * @module
 */
import { soon, yieldNow } from "./async.ts";
import type { CoreConfig } from "./behavior.ts";
import { type Clock, systemClock, type TimerId } from "./clock.ts";
import { type CoreInput, RaftCore, type Ready } from "./core.ts";
import {
  ConfigError,
  OutcomeUnknownError,
  type RaftError,
  StoppedError,
  StorageError,
} from "./errors.ts";
import { Emitter } from "./events.ts";
import { RaftLog } from "./log.ts";
import { validateMessage } from "./messages.ts";
import type { RandomSource } from "./random.ts";
import type { BehaviorRegistry } from "./registry.ts";
import type { Transport } from "./transport.ts";
import type { HardState, Json, LogEntry, NodeId, Snapshot } from "./types.ts";
import type { Storage } from "../storage/storage.ts";

/** The application state machine a node feeds committed commands to. */
export interface StateMachine<R = Json> {
  /** Applies a committed command; the result is handed back by `propose`. */
  apply(command: Json, index: number): R | Promise<R>;
  /**
   * Serializes the state as of the last applied command. It must capture
   * that state before it returns (applies go on while a returned promise is
   * pending) and should yield while it serializes a large state, so the
   * node keeps sending heartbeats.
   */
  snapshot?(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with a snapshot's. */
  restore?(data: Uint8Array): void | Promise<void>;
}

/** Options of {@linkcode createNode}. */
export interface NodeOptions<R = Json> extends Partial<CoreConfig> {
  /** This node's id. */
  readonly id: NodeId;
  /** Voting members (the full list, this node included if it votes). */
  readonly voters: readonly NodeId[];
  /** Non-voting members. */
  readonly nonVoters?: readonly NodeId[];
  /** How this node reaches its peers. */
  readonly transport: Transport;
  /** Where this node keeps its term, vote and log. */
  readonly storage: Storage;
  /** The application. */
  readonly stateMachine: StateMachine<R>;
  /** The role plugins, e.g. `defaultBehaviors()`. */
  readonly behaviors: BehaviorRegistry;
  /** Time and timers (default: real time). */
  readonly clock?: Clock;
  /** Randomness for election timeouts (default: `Math.random`). */
  readonly random?: RandomSource;
  /** Interval of the protocol timer (default: heartbeat / 5, at least 1). */
  readonly tickMs?: number;
  /**
   * Take a snapshot after this many entries were applied since the last one
   * (default 10,000 when the state machine has `snapshot()`; 0 turns it off).
   */
  readonly snapshotThreshold?: number;
}

/** What a committed proposal returns. */
export interface ProposalResult<R = Json> {
  /** Log index of the entry. */
  readonly index: number;
  /** Term of the entry. */
  readonly term: number;
  /** What the state machine's `apply` returned. */
  readonly result: R;
}

/** Options of a single proposal. */
export interface ProposeOptions {
  /**
   * Give up after this long: before the entry is appended the proposal
   * fails with {@linkcode StoppedError}-like certainty (never proposed),
   * after it with {@linkcode OutcomeUnknownError}.
   */
  readonly timeoutMs?: number;
}

/** The events a node emits. */
export interface NodeEvents {
  /** The node switched role. */
  roleChange: {
    readonly id: NodeId;
    readonly from: string;
    readonly to: string;
    readonly term: number;
    readonly at: number;
  };
  /** The commit index moved. */
  commit: { readonly id: NodeId; readonly commitIndex: number };
  /** Entries were applied up to `lastApplied`. */
  apply: { readonly id: NodeId; readonly lastApplied: number };
  /** A snapshot was taken locally or installed from the leader. */
  snapshot: {
    readonly id: NodeId;
    readonly index: number;
    readonly source: "local" | "leader";
  };
  /** Something went wrong (a storage failure stops the node). */
  error: { readonly id: NodeId; readonly error: unknown };
}

/** A running Raft member. */
export interface RaftNode<R = Json> extends AsyncDisposable {
  /** This node's id. */
  readonly id: NodeId;
  /** Current role name. */
  readonly role: string;
  /** Current term. */
  readonly term: number;
  /** The leader this node knows of, or `null`. */
  readonly leaderId: NodeId | null;
  /** Highest index known committed. */
  readonly commitIndex: number;
  /** Highest index applied to the state machine. */
  readonly lastApplied: number;
  /** Whether the node has stopped (by `stop()` or a storage failure). */
  readonly stopped: boolean;
  /** Loads storage and starts the protocol. */
  start(): Promise<void>;
  /** Proposes a command; resolves once it is committed and applied. */
  propose(command: Json, options?: ProposeOptions): Promise<ProposalResult<R>>;
  /** Linearizable read barrier (§6.4): resolves with the read index once applied. */
  readIndex(): Promise<number>;
  /** Hands leadership to `target` (thesis §3.10). */
  transferLeadership(target: NodeId): Promise<void>;
  /** Stops the node; idempotent. */
  stop(): Promise<void>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof NodeEvents>(
    type: K,
    listener: (event: NodeEvents[K]) => void,
  ): () => void;
  /** Unsubscribes a listener. */
  off<K extends keyof NodeEvents>(
    type: K,
    listener: (event: NodeEvents[K]) => void,
  ): void;
}

interface Pending {
  readonly kind: "propose" | "read" | "transfer";
  // deno-lint-ignore no-explicit-any
  readonly resolve: (value: any) => void;
  readonly reject: (error: unknown) => void;
  index: number;
  term: number;
  timer?: TimerId;
}

const APPLY_SLICE_MS = 5;

function checkOptions<R>(options: NodeOptions<R>): void {
  if (typeof options.id !== "string" || options.id.length === 0) {
    throw new ConfigError("Cannot create a node as its id is empty");
  }
  for (const key of ["electionTimeoutMs", "heartbeatMs"] as const) {
    const value = options[key];
    if (value !== undefined && !(value > 0)) {
      throw new ConfigError(`Cannot create a node as ${key} must be > 0`);
    }
  }
  const election = options.electionTimeoutMs ?? 150;
  const heartbeat = options.heartbeatMs ?? 50;
  if (heartbeat >= election) {
    throw new ConfigError(
      `Cannot create a node as heartbeatMs (${heartbeat}) must be below electionTimeoutMs (${election})`,
    );
  }
  if (!options.transport || !options.storage || !options.stateMachine) {
    throw new ConfigError(
      "Cannot create a node without transport, storage and stateMachine",
    );
  }
  if (!options.behaviors) {
    throw new ConfigError(
      "Cannot create a node without behaviors (pass defaultBehaviors())",
    );
  }
}

/**
 * Creates a node. Nothing happens until `start()`.
 *
 * @example
 * ```ts
 * import { createNode } from "./node.ts";
 * import { defaultBehaviors } from "../behaviors/defaults.ts";
 * import { MemoryNetwork } from "../transports/memory.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const net = new MemoryNetwork();
 * await using node = createNode({
 *   id: "a", voters: ["a"], transport: net.connect("a"),
 *   storage: new MemoryStorage(), behaviors: defaultBehaviors(),
 *   stateMachine: { apply: (command) => command },
 *   electionTimeoutMs: 20, heartbeatMs: 5,
 * });
 * await node.start();
 * ```
 */
export function createNode<R = Json>(options: NodeOptions<R>): RaftNode<R> {
  checkOptions(options);
  return new NodeDriver(options);
}

class NodeDriver<R> implements RaftNode<R> {
  readonly id: NodeId;
  readonly #options: NodeOptions<R>;
  readonly #clock: Clock;
  readonly #events: Emitter<NodeEvents & Record<string, unknown>>;
  #core: RaftCore | null = null;
  #inputs: CoreInput[] = [];
  #running = false;
  #idle: Promise<void> = Promise.resolve();
  #stopped = false;
  #started = false;
  #stopping: Promise<void> | null = null;
  #tickTimer: TimerId | null = null;
  #nextRequest = 1;
  #requests = new Map<number, Pending>();
  #byIndex = new Map<number, number>();
  #reads: { requestId: number; index: number }[] = [];
  #lastApplied = 0;
  #reportedCommit = 0;
  #writes: Ready[] = [];
  #writing = false;
  #written: Promise<void> = Promise.resolve();
  #storageTail: Promise<void> = Promise.resolve();
  #snapshotting = false;
  #restoring = false;
  #installedDurable = 0;

  constructor(options: NodeOptions<R>) {
    this.id = options.id;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#events = new Emitter((error) =>
      queueMicrotask(() => {
        throw error;
      })
    );
  }

  get role(): string {
    return this.#core?.role ?? "Follower";
  }
  get term(): number {
    return this.#core?.term ?? 0;
  }
  get leaderId(): NodeId | null {
    return this.#core?.leaderId ?? null;
  }
  get commitIndex(): number {
    return this.#core?.commitIndex ?? 0;
  }
  get lastApplied(): number {
    return this.#lastApplied;
  }
  get stopped(): boolean {
    return this.#stopped;
  }

  on<K extends keyof NodeEvents>(
    type: K,
    listener: (event: NodeEvents[K]) => void,
  ): () => void {
    return this.#events.on(type, listener);
  }

  off<K extends keyof NodeEvents>(
    type: K,
    listener: (event: NodeEvents[K]) => void,
  ): void {
    this.#events.off(type, listener);
  }

  async start(): Promise<void> {
    if (this.#started) {
      throw new ConfigError(`Cannot start node ${this.id} twice`);
    }
    this.#started = true;
    const o = this.#options;
    let persisted;
    try {
      persisted = await o.storage.load();
    } catch (error) {
      this.#stopped = true;
      throw new StorageError(`Cannot start node ${this.id}: load failed`, {
        cause: error,
      });
    }
    const snapshot = persisted.snapshot;
    if (snapshot) {
      if (!o.stateMachine.restore) {
        this.#stopped = true;
        throw new ConfigError(
          `Cannot start node ${this.id} as its storage holds a snapshot and the state machine has no restore()`,
        );
      }
      await o.stateMachine.restore(snapshot.data);
    }
    // Entries a snapshot covers are already in the restored state.
    const entries = snapshot
      ? persisted.entries.filter((e) => e.index > snapshot.index)
      : persisted.entries;
    this.#core = new RaftCore({
      id: o.id,
      voters: o.voters,
      nonVoters: o.nonVoters,
      behaviors: o.behaviors,
      config: {
        electionTimeoutMs: o.electionTimeoutMs,
        heartbeatMs: o.heartbeatMs,
        isolationWindowMs: o.isolationWindowMs ?? o.electionTimeoutMs,
        transferTimeoutMs: o.transferTimeoutMs ??
          (o.electionTimeoutMs !== undefined
            ? 2 * o.electionTimeoutMs
            : undefined),
        preVote: o.preVote,
        maxEntriesPerAppend: o.maxEntriesPerAppend,
        maxInflightAppends: o.maxInflightAppends,
        trailingEntries: o.trailingEntries,
        snapshotChunkBytes: o.snapshotChunkBytes,
      } as Partial<CoreConfig>,
      random: o.random,
      hardState: persisted.hardState,
      log: new RaftLog(entries, snapshot?.index ?? 0, snapshot?.term ?? 0),
      snapshot,
      now: this.#clock.now(),
    });
    this.#lastApplied = snapshot?.index ?? 0;
    o.transport.setHandler((raw) => this.#receive(raw));
    this.#scheduleTick();
  }

  propose(
    command: Json,
    options: ProposeOptions = {},
  ): Promise<ProposalResult<R>> {
    return this.#request("propose", (id) => ({
      type: "propose",
      id,
      command,
    }), options.timeoutMs);
  }

  readIndex(): Promise<number> {
    return this.#request("read", (id) => ({ type: "read", id }));
  }

  transferLeadership(target: NodeId): Promise<void> {
    return this.#request(
      "transfer",
      (id) => ({ type: "transfer", id, target }),
    );
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown(null);
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #shutdown(cause: unknown): Promise<void> {
    this.#stopped = true;
    if (this.#tickTimer !== null) this.#clock.clearTimeout(this.#tickTimer);
    this.#tickTimer = null;
    await this.#idle;
    await this.#written;
    await this.#storageTail;
    this.#core?.stopTransfer();
    if (this.#core?.hasReady) {
      for (const f of this.#core.takeReady().failures) {
        this.#fail(f.requestId, f.error);
      }
    }
    for (const [requestId, pending] of this.#requests) {
      let error: RaftError;
      if (cause !== null) {
        error = new StorageError(
          `Cannot finish the request as node ${this.id} stopped on a storage failure`,
          { cause },
        );
      } else if (pending.kind === "propose" && pending.index > 0) {
        error = new OutcomeUnknownError(pending.index, "the node stopped");
      } else error = new StoppedError(this.id);
      this.#fail(requestId, error);
    }
    this.#byIndex.clear();
    this.#reads = [];
    await this.#options.transport.close?.();
  }

  #request<T>(
    kind: Pending["kind"],
    make: (id: number) => Extract<CoreInput, { type: "client" }>["request"],
    timeoutMs?: number,
  ): Promise<T> {
    if (this.#stopped || !this.#core) {
      return Promise.reject(
        this.#core ? new StoppedError(this.id) : new StoppedError(
          this.id,
          `Cannot serve the request as node ${this.id} has not started`,
        ),
      );
    }
    const id = this.#nextRequest++;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { kind, resolve, reject, index: 0, term: 0 };
      if (timeoutMs !== undefined) {
        pending.timer = this.#clock.setTimeout(() => {
          this.#fail(
            id,
            pending.index > 0
              ? new OutcomeUnknownError(pending.index, "the deadline passed")
              : new StoppedError(
                this.id,
                `Cannot finish the request as its deadline of ${timeoutMs} ms passed before it was proposed`,
              ),
          );
        }, timeoutMs);
      }
      this.#requests.set(id, pending);
      this.#enqueue({ type: "client", request: make(id) });
    });
  }

  #fail(requestId: number, error: unknown): void {
    const pending = this.#requests.get(requestId);
    if (!pending) return;
    this.#requests.delete(requestId);
    if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
    if (pending.index > 0 && pending.kind === "propose") {
      this.#byIndex.delete(pending.index);
    }
    pending.reject(error);
  }

  #settle(requestId: number, value: unknown): void {
    const pending = this.#requests.get(requestId);
    if (!pending) return;
    this.#requests.delete(requestId);
    if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
    pending.resolve(value);
  }

  #receive(raw: unknown): void {
    if (this.#stopped) return;
    let message;
    try {
      message = validateMessage(raw);
    } catch {
      // Malformed input changes nothing; transports report it to senders.
      return;
    }
    this.#enqueue({ type: "message", message });
  }

  #scheduleTick(): void {
    const o = this.#options;
    const tickMs = o.tickMs ??
      Math.max(1, Math.floor((o.heartbeatMs ?? 50) / 5));
    this.#tickTimer = this.#clock.setTimeout(() => {
      if (this.#stopped) return;
      this.#enqueue({ type: "tick" });
      this.#scheduleTick();
    }, tickMs);
  }

  #enqueue(input: CoreInput): void {
    this.#inputs.push(input);
    if (!this.#running) {
      this.#running = true;
      this.#idle = new Promise((resolve) => soon(() => this.#run(resolve)));
    }
  }

  async #run(done: () => void): Promise<void> {
    const core = this.#core!;
    try {
      while (this.#inputs.length > 0 && !this.#stopped) {
        const batch = this.#inputs;
        this.#inputs = [];
        const now = this.#clock.now();
        for (const input of batch) {
          // A request that timed out while queued is never proposed.
          if (
            input.type === "client" && !this.#requests.has(input.request.id)
          ) continue;
          core.step(input, now);
        }
        core.flush();
        while (core.hasReady) this.#dispatch(core.takeReady());
        if (core.log.snapshotIndex > this.#lastApplied) {
          // A snapshot from the leader replaced the log: restore it first.
          this.#restoreInstalled(core);
        } else {
          const upTo = Math.min(core.commitIndex, core.log.stableIndex);
          if (upTo > this.#lastApplied) await this.#apply(core, upTo);
          this.#maybeSnapshot(core);
        }
        this.#serveReads();
      }
    } catch (error) {
      this.#poison(error);
    }
    this.#running = false;
    done();
  }

  #poison(error: unknown): void {
    if (this.#stopped && this.#stopping) return;
    this.#events.emit("error", { id: this.id, error });
    this.#stopping ??= this.#shutdown(error);
  }

  /**
   * Carries out a Ready. A leader's appends leave at once; everything that
   * must be durable first goes to the writer, and every later message queues
   * behind it so no message overtakes the write it depends on.
   */
  #dispatch(ready: Ready): void {
    const transport = this.#options.transport;
    for (const m of ready.eagerMessages) transport.send(m.to, m);
    if (
      ready.entries.length > 0 || ready.hardState || ready.snapshot ||
      ready.compactTo > 0 ||
      (this.#writes.length > 0 || this.#writing) && ready.messages.length > 0
    ) {
      this.#writes.push(ready);
      if (!this.#writing) this.#startWriter();
    } else {
      for (const m of ready.messages) transport.send(m.to, m);
    }
    for (const change of ready.roleChanges) {
      this.#events.emit("roleChange", {
        id: this.id,
        ...change,
        at: Date.now(),
      });
    }
    for (const a of ready.accepted) {
      const pending = this.#requests.get(a.requestId);
      if (!pending) continue;
      pending.index = a.index;
      pending.term = a.term;
      this.#byIndex.set(a.index, a.requestId);
    }
    for (const f of ready.failures) this.#fail(f.requestId, f.error);
    for (const id of ready.transfersDone) this.#settle(id, undefined);
    for (const r of ready.reads) this.#reads.push(r);
    if (ready.commitIndex > this.#reportedCommit) {
      this.#reportedCommit = ready.commitIndex;
      if (this.#events.has("commit")) {
        this.#events.emit("commit", {
          id: this.id,
          commitIndex: ready.commitIndex,
        });
      }
    }
  }

  #startWriter(): void {
    this.#writing = true;
    this.#written = this.#writer().catch((error) => this.#poison(error))
      .finally(() => {
        this.#writing = false;
      });
  }

  /**
   * Persists queued Readies in order, merging all that queued up during the
   * previous write into one storage batch (group commit), then releases
   * their messages and reports what is durable to the core.
   */
  async #writer(): Promise<void> {
    const transport = this.#options.transport;
    while (this.#writes.length > 0 && !this.#stopped) {
      const jobs = this.#writes;
      this.#writes = [];
      let entries: LogEntry[] = [];
      let hardState: HardState | null = null;
      for (const job of jobs) {
        if (job.snapshot) {
          // Entries queued before a snapshot install go first, in order.
          await this.#persist(entries, hardState);
          entries = [];
          hardState = null;
          await this.#persistInstalled(job.snapshot, job.snapshotKeptLog);
        }
        if (job.hardState) hardState = job.hardState;
        if (job.entries.length > 0) {
          const first = job.entries[0].index;
          if (
            entries.length > 0 && first <= entries[entries.length - 1].index
          ) {
            entries.length = Math.max(0, first - entries[0].index);
          }
          for (const e of job.entries) entries.push(e);
        }
      }
      await this.#persist(entries, hardState);
      let compactTo = 0;
      for (const job of jobs) compactTo = Math.max(compactTo, job.compactTo);
      if (compactTo > 0) {
        await this.#storageCall(() =>
          this.#options.storage.compactPrefix(compactTo)
        );
      }
      if (this.#stopped) return;
      for (const job of jobs) {
        for (const m of job.messages) transport.send(m.to, m);
      }
      if (entries.length > 0) {
        const last = entries[entries.length - 1];
        this.#enqueue({
          type: "persisted",
          index: last.index,
          term: last.term,
        });
      }
    }
  }

  async #persist(
    entries: LogEntry[],
    hardState: HardState | null,
  ): Promise<void> {
    const storage = this.#options.storage;
    if (entries.length > 0) {
      await this.#storageCall(() => storage.append(entries));
    }
    if (hardState) {
      await this.#storageCall(() => storage.saveHardState(hardState));
    }
  }

  /**
   * Persists a snapshot installed from the leader. Conflicting entries after
   * it are removed before the snapshot is saved, so a crash in between can
   * never leave a log whose entries after the snapshot disagree with it.
   */
  async #persistInstalled(snapshot: Snapshot, keptLog: boolean): Promise<void> {
    const storage = this.#options.storage;
    if (!keptLog) {
      await this.#storageCall(() => storage.truncateSuffix(snapshot.index + 1));
    }
    await this.#storageCall(() => storage.saveSnapshot(snapshot));
    await this.#storageCall(() => storage.compactPrefix(snapshot.index));
    this.#installedDurable = Math.max(this.#installedDurable, snapshot.index);
    this.#events.emit("snapshot", {
      id: this.id,
      index: snapshot.index,
      source: "leader",
    });
  }

  /**
   * Runs storage calls one at a time (the writer and snapshot saves share
   * the backend) and turns any failure into a StorageError.
   */
  #storageCall<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#storageTail.then(operation).catch((error) => {
      throw error instanceof StorageError ? error : new StorageError(
        `Cannot persist on node ${this.id}: ${(error as Error)?.message}`,
        { cause: error },
      );
    });
    this.#storageTail = run.then(() => {}, () => {});
    return run;
  }

  /** Restores the state machine from an installed snapshot, off the loop. */
  #restoreInstalled(core: RaftCore): void {
    const snapshot = core.snapshot;
    if (
      this.#restoring || !snapshot || snapshot.index <= this.#lastApplied ||
      this.#installedDurable < snapshot.index
    ) return;
    const machine = this.#options.stateMachine;
    if (!machine.restore) {
      this.#poison(
        new ConfigError(
          `Cannot install a snapshot on node ${this.id} as the state machine has no restore()`,
        ),
      );
      return;
    }
    this.#restoring = true;
    Promise.resolve(machine.restore(snapshot.data)).then(() => {
      this.#restoring = false;
      if (snapshot.index > this.#lastApplied) {
        this.#lastApplied = snapshot.index;
      }
      this.#enqueue({ type: "tick" });
    }, (error) => this.#poison(error));
  }

  /** Takes a snapshot in the background once enough entries were applied. */
  #maybeSnapshot(core: RaftCore): void {
    const machine = this.#options.stateMachine;
    const threshold = this.#options.snapshotThreshold ?? 10_000;
    if (!machine.snapshot || threshold <= 0 || this.#snapshotting) return;
    if (this.#lastApplied - (core.snapshot?.index ?? 0) < threshold) return;
    const index = this.#lastApplied;
    const term = core.log.termAt(index);
    if (term === undefined) return;
    this.#snapshotting = true;
    const take = async () => {
      let data: Uint8Array;
      try {
        // Captured now, at `index`; serialization may continue meanwhile.
        data = await machine.snapshot!();
      } catch (error) {
        // The state machine failed, not storage: report it and go on.
        this.#events.emit("error", { id: this.id, error });
        return;
      }
      const snapshot: Snapshot = {
        index,
        term,
        voters: core.voters,
        nonVoters: core.nonVoters,
        data,
      };
      await this.#storageCall(() =>
        this.#options.storage.saveSnapshot(snapshot)
      );
      if (this.#stopped) return;
      this.#enqueue({ type: "snapshotted", snapshot });
      this.#events.emit("snapshot", { id: this.id, index, source: "local" });
    };
    take().catch((error) => this.#poison(error)).finally(() => {
      this.#snapshotting = false;
    });
  }

  async #apply(core: RaftCore, upTo: number): Promise<void> {
    const machine = this.#options.stateMachine;
    let sliceStart = performance.now();
    let count = 0;
    while (this.#lastApplied < upTo) {
      const index = this.#lastApplied + 1;
      const entry = core.log.entry(index);
      if (!entry) break; // compacted: a snapshot restore is due first
      let result: unknown = null;
      if (entry.kind === "command") {
        result = machine.apply(entry.command, index);
        if (result instanceof Promise) result = await result;
      }
      this.#lastApplied = index;
      const requestId = this.#byIndex.get(index);
      if (requestId !== undefined) {
        this.#byIndex.delete(index);
        const pending = this.#requests.get(requestId);
        if (pending && pending.term === entry.term) {
          this.#settle(requestId, { index, term: entry.term, result });
        } else if (pending) {
          this.#fail(
            requestId,
            new OutcomeUnknownError(
              index,
              "another entry committed at its index",
            ),
          );
        }
      }
      // Long batches yield so timers (heartbeats) keep firing.
      if (
        ++count % 256 === 0 && performance.now() - sliceStart > APPLY_SLICE_MS
      ) {
        await yieldNow();
        sliceStart = performance.now();
        if (this.#stopped) return;
      }
    }
    if (count > 0 && this.#events.has("apply")) {
      this.#events.emit("apply", {
        id: this.id,
        lastApplied: this.#lastApplied,
      });
    }
  }

  #serveReads(): void {
    if (this.#reads.length === 0) return;
    const waiting: { requestId: number; index: number }[] = [];
    for (const read of this.#reads) {
      if (read.index <= this.#lastApplied) {
        this.#settle(read.requestId, read.index);
      } else waiting.push(read);
    }
    this.#reads = waiting;
  }
}
