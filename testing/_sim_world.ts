/**
 * What the simulator's parts share: the event type, the world interface a
 * node and the clients see, and a seeded random helper. Every random choice
 * of a run comes from streams derived from its one seed.
 * @module
 */
import type { CoreConfig } from "../kernel/behavior.ts";
import type { RaftError } from "../kernel/errors.ts";
import type { Message } from "../kernel/messages.ts";
import type { BehaviorRegistry } from "../kernel/registry.ts";
import type { Json, LogEntry, NodeId, Snapshot } from "../kernel/types.ts";
import type { KvStateMachine } from "./_sim_kv.ts";
import { type RandomSource, seededRandom } from "../kernel/random.ts";
import type { InvariantChecker } from "./invariants.ts";
import type { SimNode } from "./_sim_node.ts";

/** Network cuts come in layers that heal independently. */
export type CutLayer = "partition" | "ambush";

/** Everything that can happen at an instant of virtual time. */
export type SimEvent =
  | { readonly kind: "tick"; readonly node: SimNode; readonly life: number }
  | { readonly kind: "deliver"; readonly message: Message }
  | { readonly kind: "persist"; readonly node: SimNode; readonly life: number }
  | { readonly kind: "run"; readonly node: SimNode; readonly life: number }
  | {
    readonly kind: "snapshot";
    readonly node: SimNode;
    readonly life: number;
    readonly snapshot: Snapshot;
  }
  | { readonly kind: "arrive"; readonly requestId: number }
  | { readonly kind: "client"; readonly client: number }
  | { readonly kind: "timeout"; readonly requestId: number }
  | { readonly kind: "nemesis" }
  | {
    readonly kind: "heal";
    readonly layer: CutLayer;
    readonly version: number;
  }
  | { readonly kind: "restart"; readonly node: SimNode; readonly life: number }
  | { readonly kind: "ambush"; readonly node: SimNode; readonly life: number };

/** The simulation as its parts see it. */
export interface World {
  /** Virtual time in milliseconds (the global clock). */
  readonly now: number;
  /** The property checker. */
  readonly checker: InvariantChecker;
  /** Schedules `event` after `delay` milliseconds of virtual time. */
  schedule(delay: number, event: SimEvent): void;
  /** Adds a line to the trace. */
  trace(line: string): void;
}

/** A seeded stream of random choices. */
export class Rng implements RandomSource {
  readonly #source: RandomSource;

  /** Creates a stream from `seed` and a label naming its purpose. */
  constructor(seed: number, label: string) {
    this.#source = seededRandom(deriveSeed(seed, label));
  }

  /** A number in `[0, 1)`. */
  next(): number {
    return this.#source.next();
  }

  /** A number in `[lo, hi)`. */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.#source.next();
  }

  /** An integer in `[lo, hi]`. */
  int(lo: number, hi: number): number {
    return lo + Math.floor((hi - lo + 1) * this.#source.next());
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.#source.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(items.length * this.#source.next())];
  }

  /** The items in a random order. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor((i + 1) * this.#source.next());
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}

/** A 32-bit seed for one purpose, derived from the run's seed. */
export function deriveSeed(seed: number, label: string): number {
  let h = 2166136261 ^ (seed >>> 0);
  h = Math.imul(h, 16777619);
  h ^= Math.floor(seed / 4294967296);
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  return (h ^ (h >>> 15)) >>> 0;
}

/** How a request at a node ended, as the node reports it. */
export type NodeOutcome =
  | {
    readonly type: "applied";
    readonly result: Json;
    readonly index: number;
    readonly term: number;
  }
  | { readonly type: "read"; readonly index: number }
  | { readonly type: "done" }
  | { readonly type: "error"; readonly error: RaftError }
  | {
    readonly type: "lost";
    readonly stepped: boolean;
    readonly appended: boolean;
  };

/** What a node needs from the simulation besides the {@linkcode World}. */
export interface NodeHost extends World {
  /** Puts a message on the network. */
  send(message: Message): void;
  /** Virtual milliseconds the next storage batch takes. */
  diskLatency(): number;
  /** Delay before a batch of inputs is stepped (0: at once). */
  inputDelay(): number;
  /** Reports how a request ended. */
  resolve(node: SimNode, requestId: number, outcome: NodeOutcome): void;
  /** A committed command is about to be applied on some node. */
  applying(entry: LogEntry): void;
  /** The node switched to `role`. */
  roleChanged(node: SimNode, role: string): void;
}

/** Static settings of a node. */
export interface NodeSetup {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly nonVoters: readonly NodeId[];
  readonly config: CoreConfig;
  readonly behaviors: (id: NodeId) => BehaviorRegistry;
  readonly seed: number;
  /** Applied entries between local snapshots (0: never). */
  readonly snapshotThreshold: number;
  /** A fresh state machine. */
  readonly machine: () => KvStateMachine;
  /** The keys clients use (a replica's state is summarized by them). */
  readonly keys: readonly string[];
}
