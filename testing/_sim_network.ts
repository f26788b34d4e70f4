/**
 * The simulated network between nodes: every message is lost, held back
 * (and so reordered), or doubled with the chances the seed drew, and cut
 * links drop it both when it is sent and when it arrives. Cuts come in two
 * layers that heal on their own schedules: the nemesis's partitions, and
 * the isolation of an ambushed new leader.
 * @module
 */
import { type Message, validateMessage } from "../kernel/messages.ts";
import type { NodeId } from "../kernel/types.ts";
import type { FaultProfile } from "./_sim_faults.ts";
import type { SimNode } from "./_sim_node.ts";
import { describeMessage } from "./_sim_trace.ts";
import type { CutLayer, Rng, World } from "./_sim_world.ts";

/** Message counters. */
export interface MessageStats {
  /** Messages put on the network. */
  sent: number;
  /** Messages dropped, cut off or addressed to a crashed node. */
  lost: number;
}

/** The links between the nodes of one run. */
export class SimNetwork {
  /** Counters. */
  readonly stats: MessageStats = { sent: 0, lost: 0 };
  /** Faults stopped: nothing is lost, doubled or held back any more. */
  calm = false;
  readonly #world: World;
  readonly #rng: Rng;
  readonly #faults: FaultProfile;
  readonly #nodes: ReadonlyMap<NodeId, SimNode>;
  readonly #cuts = {
    partition: { links: new Set<string>(), version: 0 },
    ambush: { links: new Set<string>(), version: 0 },
  };

  /** Creates the network of `nodes`. */
  constructor(
    world: World,
    rng: Rng,
    faults: FaultProfile,
    nodes: ReadonlyMap<NodeId, SimNode>,
  ) {
    this.#world = world;
    this.#rng = rng;
    this.#faults = faults;
    this.#nodes = nodes;
  }

  /** Puts a message on the network: it may be cut, lost, late or doubled. */
  send(message: Message): void {
    this.stats.sent++;
    const rng = this.#rng;
    if (this.#blocked(message)) {
      this.stats.lost++;
      return;
    }
    if (!this.calm && rng.chance(this.#faults.drop)) {
      this.stats.lost++;
      this.#world.trace(`drop ${describeMessage(message)}`);
      return;
    }
    this.#world.schedule(this.#latency(), { kind: "deliver", message });
    if (!this.calm && rng.chance(this.#faults.duplicate)) {
      this.#world.schedule(this.#latency(), { kind: "deliver", message });
    }
  }

  /** A message reaches its destination (unless cut off or crashed). */
  deliver(message: Message): void {
    const node = this.#nodes.get(message.to);
    const text = describeMessage(message);
    if (this.#blocked(message) || !node?.up) {
      this.stats.lost++;
      this.#world.trace(`lost ${text}`);
      return;
    }
    this.#world.trace(text);
    // The driver validates at the boundary; a malformed message is dropped.
    try {
      validateMessage(message);
    } catch {
      this.#world.trace(`  invalid message dropped`);
      return;
    }
    node.input({ type: "message", message });
  }

  /**
   * Cuts directed links for `ms`, replacing the earlier cuts of `layer`
   * (an ambush outlives the partitions that come and go meanwhile).
   */
  cut(
    links: readonly (readonly [NodeId, NodeId])[],
    ms: number,
    layer: CutLayer,
  ): void {
    const cut = this.#cuts[layer];
    cut.links = new Set(links.map(([from, to]) => `${from}>${to}`));
    this.#world.schedule(ms, { kind: "heal", layer, version: ++cut.version });
  }

  /** Whether the cut made as `version` of `layer` is still the current one. */
  current(layer: CutLayer, version: number): boolean {
    return version === this.#cuts[layer].version;
  }

  /** Removes the cuts of `layer`, or every cut. */
  heal(layer?: CutLayer): void {
    for (const name of layer ? [layer] : (["partition", "ambush"] as const)) {
      const cut = this.#cuts[name];
      if (cut.links.size === 0) continue;
      cut.links = new Set();
      cut.version++;
      this.#world.trace(`nemesis: ${name} healed`);
    }
  }

  /** Whether messages from `from` to `to` currently get through cuts. */
  reachable(from: NodeId, to: NodeId): boolean {
    const link = `${from}>${to}`;
    return !this.#cuts.partition.links.has(link) &&
      !this.#cuts.ambush.links.has(link);
  }

  #blocked(message: Message): boolean {
    return !this.reachable(message.from, message.to);
  }

  #latency(): number {
    const rng = this.#rng;
    const base = rng.uniform(0.3, 3);
    return !this.calm && rng.chance(this.#faults.delay)
      ? base + rng.uniform(10, 200)
      : base;
  }
}
