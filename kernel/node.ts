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
import type { CoreConfig } from "./behavior.ts";
import type { Clock } from "./clock.ts";
import { ConfigError } from "./errors.ts";
import type { RandomSource } from "./random.ts";
import type { BehaviorRegistry } from "./registry.ts";
import type { Transport } from "./transport.ts";
import type { Json, NodeId } from "./types.ts";
import type { Storage } from "../storage/storage.ts";
import { NodeDriver } from "./_driver.ts";

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
   * Give up after this long. A proposal whose deadline passes before its
   * entry is appended fails with {@linkcode StoppedError} (never proposed:
   * safe to retry); after that, with {@linkcode OutcomeUnknownError}. A
   * read that times out fails with {@linkcode StoppedError}.
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
  /**
   * Something went wrong: a storage failure (the node stops), a malformed
   * inbound message (dropped; the node goes on), a throwing transport or a
   * failed snapshot of the state machine.
   */
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
  readIndex(options?: ProposeOptions): Promise<number>;
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
