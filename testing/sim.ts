/**
 * A deterministic cluster simulator. From one seed it runs 3 or 5 pure
 * {@linkcode RaftCore}s (some may be non-voting) in virtual time, with
 * message loss, duplication, reordering and delay, partitions (also one-way
 * and around the leader), crashes that lose unsynced writes, restarts from
 * storage, clock skew and leadership transfers, while clients read and write
 * a replicated key-value store. Raft's safety properties are checked after
 * every step ({@linkcode InvariantChecker}) and the clients' history is
 * checked for linearizability at the end. The same seed replays the same
 * run, event for event.
 *
 * @example
 * ```ts
 * import { simulateCluster } from "./sim.ts";
 * const result = simulateCluster({ seed: 7, nodes: 3, steps: 500 });
 * console.log(result.ok, result.violations.length); // true 0
 * ```
 * @module
 */
import type { CoreConfig } from "../kernel/behavior.ts";
import type { BehaviorRegistry } from "../kernel/registry.ts";
import type { NodeId } from "../kernel/types.ts";
import type { InvariantName } from "./invariants.ts";
import type { CheckResult } from "./linearizability.ts";
import type { WorkloadStats } from "./_sim_clients.ts";
import type { FaultOptions, FaultProfile } from "./_sim_faults.ts";
import type { KvStateMachine } from "./_sim_kv.ts";
import { SimCluster } from "./_sim_cluster.ts";

export type { FaultOptions, FaultProfile } from "./_sim_faults.ts";
export {
  createKvStateMachine,
  type KvCommand,
  type KvResult,
  type KvStateMachine,
} from "./_sim_kv.ts";
export type { WorkloadStats } from "./_sim_clients.ts";

/** Options of {@linkcode simulateCluster}. */
export interface SimOptions {
  /** The seed every random choice of the run derives from. */
  readonly seed: number;
  /** Number of members, voters and non-voters together (default 3). */
  readonly nodes?: number;
  /** How many of them do not vote (default 0). */
  readonly nonVoters?: number;
  /** Events to simulate; each is one step, checked by every invariant. */
  readonly steps: number;
  /** The role plugins of each node (default {@linkcode defaultBehaviors}). */
  readonly behaviors?: (id: NodeId) => BehaviorRegistry;
  /** A fresh state machine for each node life (default an in-memory KV). */
  readonly stateMachine?: () => KvStateMachine;
  /** Fault intensities; fields left out are drawn from the seed. */
  readonly faults?: FaultOptions;
  /** Protocol settings; fields left out are drawn from the seed. */
  readonly config?: Partial<CoreConfig>;
  /**
   * Applied entries between local snapshots; 0 never snapshots (default
   * drawn from 0, 5, 10, 30). Needs a state machine with `snapshot()`.
   */
  readonly snapshotThreshold?: number;
  /** Concurrent clients (default drawn from 2–6). */
  readonly clients?: number;
  /**
   * After the last step, stop the faults and require the cluster to
   * converge and answer every request (default true).
   */
  readonly settle?: boolean;
  /** Trace lines kept for the report (default 50; `Infinity` keeps all). */
  readonly traceLength?: number;
  /** Time limit of the linearizability check in real ms (default 20,000). */
  readonly checkTimeoutMs?: number;
}

/** A broken property, where it broke. */
export interface Violation {
  /** The property. */
  readonly invariant: InvariantName;
  /** What was seen. */
  readonly detail: string;
  /** The step (event number, from 1) at which it was seen. */
  readonly step: number;
  /** Virtual time in milliseconds. */
  readonly time: number;
}

/** Counters of a run. */
export interface SimStats {
  /** Steps run, the settle phase included (fewer when a violation stopped the run). */
  readonly steps: number;
  /** Virtual time reached, in milliseconds. */
  readonly virtualMs: number;
  /** Client operation outcomes. */
  readonly operations: WorkloadStats;
  /** Highest commit index any node reached. */
  readonly commitIndex: number;
  /** Messages put on the network, and how many were lost. */
  readonly messages: { readonly sent: number; readonly lost: number };
  /** Node crashes. */
  readonly crashes: number;
  /** Highest term any node reached. */
  readonly maxTerm: number;
}

/** The outcome of {@linkcode simulateCluster}. */
export interface SimResult {
  /** No violation and a linearizable history. */
  readonly ok: boolean;
  /** The seed, to replay the run. */
  readonly seed: number;
  /** Broken properties (the run stops at the first). */
  readonly violations: Violation[];
  /** Whether the clients' history is linearizable (kvModel). */
  readonly linearizable: boolean;
  /** The linearizability verdict with its report. */
  readonly check: CheckResult;
  /** The last `traceLength` events. */
  readonly trace: string[];
  /** A digest of the whole trace: equal runs have equal digests. */
  readonly digest: string;
  /** The fault profile and settings the seed drew. */
  readonly faults: FaultProfile;
  /** Protocol settings in force. */
  readonly config: CoreConfig;
  /** Counters. */
  readonly stats: SimStats;
}

/**
 * Runs one simulated cluster from `options.seed` and checks it.
 *
 * @example Check your own state machine and plugin under faults
 * ```ts
 * import { createKvStateMachine, simulateCluster } from "./sim.ts";
 * import { defaultBehaviors } from "../behaviors/defaults.ts";
 * import { follower } from "../behaviors/follower.ts";
 *
 * const myFollower = { ...follower }; // your plugin
 * for (let seed = 1; seed <= 5; seed++) {
 *   const result = simulateCluster({
 *     seed,
 *     nodes: 5,
 *     nonVoters: 1,
 *     steps: 1_000,
 *     behaviors: () => defaultBehaviors().replace(myFollower),
 *     stateMachine: createKvStateMachine,
 *     faults: { crash: 0.2 },
 *   });
 *   if (!result.ok) {
 *     throw new Error(`seed ${seed}: ${result.violations[0]?.detail}`);
 *   }
 * }
 * ```
 *
 * @param options The seed, size, plugins, state machine and faults.
 * @returns Whether every property held, and a replayable trace.
 * @throws {RangeError} When the size or the number of steps is invalid.
 */
export function simulateCluster(options: SimOptions): SimResult {
  const size = options.nodes ?? 3;
  const nonVoters = options.nonVoters ?? 0;
  if (!Number.isInteger(size) || size < 1 || size > 26) {
    throw new RangeError(
      `Cannot simulate ${size} nodes: use an integer from 1 to 26`,
    );
  }
  if (!Number.isInteger(nonVoters) || nonVoters < 0 || nonVoters >= size) {
    throw new RangeError(
      `Cannot simulate ${nonVoters} non-voters among ${size} nodes: at least one node must vote`,
    );
  }
  if (!Number.isSafeInteger(options.steps) || options.steps < 0) {
    throw new RangeError(
      `Cannot simulate ${options.steps} steps: use a non-negative integer`,
    );
  }
  return new SimCluster(options).run();
}
