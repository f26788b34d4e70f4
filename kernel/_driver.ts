/**
 * The driver behind {@linkcode createNode}: one async loop per node around
 * the pure core. Each turn takes every input queued since the last one,
 * steps the core, and carries out the effects: a leader's appends leave at
 * once, everything that must be durable goes to the {@linkcode LogWriter}
 * (whose messages leave after the write), committed entries are applied and
 * clients answered. Snapshots are built and restored off the loop.
 * @module
 */
import { soon } from "./async.ts";
import { type Clock, systemClock, type TimerId } from "./clock.ts";
import { type CoreInput, RaftCore, type Ready } from "./core.ts";
import { ConfigError, StoppedError, StorageError } from "./errors.ts";
import { Emitter } from "./events.ts";
import { RaftLog } from "./log.ts";
import { type Message, validateMessage } from "./messages.ts";
import type { Json, NodeId } from "./types.ts";
import { LogWriter } from "./_writer.ts";
import { SnapshotKeeper } from "./_snapshots.ts";
import { Applier } from "./_applier.ts";
import { coreConfig } from "./_options.ts";
import { PendingRequests, type RequestKind } from "./_requests.ts";
import type {
  NodeEvents,
  NodeOptions,
  ProposalResult,
  ProposeOptions,
  RaftNode,
  StateMachine,
} from "./node.ts";

/** A running node: the loop, the writer, requests and snapshots. */
export class NodeDriver<R> implements RaftNode<R> {
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
  #reportedCommit = 0;
  readonly #requests: PendingRequests;
  readonly #applier: Applier;
  readonly #writer: LogWriter;
  readonly #snapshots: SnapshotKeeper;

  constructor(options: NodeOptions<R>) {
    this.id = options.id;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#events = new Emitter((error) =>
      queueMicrotask(() => {
        throw error;
      })
    );
    this.#requests = new PendingRequests(options.id, this.#clock);
    this.#applier = new Applier({
      machine: options.stateMachine as StateMachine<unknown>,
      requests: this.#requests,
      applied: (lastApplied) => {
        if (this.#events.has("apply")) {
          this.#events.emit("apply", { id: this.id, lastApplied });
        }
      },
      stopped: () => this.#stopped,
    });
    this.#writer = new LogWriter(options.id, options.storage, {
      send: (message) => this.#send(message),
      persisted: (index, term) =>
        this.#enqueue({ type: "persisted", index, term }),
      installed: (snapshot) => {
        this.#snapshots.installedDurable(snapshot.index);
        this.#enqueue({ type: "tick" }); // wake the loop to restore it
        this.#events.emit("snapshot", {
          id: this.id,
          index: snapshot.index,
          source: "leader",
        });
      },
      failed: (error) => this.#poison(error),
      stopped: () => this.#stopped,
    });
    this.#snapshots = new SnapshotKeeper({
      nodeId: options.id,
      machine: options.stateMachine as StateMachine<unknown>,
      writer: this.#writer,
      lastApplied: () => this.#applier.lastApplied,
      restored: (snapshot) => {
        this.#applier.advanceTo(snapshot.index);
        this.#requests.restored(snapshot.index);
        this.#enqueue({ type: "tick" }); // wake the loop to apply what follows
      },
      taken: (snapshot) => {
        this.#enqueue({ type: "snapshotted", snapshot });
        this.#events.emit("snapshot", {
          id: this.id,
          index: snapshot.index,
          source: "local",
        });
      },
      fatal: (error) => this.#poison(error),
      report: (error) => this.#events.emit("error", { id: this.id, error }),
      stopped: () => this.#stopped,
    }, options.snapshotThreshold ?? 10_000);
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
    return this.#applier.lastApplied;
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
      config: coreConfig(o),
      random: o.random,
      hardState: persisted.hardState,
      log: new RaftLog(entries, snapshot?.index ?? 0, snapshot?.term ?? 0),
      snapshot,
      now: this.#clock.now(),
    });
    this.#applier.advanceTo(snapshot?.index ?? 0);
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

  readIndex(options: ProposeOptions = {}): Promise<number> {
    return this.#request(
      "read",
      (id) => ({ type: "read", id }),
      options.timeoutMs,
    );
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
    await this.#writer.idle();
    this.#core?.stopTransfer();
    if (this.#core?.hasReady) {
      for (const f of this.#core.takeReady().failures) {
        this.#requests.fail(f.requestId, f.error);
      }
    }
    this.#requests.stopAll(cause);
    this.#applier.dropReads();
    await this.#options.transport.close?.();
  }

  #request<T>(
    kind: RequestKind,
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
    return this.#requests.open<T>(
      kind,
      (id) => this.#enqueue({ type: "client", request: make(id) }),
      timeoutMs,
    );
  }

  #receive(raw: unknown): void {
    if (this.#stopped) return;
    let message;
    try {
      message = validateMessage(raw);
    } catch (error) {
      // Malformed input changes nothing, but it is not hidden: listeners of
      // `error` see an InvalidMessageError (the node keeps running).
      this.#events.emit("error", { id: this.id, error });
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
      // Messages and write completions already arrive on their own turn of
      // the event loop (a transport delivery, a storage callback), so the
      // loop may run right away; client calls and ticks wait for the next
      // turn, so a client awaiting proposals in a tight loop cannot starve
      // timers.
      const now = input.type === "message" || input.type === "persisted";
      this.#idle = new Promise((resolve) => {
        if (now) queueMicrotask(() => this.#run(resolve));
        else soon(() => this.#run(resolve));
      });
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
            input.type === "client" &&
            !this.#requests.has(input.request.id)
          ) continue;
          core.step(input, now);
        }
        core.flush();
        while (core.hasReady) this.#dispatch(core.takeReady());
        if (core.log.snapshotIndex > this.#applier.lastApplied) {
          // A snapshot from the leader replaced the log: restore it first.
          this.#snapshots.restoreInstalled(core);
        } else {
          const upTo = Math.min(core.commitIndex, core.log.stableIndex);
          if (upTo > this.#applier.lastApplied) {
            await this.#applier.apply(core, upTo);
          }
          this.#snapshots.maybeTake(core);
        }
        this.#applier.serveReads();
      }
    } catch (error) {
      this.#poison(error);
    }
    this.#running = false;
    done();
  }

  /** Hands a message to the transport; a throwing transport is reported, not fatal. */
  #send(message: Message): void {
    try {
      this.#options.transport.send(message.to, message);
    } catch (error) {
      this.#events.emit("error", { id: this.id, error });
    }
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
    // A leader's appends may leave before its own write (thesis §10.2.1),
    // but never before the term and vote that make it leader are durable: a
    // single voter wins and appends in the very Ready that bumps its term.
    const eager = !ready.hardState && !this.#writer.hardStatePending;
    if (eager) { for (const m of ready.eagerMessages) this.#send(m); }
    if (
      !eager && ready.eagerMessages.length > 0 ||
      ready.entries.length > 0 || ready.hardState || ready.snapshot ||
      ready.compactTo > 0 ||
      this.#writer.busy && ready.messages.length > 0
    ) {
      this.#writer.push(
        eager
          ? ready
          : { ...ready, messages: [...ready.eagerMessages, ...ready.messages] },
      );
    } else {
      for (const m of ready.messages) this.#send(m);
    }
    for (const change of ready.roleChanges) {
      this.#events.emit("roleChange", {
        id: this.id,
        ...change,
        at: Date.now(),
      });
    }
    for (const id of ready.forwarded) this.#requests.forwarded(id);
    for (const a of ready.accepted) {
      this.#requests.accepted(a, this.#applier.lastApplied);
    }
    for (const f of ready.failures) this.#requests.fail(f.requestId, f.error);
    for (const id of ready.transfersDone) this.#requests.settle(id, undefined);
    this.#applier.queueReads(ready.reads);
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
}
