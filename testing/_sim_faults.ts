/**
 * The simulator's adversary: the fault profile and protocol settings a seed
 * draws, and the nemesis that partitions the network (both ways, one way,
 * or around the leader), crashes and restarts nodes, skews their clocks and
 * asks for leadership transfers.
 * @module
 */
import type { CoreConfig } from "../kernel/behavior.ts";
import { DEFAULT_CONFIG } from "../kernel/core.ts";
import type { NodeId } from "../kernel/types.ts";
import type { SimNode } from "./_sim_node.ts";
import type { CutLayer, Rng, World } from "./_sim_world.ts";

/**
 * How hostile a run is. Every field left out is drawn from the seed, so
 * different seeds explore different mixes.
 */
export interface FaultOptions {
  /** Chance that a message is lost (drawn from `[0, 0.1)`). */
  readonly drop?: number;
  /** Chance that a message arrives twice (drawn from `[0, 0.05)`). */
  readonly duplicate?: number;
  /** Chance that a message is held back 10–200 ms, reordering it (`[0, 0.1)`). */
  readonly delay?: number;
  /** Chance per nemesis round of a network partition (`[0, 0.5)`). */
  readonly partition?: number;
  /** Chance per nemesis round of a crash (`[0, 0.3)`). */
  readonly crash?: number;
  /** Timers run at rates in `[1 - s, 1 + s]` (`s` drawn from `[0, 0.5)`). */
  readonly clockSkew?: number;
  /** Chance per nemesis round of a leadership transfer (`[0, 0.1)`). */
  readonly transfer?: number;
  /**
   * Chance that a node that just won an election is crashed or cut off
   * before its no-op spreads (`[0.1, 0.5)`, or 0). This is what leaves
   * uncommitted entries of different terms at one index (Figure 8).
   */
  readonly ambush?: number;
  /** Mean virtual milliseconds between nemesis rounds (`[40, 200)`). */
  readonly nemesisMs?: number;
}

/** A {@linkcode FaultOptions} with every field decided. */
export type FaultProfile = { readonly [K in keyof FaultOptions]-?: number };

/** Draws the fault profile of a run; given fields win. */
export function drawFaults(rng: Rng, given: FaultOptions = {}): FaultProfile {
  // Some seeds get a clean network so that crashes and partitions alone
  // are explored too.
  const lossy = rng.chance(0.8);
  const drawn: FaultProfile = {
    drop: lossy ? rng.uniform(0, 0.1) : 0,
    duplicate: lossy ? rng.uniform(0, 0.05) : 0,
    delay: lossy ? rng.uniform(0, 0.1) : 0,
    partition: rng.uniform(0, 0.5),
    crash: rng.uniform(0, 0.3),
    clockSkew: rng.chance(0.7) ? rng.uniform(0, 0.5) : 0,
    transfer: rng.uniform(0, 0.1),
    nemesisMs: rng.uniform(40, 200),
    ambush: rng.chance(0.8) ? rng.uniform(0.1, 0.5) : 0,
  };
  return { ...drawn, ...definedOnly(given) };
}

/** Draws protocol settings (timeouts, flow control, PreVote); given win. */
export function drawConfig(
  rng: Rng,
  given: Partial<CoreConfig> = {},
): CoreConfig {
  const electionTimeoutMs = rng.pick([100, 150, 200]);
  const drawn: CoreConfig = {
    // Settings the simulator does not vary keep the kernel's defaults.
    ...DEFAULT_CONFIG,
    electionTimeoutMs,
    heartbeatMs: Math.min(rng.pick([20, 30, 50]), electionTimeoutMs / 3),
    isolationWindowMs: electionTimeoutMs,
    isolatedStepDownMs: rng.pick([0, 2, 4]) * electionTimeoutMs,
    transferTimeoutMs: 2 * electionTimeoutMs,
    preVote: rng.chance(0.8),
    maxEntriesPerAppend: rng.pick([1, 2, 4, 64]),
    maxInflightAppends: rng.pick([1, 2, 8, 64]),
    maxAppendBytes: rng.pick([Number.POSITIVE_INFINITY, 300, 1_000]),
    trailingEntries: rng.pick([0, 2, 10, 1000]),
    snapshotChunkBytes: rng.pick([8, 32, 4096]),
    forwardProposals: rng.chance(0.5),
    forwardReads: rng.chance(0.5),
    forwardTimeoutMs: rng.pick([2, 4, 8]) * electionTimeoutMs,
  };
  const config = { ...drawn, ...definedOnly(given) };
  // Timers that follow the election timeout follow a pinned one too.
  const t = config.electionTimeoutMs;
  return {
    ...config,
    heartbeatMs: given.heartbeatMs ?? Math.min(config.heartbeatMs, t / 3),
    isolationWindowMs: given.isolationWindowMs ?? t,
    isolatedStepDownMs: given.isolatedStepDownMs ??
      (drawn.isolatedStepDownMs / electionTimeoutMs) * t,
    transferTimeoutMs: given.transferTimeoutMs ?? 2 * t,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

/** What the nemesis acts on. */
export interface NemesisHost extends World {
  /** Every node. */
  readonly nodes: readonly SimNode[];
  /** Voting members. */
  readonly voters: ReadonlySet<NodeId>;
  /**
   * Cuts the directed links `from → to` for `ms`, replacing the earlier
   * cuts of `layer` (default "partition").
   */
  cut(
    links: readonly (readonly [NodeId, NodeId])[],
    ms: number,
    layer?: CutLayer,
  ): void;
  /** Removes the cuts of `layer`, or every cut. */
  healNetwork(layer?: CutLayer): void;
  /**
   * Crashes `node`; the first `fraction` of the storage calls in flight
   * reach the disk.
   */
  crash(node: SimNode, fraction: number): void;
  /** Restarts `node` after `ms`. */
  restartAfter(node: SimNode, ms: number): void;
  /** Asks `leader` to hand leadership to `target`. */
  transfer(leader: SimNode, target: NodeId): void;
  /** The live node holding leadership in the highest term, if any. */
  leader(): SimNode | null;
}

/** Decides, round after round, which fault to inject next. */
export class Nemesis {
  readonly #host: NemesisHost;
  readonly #rng: Rng;
  readonly #profile: FaultProfile;

  /** Creates the nemesis of a run. */
  constructor(host: NemesisHost, rng: Rng, profile: FaultProfile) {
    this.#host = host;
    this.#rng = rng;
    this.#profile = profile;
  }

  /** Virtual milliseconds until the next round. */
  nextRoundIn(): number {
    return this.#rng.uniform(0.5, 1.5) * this.#profile.nemesisMs;
  }

  /** One round: each kind of fault strikes with its chance. */
  round(): void {
    const rng = this.#rng;
    const p = this.#profile;
    if (rng.chance(p.partition)) this.#partition();
    if (rng.chance(p.crash)) {
      if (rng.chance(0.05)) this.#powerFailure();
      else this.#crashOne();
    }
    if (p.clockSkew > 0 && rng.chance(0.1)) {
      const node = rng.pick(this.#host.nodes);
      node.setRate(rng.uniform(1 - p.clockSkew, 1 + p.clockSkew));
      this.#host.trace(
        `nemesis: ${node.id} clock rate ${node.rate.toFixed(2)}`,
      );
    }
    if (rng.chance(p.transfer)) {
      const leader = this.#host.leader();
      if (leader) {
        this.#host.transfer(leader, rng.pick(this.#host.nodes).id);
      }
    }
    if (rng.chance(0.1)) this.#host.healNetwork("partition");
  }

  /**
   * A node just became `role`: maybe ambush it. The nemesis is omniscient
   * and prefers a new leader whose log is behind another node's: cutting it
   * off then leaves entries of different terms at one index (Figure 8).
   */
  roleChanged(node: SimNode, role: string): void {
    const p = this.#profile.ambush;
    if (role !== "PreLeader" || p <= 0) return;
    const log = node.core.log;
    const behind = this.#host.nodes.some((other) =>
      other !== node && other.up &&
      other.core.log.lastIndex >= log.lastIndex &&
      other.core.log.termAt(log.lastIndex) !== node.core.term
    );
    if (!this.#rng.chance(behind ? Math.min(0.8, 2 * p) : p)) return;
    // At once: the no-op's appends already in flight are cut too.
    this.#host.schedule(0, { kind: "ambush", node, life: node.life });
  }

  /** Crashes or cuts off a fresh leader. */
  ambush(node: SimNode): void {
    const host = this.#host;
    if (this.#rng.chance(0.3)) {
      const write = this.#crashWrite();
      host.trace(`nemesis: ambush, crash new leader ${node.id}`);
      host.crash(node, write);
      host.restartAfter(node, this.#rng.uniform(5, 300));
      return;
    }
    const links: [NodeId, NodeId][] = [];
    for (const other of host.nodes) {
      if (other !== node) links.push([node.id, other.id], [other.id, node.id]);
    }
    const ms = this.#rng.uniform(200, 800);
    host.trace(
      `nemesis: ambush, cut off new leader ${node.id} for ${ms.toFixed(0)} ms`,
    );
    host.cut(links, ms, "ambush");
  }

  /** Initial clock rates. */
  skewClocks(): void {
    const s = this.#profile.clockSkew;
    if (s <= 0) return;
    for (const node of this.#host.nodes) {
      node.setRate(this.#rng.uniform(1 - s, 1 + s));
    }
  }

  #partition(): void {
    const rng = this.#rng;
    const ids = this.#host.nodes.map((n) => n.id);
    const links: [NodeId, NodeId][] = [];
    const roll = rng.next();
    let what: string;
    let long = false;
    const leader = this.#host.leader();
    if (roll < 0.2 && leader) {
      for (const id of ids) {
        if (id !== leader.id) links.push([leader.id, id], [id, leader.id]);
      }
      what = `isolate leader ${leader.id}`;
      // Long enough, often, for the others to elect and commit meanwhile.
      long = true;
    } else if (roll < 0.35 && leader) {
      // The leader still reaches everyone but hears no one: followers keep
      // following while it becomes IsolatedLeader (ODL Bug 6587's setting).
      for (const id of ids) if (id !== leader.id) links.push([id, leader.id]);
      what = `leader ${leader.id} hears no one`;
    } else if (roll < 0.55) {
      const count = rng.int(1, ids.length);
      for (let i = 0; i < count; i++) {
        const [from, to] = rng.shuffle(ids);
        links.push([from, to]);
      }
      what = `one-way ${links.map(([f, t]) => `${f}-x->${t}`).join(" ")}`;
    } else {
      const shuffled = rng.shuffle(ids);
      const k = rng.int(1, ids.length - 1);
      const a = shuffled.slice(0, k);
      const b = shuffled.slice(k);
      for (const x of a) for (const y of b) links.push([x, y], [y, x]);
      what = `partition [${a.sort().join(" ")}] | [${b.sort().join(" ")}]`;
    }
    const ms = long ? rng.uniform(100, 1000) : rng.uniform(20, 600);
    this.#host.trace(`nemesis: ${what} for ${ms.toFixed(0)} ms`);
    this.#host.cut(links, ms);
  }

  /** How much of the storage batch in flight a crash lets through. */
  #crashWrite(): number {
    const roll = this.#rng.next();
    return roll < 0.3 ? 0 : roll < 0.6 ? 0.999 : this.#rng.next();
  }

  #crashOne(): void {
    const host = this.#host;
    const rng = this.#rng;
    const down = host.nodes.filter((n) => !n.up && host.voters.has(n.id));
    const maxDown = Math.floor((host.voters.size - 1) / 2);
    const candidates = host.nodes.filter((n) =>
      n.up && (!host.voters.has(n.id) || down.length < maxDown)
    );
    if (candidates.length === 0) return;
    const leader = host.leader();
    const node = leader && candidates.includes(leader) && rng.chance(0.4)
      ? leader
      : rng.pick(candidates);
    const write = this.#crashWrite();
    host.trace(
      `nemesis: crash ${node.id} (${
        Math.round(write * 100)
      }% of the write in flight survives)`,
    );
    host.crash(node, write);
    host.restartAfter(node, rng.uniform(5, 300));
  }

  #powerFailure(): void {
    const host = this.#host;
    host.trace("nemesis: power failure");
    for (const node of host.nodes) {
      if (!node.up) continue;
      host.crash(node, this.#crashWrite());
      host.restartAfter(node, this.#rng.uniform(5, 100));
    }
  }
}
