/**
 * The simulation behind `simulateCluster`: the event loop, the network and
 * the glue between nodes, clients, nemesis and checker.
 * @module
 */
import type { CoreConfig } from "../kernel/behavior.ts";
import type { Message } from "../kernel/messages.ts";
import type { LogEntry, NodeId } from "../kernel/types.ts";
import { defaultBehaviors } from "../behaviors/defaults.ts";
import { InvariantChecker, InvariantViolation } from "./invariants.ts";
import { checkHistory } from "./linearizability.ts";
import { kvModel } from "./models.ts";
import type { SimOptions, SimResult, Violation } from "./sim.ts";
import { type ClientHost, Workload } from "./_sim_clients.ts";
import {
  drawConfig,
  drawFaults,
  type FaultProfile,
  Nemesis,
  type NemesisHost,
} from "./_sim_faults.ts";
import { createKvStateMachine } from "./_sim_kv.ts";
import { SimNode } from "./_sim_node.ts";
import { unsettled } from "./_sim_settle.ts";
import { EventQueue } from "./_sim_queue.ts";
import { SimNetwork } from "./_sim_network.ts";
import { Trace } from "./_sim_trace.ts";
import {
  type CutLayer,
  type NodeHost,
  type NodeOutcome,
  Rng,
  type SimEvent,
} from "./_sim_world.ts";

/** The running simulation behind `simulateCluster`. */
export class SimCluster implements NodeHost, ClientHost, NemesisHost {
  /** Virtual time in milliseconds. */
  now = 0;
  /** The property checker. */
  readonly checker: InvariantChecker;
  /** Every node. */
  readonly nodes: SimNode[] = [];
  /** Every node id. */
  readonly nodeIds: NodeId[];
  /** Voting members. */
  readonly voters: ReadonlySet<NodeId>;
  /** The clients. */
  readonly workload: Workload;
  /** The fault injector. */
  readonly nemesis: Nemesis;
  /** Settings in force. */
  readonly config: CoreConfig;
  /** Faults in force. */
  readonly faults: FaultProfile;
  /** Applied entries between local snapshots (0: never). */
  readonly snapshotThreshold: number;
  /** Current step. */
  step = 0;
  /** Faults have stopped: the run is settling. */
  settling = false;
  /** The network between the nodes. */
  readonly network: SimNetwork;
  /** Crash counter. */
  crashes = 0;
  readonly #options: SimOptions;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #trace: Trace;
  readonly #diskRng: Rng;
  readonly #inputRng: Rng;
  readonly #keys: readonly string[];
  readonly #byId = new Map<NodeId, SimNode>();

  /** Builds the cluster (options already checked); `run` runs it. */
  constructor(options: SimOptions) {
    this.#options = options;
    const seed = options.seed;
    const size = options.nodes ?? 3;
    const nonVoters = options.nonVoters ?? 0;
    this.nodeIds = [...Array(size)].map((_, i) => String.fromCharCode(97 + i));
    const voterIds = this.nodeIds.slice(0, size - nonVoters);
    this.voters = new Set(voterIds);
    this.#trace = new Trace(options.traceLength ?? 50);
    this.#diskRng = new Rng(seed, "disk");
    this.#inputRng = new Rng(seed, "inputs");
    const settingsRng = new Rng(seed, "settings");
    this.faults = drawFaults(settingsRng, options.faults);
    this.config = drawConfig(settingsRng, options.config);
    this.checker = new InvariantChecker({ voters: voterIds });
    // Drawn even when given, so pinning one setting leaves the others be.
    this.#keys = ["x", "y", "z"].slice(0, settingsRng.int(1, 3));
    const clients = settingsRng.int(2, 6);
    const threshold = settingsRng.pick([0, 5, 10, 30]);
    const patience = settingsRng.pick([1.5, 2, 4]);
    this.workload = new Workload(this, new Rng(seed, "clients"), {
      clients: options.clients ?? clients,
      keys: this.#keys,
      timeoutMs: patience * this.config.electionTimeoutMs,
    });
    this.snapshotThreshold = options.snapshotThreshold ?? threshold;
    this.network = new SimNetwork(
      this,
      new Rng(seed, "network"),
      this.faults,
      this.#byId,
    );
    this.nemesis = new Nemesis(this, new Rng(seed, "nemesis"), this.faults);
    const behaviors = options.behaviors ?? (() => defaultBehaviors());
    for (const id of this.nodeIds) {
      const node = new SimNode({
        id,
        voters: voterIds,
        nonVoters: this.nodeIds.slice(size - nonVoters),
        config: this.config,
        behaviors,
        seed,
        snapshotThreshold: this.snapshotThreshold,
        machine: options.stateMachine ?? createKvStateMachine,
        keys: this.#keys,
      }, this);
      this.nodes.push(node);
      this.#byId.set(id, node);
    }
  }

  /** Runs the steps, then checks the history. */
  run(): SimResult {
    const violations: Violation[] = [];
    try {
      this.nemesis.skewClocks();
      for (const node of this.nodes) this.#scheduleTick(node);
      this.workload.start();
      this.schedule(this.nemesis.nextRoundIn(), { kind: "nemesis" });
      this.#checkAll();
      while (this.step < this.#options.steps && this.#next()) {
        // stepped and checked
      }
      if (this.#options.settle ?? true) this.#settle();
      for (const node of this.nodes) node.checkStorage();
    } catch (error) {
      violations.push(this.#violation(error));
    }
    const check = checkHistory(this.workload.history(), kvModel, {
      timeoutMs: this.#options.checkTimeoutMs ?? 20_000,
    });
    return {
      ok: violations.length === 0 && check.linearizable,
      seed: this.#options.seed,
      violations,
      linearizable: check.linearizable,
      check,
      trace: this.#trace.lines(),
      digest: this.#trace.digest,
      faults: this.faults,
      config: this.config,
      stats: {
        steps: this.step,
        virtualMs: this.now,
        operations: { ...this.workload.stats },
        commitIndex: this.checker.commitIndex,
        messages: { ...this.network.stats },
        crashes: this.crashes,
        maxTerm: Math.max(...this.nodes.map((n) => n.storage.hardState.term)),
      },
    };
  }

  /** The node with `id`. */
  node(id: NodeId): SimNode {
    return this.#byId.get(id)!;
  }

  /** Schedules an event `delay` virtual ms from now. */
  schedule(delay: number, event: SimEvent): void {
    this.#queue.push(this.now + delay, event);
  }

  /** Adds a trace line stamped with the step and the time. */
  trace(line: string): void {
    this.#trace.add(`#${this.step} ${this.now.toFixed(2)}ms ${line}`);
  }

  /** Whether the network carries messages from `from` to `to` now. */
  reachable(from: NodeId, to: NodeId): boolean {
    return from === to || this.network.reachable(from, to);
  }

  /** Puts a message on the network. */
  send(message: Message): void {
    this.network.send(message);
  }

  /** Virtual milliseconds the next storage write takes. */
  diskLatency(): number {
    const rng = this.#diskRng;
    return rng.chance(0.05) ? rng.uniform(5, 30) : rng.uniform(0.1, 2);
  }

  /** A node reports how a request ended. */
  resolve(node: SimNode, requestId: number, outcome: NodeOutcome): void {
    this.workload.resolve(node, requestId, outcome);
  }

  /** A committed command is about to be applied on some node. */
  applying(entry: LogEntry): void {
    this.workload.applied(entry);
  }

  /** A node switched role: the nemesis may pounce. */
  roleChanged(node: SimNode, role: string): void {
    if (!this.settling) this.nemesis.roleChanged(node, role);
  }

  /** Delay before a node steps a batch of inputs: sometimes they pile up. */
  inputDelay(): number {
    const rng = this.#inputRng;
    return rng.chance(0.1) ? rng.uniform(0.05, 1) : 0;
  }

  /** Cuts directed links for `ms`, replacing the earlier cuts of `layer`. */
  cut(
    links: readonly (readonly [NodeId, NodeId])[],
    ms: number,
    layer: CutLayer = "partition",
  ): void {
    this.network.cut(links, ms, layer);
  }

  /** Removes the cuts of `layer`, or every cut. */
  healNetwork(layer?: CutLayer): void {
    this.network.heal(layer);
  }

  /** Crashes `node`, letting `fraction` of its write in flight through. */
  crash(node: SimNode, fraction: number): void {
    this.crashes++;
    node.crash(fraction);
  }

  /** Restarts `node` after `ms`. */
  restartAfter(node: SimNode, ms: number): void {
    this.schedule(ms, { kind: "restart", node, life: node.life });
  }

  /** Restarts a crashed node from its storage. */
  restart(node: SimNode, life: number): void {
    if (node.up || node.life !== life) return;
    this.trace(
      `restart ${node.id} (term ${node.storage.hardState.term}, log ${node.storage.lastIndex})`,
    );
    node.start();
    this.#scheduleTick(node);
  }

  /** A tick of `node`'s timer. */
  tick(node: SimNode, life: number): void {
    if (!node.up || node.life !== life) return;
    node.input({ type: "tick" });
    this.#scheduleTick(node);
  }

  /** Asks `leader` to transfer leadership to `target`. */
  transfer(leader: SimNode, target: NodeId): void {
    const id = this.workload.requestId();
    this.trace(`nemesis: ask ${leader.id} to transfer leadership to ${target}`);
    leader.input({
      type: "client",
      request: { type: "transfer", id, target },
    });
  }

  /** The live node leading the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.nodes) {
      if (!node.up || !this.checker.isLeaderRole(node.core.role)) continue;
      if (!best || node.core.term > best.core.term) best = node;
    }
    return best;
  }

  /** Runs the next event that changes something; false when none is left. */
  #next(): boolean {
    for (;;) {
      const next = this.#queue.pop();
      if (!next) return false;
      this.now = next.at;
      if (this.#moot(next.event)) continue;
      this.step++;
      this.#runEvent(next.event);
      this.#checkAll();
      return true;
    }
  }

  /**
   * After the last step: faults stop (the network heals, crashed nodes
   * restart, no message is lost any more) and clients send nothing new.
   * Within a bounded virtual time the cluster must then agree on one
   * leader, apply everything it committed on every node, and answer every
   * request it took: a request still held then was lost (ODL Bug 6587).
   */
  #settle(): void {
    this.settling = true;
    this.network.calm = true;
    this.trace("settle: faults stop, clients stop");
    this.healNetwork();
    for (const node of this.nodes) {
      if (!node.up) this.restart(node, node.life);
    }
    // Converging may take long after a long run (a follower far behind
    // catches up entry by entry), but never 30 election timeouts without
    // any node applying anything.
    const patience = 30 * this.config.electionTimeoutMs;
    let deadline = this.now + patience;
    let applied = -1;
    while (this.now < deadline) {
      if (unsettled(this.nodes) === null) {
        this.trace("settle: converged");
        return;
      }
      const total = this.nodes.reduce((sum, n) => sum + n.lastApplied, 0);
      if (total > applied) {
        applied = total;
        deadline = this.now + patience;
      }
      if (!this.#next()) break;
    }
    throw new InvariantViolation(
      "Liveness",
      `${
        unsettled(this.nodes)
      }, and no node applied anything for ${patience} ms after faults stopped`,
    );
  }

  /** Whether an event would change nothing (so it is not a step). */
  #moot(event: SimEvent): boolean {
    switch (event.kind) {
      case "tick":
      case "persist":
      case "run":
      case "snapshot":
        return !event.node.up || event.node.life !== event.life;
      case "restart":
        return event.node.up || event.node.life !== event.life;
      case "ambush":
        return this.settling || !event.node.up ||
          event.node.life !== event.life;
      case "timeout":
        return !this.workload.waiting(event.requestId);
      case "heal":
        return !this.network.current(event.layer, event.version);
      case "client":
      case "nemesis":
        return this.settling;
      default:
        return false;
    }
  }

  #runEvent(event: SimEvent): void {
    switch (event.kind) {
      case "tick":
        this.tick(event.node, event.life);
        break;
      case "deliver":
        this.network.deliver(event.message);
        break;
      case "persist":
        if (event.node.up && event.node.life === event.life) {
          this.trace(`${event.node.id} write done`);
          event.node.writeDone();
        }
        break;
      case "run":
        if (event.node.up && event.node.life === event.life) event.node.run();
        break;
      case "snapshot":
        if (event.node.up && event.node.life === event.life) {
          this.trace(
            `${event.node.id} saved snapshot at ${event.snapshot.index}`,
          );
          event.node.snapshotSaved(event.snapshot);
        }
        break;
      case "arrive":
        this.workload.arrive(event.requestId);
        break;
      case "client":
        this.workload.issue(event.client);
        break;
      case "timeout":
        this.workload.timeout(event.requestId);
        break;
      case "nemesis":
        this.nemesis.round();
        this.schedule(this.nemesis.nextRoundIn(), { kind: "nemesis" });
        break;
      case "heal":
        this.network.heal(event.layer);
        break;
      case "restart":
        this.restart(event.node, event.life);
        break;
      case "ambush":
        this.nemesis.ambush(event.node);
        break;
    }
  }

  #scheduleTick(node: SimNode): void {
    const tickMs = this.config.heartbeatMs / 2;
    this.schedule(tickMs / node.rate, {
      kind: "tick",
      node,
      life: node.life,
    });
  }

  #checkAll(): void {
    for (const node of this.nodes) {
      if (!node.up) continue;
      this.checker.observe(node.core);
      node.checkAccountability();
    }
  }

  #violation(error: unknown): Violation {
    const known = error instanceof InvariantViolation;
    const violation: Violation = {
      invariant: known ? error.invariant : "Unexpected Error",
      detail: known
        ? error.detail
        : `${(error as Error)?.stack ?? String(error)}`,
      step: this.step,
      time: this.now,
    };
    this.trace(`VIOLATION ${violation.invariant}: ${violation.detail}`);
    return violation;
  }
}
