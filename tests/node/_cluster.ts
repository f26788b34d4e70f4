/**
 * A cluster of real nodes (driver + core) on a MemoryNetwork, all on one
 * ManualClock, so timers are virtual and runs are repeatable.
 * @module
 */
import {
  type Behavior,
  createNode,
  defaultBehaviors,
  type Json,
  ManualClock,
  MemoryNetwork,
  MemoryStorage,
  type NodeOptions,
  type RaftNode,
  seededRandom,
  type Storage,
  type Transport,
} from "../../mod.ts";
import { yieldNow } from "../../kernel/async.ts";

/** A recording state machine: the commands it applied, in order. */
export class Recorder {
  applied: { index: number; command: Json }[] = [];
  restored = 0;
  apply(command: Json, index: number): Json {
    this.applied.push({ index, command });
    return { applied: index };
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.applied));
  }
  restore(data: Uint8Array): void {
    this.applied = JSON.parse(new TextDecoder().decode(data));
    this.restored++;
  }
}

/** Options of {@linkcode startCluster}. */
export interface ClusterOptions {
  ids?: string[];
  nonVoters?: string[];
  seed?: number;
  storage?: (id: string) => Storage;
  transport?: (id: string, net: MemoryNetwork) => Transport;
  plugins?: (id: string) => Behavior[];
  /** Extra node options (snapshot settings and the like). */
  nodeOptions?: Partial<NodeOptions>;
  /** State machine factory (default: a Recorder). */
  machine?: (id: string) => Recorder;
}

/** A started cluster on virtual time. */
export interface Cluster {
  clock: ManualClock;
  net: MemoryNetwork;
  nodes: Map<string, RaftNode>;
  machines: Map<string, Recorder>;
  node(id: string): RaftNode;
  /** Lets `ms` of virtual time pass, running I/O between small steps. */
  run(ms: number): Promise<void>;
  /** Runs until `predicate` holds (at most `maxMs` of virtual time). */
  runUntil(predicate: () => boolean, maxMs?: number): Promise<void>;
  /** Runs until one Leader exists and returns it. */
  leader(maxMs?: number): Promise<RaftNode>;
  stop(): Promise<void>;
}

/** Lets queued immediates, microtasks and promise chains run. */
export async function drainIo(rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) await yieldNow();
}

/** Starts nodes with election timeout 100 ms and heartbeat 20 ms. */
export async function startCluster(
  options: ClusterOptions = {},
): Promise<Cluster> {
  const ids = options.ids ?? ["a", "b", "c"];
  const nonVoters = options.nonVoters ?? [];
  const clock = new ManualClock(1_000);
  const net = new MemoryNetwork({ clock });
  const nodes = new Map<string, RaftNode>();
  const machines = new Map<string, Recorder>();
  let n = 0;
  for (const id of [...ids, ...nonVoters]) {
    const machine = options.machine?.(id) ?? new Recorder();
    machines.set(id, machine);
    const behaviors = defaultBehaviors();
    for (const plugin of options.plugins?.(id) ?? []) behaviors.replace(plugin);
    nodes.set(
      id,
      createNode({
        id,
        voters: ids,
        nonVoters,
        transport: options.transport?.(id, net) ?? net.connect(id),
        storage: options.storage?.(id) ?? new MemoryStorage(),
        stateMachine: machine,
        behaviors,
        clock,
        random: seededRandom((options.seed ?? 1) * 100 + n++),
        electionTimeoutMs: 100,
        heartbeatMs: 20,
        ...options.nodeOptions,
      }),
    );
  }
  for (const node of nodes.values()) await node.start();
  const cluster: Cluster = {
    clock,
    net,
    nodes,
    machines,
    node: (id) => nodes.get(id)!,
    async run(ms) {
      for (let t = 0; t < ms; t += 2) {
        clock.advance(2);
        await drainIo();
      }
    },
    async runUntil(predicate, maxMs = 5_000) {
      for (let t = 0; t < maxMs; t += 2) {
        if (predicate()) return;
        clock.advance(2);
        await drainIo();
      }
      if (!predicate()) throw new Error(`condition not met in ${maxMs} ms`);
    },
    async leader(maxMs = 5_000) {
      let found: RaftNode | undefined;
      await cluster.runUntil(() => {
        const leaders = [...nodes.values()].filter((x) => x.role === "Leader");
        found = leaders.length === 1 ? leaders[0] : undefined;
        return found !== undefined;
      }, maxMs);
      return found!;
    },
    async stop() {
      for (const node of nodes.values()) await node.stop();
    },
  };
  return cluster;
}

/**
 * Waits for `promise` while virtual time runs, failing after `maxMs`.
 * Returns the settled outcome so tests can assert on errors too.
 */
export async function settle<T>(
  cluster: Cluster,
  promise: Promise<T>,
  maxMs = 5_000,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | null =
    null;
  promise.then(
    (value) => outcome = { ok: true, value },
    (error) => outcome = { ok: false, error },
  );
  await cluster.runUntil(() => outcome !== null, maxMs);
  return outcome!;
}
