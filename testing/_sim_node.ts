/**
 * One simulated node: a {@linkcode RaftCore} driven the way
 * `kernel/_driver.ts` and `kernel/_writer.ts` drive it. Inputs are stepped
 * in batches; a Ready's leader appends leave at once (unless a term or vote
 * is still being written), its writes go to a writer that merges every
 * queued Ready into one storage batch (group commit), and its other
 * messages leave only when that batch is durable; `persisted` comes back as
 * an input. Committed entries are applied up to what is durable; snapshots
 * are taken in the background and installed ones restored once durable. A
 * crash keeps only a prefix of the storage calls of the batch in flight.
 * @module
 */
import { type CoreInput, RaftCore, type Ready } from "../kernel/core.ts";
import { RaftLog } from "../kernel/log.ts";
import type { Message } from "../kernel/messages.ts";
import { seededRandom } from "../kernel/random.ts";
import type { NodeId, Snapshot } from "../kernel/types.ts";
import { InvariantViolation } from "./invariants.ts";
import { SimStorage } from "./_sim_storage.ts";
import { type StorageBatch, storageBatch } from "./_sim_writer.ts";
import { Replica } from "./_sim_replica.ts";
import { HeldRequests } from "./_sim_requests.ts";
import { deriveSeed, type NodeHost, type NodeSetup } from "./_sim_world.ts";

interface Batch extends StorageBatch {
  /** The Readies whose writes the batch holds. */
  readonly jobs: Ready[];
}

/** One member of the simulated cluster. */
export class SimNode {
  /** Node id. */
  readonly id: NodeId;
  /** Whether the process runs. */
  up = true;
  /** Incremented on every crash; stale events carry an older value. */
  life = 0;
  /** The protocol core of the current life. */
  core!: RaftCore;
  /** Durable state. */
  readonly storage: SimStorage;
  /** Index applied to (or restored into) the state machine in this life. */
  lastApplied = 0;
  /** Requests the node holds. */
  readonly requests: HeldRequests;
  /** Local clock rate (local ms per virtual ms). */
  rate = 1;
  /** The state machine of the current life. */
  readonly replica: Replica;
  readonly #setup: NodeSetup;
  readonly #host: NodeHost;
  #inbox: CoreInput[] = [];
  #runDue = false;
  #running = false;
  #writes: Ready[] = [];
  #batch: Batch | null = null;
  #installedDurable = 0;
  /** Queued or in-flight Readies that carry a term or vote. */
  #hardStates = 0;
  #snapshotting = false;
  #clockBase = 0;
  #clockAt = 0;

  /** Creates and starts the node. */
  constructor(setup: NodeSetup, host: NodeHost) {
    this.id = setup.id;
    this.#setup = setup;
    this.#host = host;
    this.storage = new SimStorage(setup.id, host.checker);
    this.replica = new Replica(setup.machine, setup.keys);
    this.requests = new HeldRequests((requestId, outcome) =>
      host.resolve(this, requestId, outcome)
    );
    this.start();
  }

  /** The node's local time now. */
  localNow(): number {
    return this.#clockBase + (this.#host.now - this.#clockAt) * this.rate;
  }

  /** Changes the clock rate from now on (the clock never jumps). */
  setRate(rate: number): void {
    this.#clockBase = this.localNow();
    this.#clockAt = this.#host.now;
    this.rate = rate;
  }

  /** Whether storage work is queued or in flight. */
  get writing(): boolean {
    return this.#batch !== null || this.#writes.length > 0;
  }

  /** Starts a life from what storage holds (as `kernel/node.ts` start()). */
  start(): void {
    const s = this.#setup;
    const loaded = this.storage.load();
    const snapshot = loaded.snapshot;
    this.up = true;
    this.replica.reset(snapshot);
    this.lastApplied = snapshot?.index ?? 0;
    this.#installedDurable = 0;
    this.core = new RaftCore({
      id: s.id,
      voters: s.voters,
      nonVoters: s.nonVoters,
      behaviors: s.behaviors(s.id),
      config: s.config,
      random: seededRandom(deriveSeed(s.seed, `core ${s.id} ${this.life}`)),
      hardState: loaded.hardState,
      log: new RaftLog(
        loaded.entries,
        snapshot?.index ?? 0,
        snapshot?.term ?? 0,
      ),
      snapshot,
      now: this.localNow(),
    });
    if (snapshot) this.#stateAt(snapshot.index);
  }

  /** Feeds an input; it is stepped with the next batch. */
  input(input: CoreInput): void {
    if (!this.up) return;
    this.#inbox.push(input);
    if (input.type === "client") this.requests.received(input.request);
    if (this.#runDue || this.#running) return;
    const delay = this.#host.inputDelay();
    if (delay <= 0) this.run();
    else {
      this.#runDue = true;
      this.#host.schedule(delay, { kind: "run", node: this, life: this.life });
    }
  }

  /** Steps every queued input as one batch, then dispatches and applies. */
  run(): void {
    this.#runDue = false;
    this.#running = true;
    try {
      this.#runBatches();
    } finally {
      this.#running = false;
    }
  }

  #runBatches(): void {
    const core = this.core;
    while (this.up && this.#inbox.length > 0) {
      const batch = this.#inbox;
      this.#inbox = [];
      const now = this.localNow();
      for (const input of batch) {
        if (input.type === "client") this.requests.stepped(input.request.id);
        core.step(input, now);
      }
      core.flush();
      while (core.hasReady) this.#dispatch(core.takeReady());
      // Commits must be on record before anything is applied.
      this.#host.checker.observe(core);
      if (core.log.snapshotIndex > this.lastApplied) this.#restoreInstalled();
      else {
        this.#apply(Math.min(core.commitIndex, core.log.stableIndex));
        this.#maybeSnapshot();
      }
      this.requests.serve(this.lastApplied);
    }
  }

  /** The storage batch in flight is durable. */
  writeDone(): void {
    const batch = this.#batch!;
    this.#batch = null;
    for (const op of batch.ops) this.storage.apply(op);
    for (const job of batch.jobs) if (job.hardState) this.#hardStates--;
    for (const job of batch.jobs) this.#sendAll(job.messages);
    if (this.#writes.length > 0) this.#startBatch();
    if (batch.last) {
      this.input({
        type: "persisted",
        index: batch.last.index,
        term: batch.last.term,
      });
    }
    if (batch.installs > this.#installedDurable) {
      this.#installedDurable = batch.installs;
      this.input({ type: "tick" }); // wake the loop to restore it
    }
  }

  /** The background snapshot save completed. */
  snapshotSaved(snapshot: Snapshot): void {
    this.#snapshotting = false;
    // As kernel/_snapshots.ts: a newer snapshot installed from the leader
    // meanwhile wins; storing this one over it would corrupt storage.
    if ((this.core.snapshot?.index ?? 0) > snapshot.index) return;
    this.storage.apply({ op: "snapshot", snapshot });
    this.input({ type: "snapshotted", snapshot });
  }

  /**
   * Kills the process: memory is gone; of the storage batch in flight, the
   * first `fraction` of its calls reached the disk. Messages already sent
   * stay on the network.
   */
  crash(fraction: number): void {
    const batch = this.#batch;
    if (batch) {
      const done = Math.floor(fraction * (batch.ops.length + 1));
      for (const op of batch.ops.slice(0, done)) this.storage.apply(op);
    }
    this.up = false;
    this.life++;
    this.#batch = null;
    this.#writes = [];
    this.#hardStates = 0;
    this.#inbox = [];
    this.#runDue = false;
    this.#snapshotting = false;
    this.requests.crashed();
    this.#host.checker.crashed(this.id);
  }

  /** Request Accountability, once the node holds no leadership. */
  checkAccountability(): void {
    if (!this.up || this.#host.checker.isLeaderRole(this.core.role)) return;
    this.requests.check(
      `${this.id} is ${this.core.role} in term ${this.core.term}`,
      this.core.commitIndex,
    );
  }

  #dispatch(ready: Ready): void {
    const host = this.#host;
    for (const change of ready.roleChanges) {
      host.trace(`  ${this.id} ${change.from} -> ${change.to} t${change.term}`);
      host.roleChanged(this, change.to);
    }
    host.checker.appended(this.id, ready.entries, this.core.log);
    // A leader's appends may leave before its own write (thesis §10.2.1),
    // but not before a term or vote it depends on is durable.
    const eager = !ready.hardState && this.#hardStates === 0;
    if (eager) { for (const m of ready.eagerMessages) this.#send(m); }
    if (
      (!eager && ready.eagerMessages.length > 0) ||
      ready.entries.length > 0 || ready.hardState || ready.snapshot ||
      ready.compactTo > 0 || (this.writing && ready.messages.length > 0)
    ) {
      this.#writes.push(
        eager ? ready : {
          ...ready,
          messages: [...ready.eagerMessages, ...ready.messages],
        },
      );
      if (ready.hardState) this.#hardStates++;
      if (!this.#batch) this.#startBatch();
    } else this.#sendAll(ready.messages);
    this.requests.dispatched(ready, this.lastApplied);
  }

  #sendAll(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.type === "voteReply" && m.granted && !m.preVote) {
        this.#host.checker.voteGranted(this.id, m.term, m.to);
      }
      this.#send(m);
    }
  }

  /**
   * Term Durability (§5.1, Figure 2): the current term is on stable
   * storage before any message of that term leaves, or a restart could
   * reuse the term (and a single voter lead it twice). PreVote messages
   * carry a term nobody holds yet and are exempt.
   */
  #send(message: Message): void {
    const hypothetical =
      (message.type === "vote" || message.type === "voteReply") &&
      message.preVote;
    const stored = this.storage.hardState.term;
    if (!hypothetical && message.term > stored) {
      throw new InvariantViolation(
        "Term Durability",
        `${this.id} sent ${message.type} of term ${message.term} while it had stored term ${stored}`,
      );
    }
    this.#host.send(message);
  }

  /** Merges every queued Ready into one storage batch, as the writer does. */
  #startBatch(): void {
    const jobs = this.#writes;
    this.#writes = [];
    this.#batch = { jobs, ...storageBatch(jobs) };
    this.#host.schedule(this.#host.diskLatency(), {
      kind: "persist",
      node: this,
      life: this.life,
    });
  }

  #apply(upTo: number): void {
    const host = this.#host;
    while (this.lastApplied < upTo) {
      const index = this.lastApplied + 1;
      const entry = this.core.log.entry(index);
      if (!entry) break; // compacted: a snapshot restore is due first
      host.checker.applied(this.id, entry);
      let result = null;
      if (entry.kind === "command") {
        host.applying(entry);
        result = this.replica.apply(entry);
      }
      this.lastApplied = index;
      this.#stateAt(index);
      this.requests.applied(index, entry.term, result);
    }
  }

  /** A snapshot from the leader replaced the log: restore it once durable. */
  #restoreInstalled(): void {
    const snapshot = this.core.snapshot;
    if (
      !snapshot || snapshot.index <= this.lastApplied ||
      this.#installedDurable < snapshot.index
    ) return;
    this.replica.reset(snapshot);
    this.lastApplied = snapshot.index;
    this.#stateAt(snapshot.index);
    this.requests.restored(snapshot.index);
    this.#host.trace(`  ${this.id} restored snapshot at ${snapshot.index}`);
    this.input({ type: "tick" });
  }

  /** Takes a snapshot in the background once enough entries were applied. */
  #maybeSnapshot(): void {
    const threshold = this.#setup.snapshotThreshold;
    if (threshold <= 0 || this.#snapshotting) return;
    const core = this.core;
    if (this.lastApplied - (core.snapshot?.index ?? 0) < threshold) return;
    const index = this.lastApplied;
    const term = core.log.termAt(index);
    if (term === undefined) return;
    const data = this.replica.snapshot();
    if (!data) return;
    this.#snapshotting = true;
    this.#host.schedule(this.#host.diskLatency(), {
      kind: "snapshot",
      node: this,
      life: this.life,
      snapshot: {
        index,
        term,
        voters: core.voters,
        nonVoters: core.nonVoters,
        data,
      },
    });
  }

  #stateAt(index: number): void {
    this.#host.checker.stateAt(this.id, index, this.replica.fingerprint());
  }

  /** At the end: with no write in flight, memory holds what storage holds. */
  checkStorage(): void {
    if (!this.up || this.writing) return;
    const log = this.core.log;
    if (!this.storage.matches(log.lastIndex, (i) => log.termAt(i))) {
      throw new InvariantViolation(
        "Storage Contract",
        `${this.id}'s log (last ${log.lastIndex}) differs from its storage (last ${this.storage.lastIndex}) with no write in flight`,
      );
    }
  }
}
