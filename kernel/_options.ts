/**
 * What a core is created from, checked and completed before anything else
 * happens: the membership rules, and settings with defaults for what is
 * missing (and, for a node, the settings its options give). `CoreOptions`
 * and `DEFAULT_CONFIG` are exported from kernel/core.ts.
 * @module
 */
import type { CoreConfig } from "./behavior.ts";
import { ConfigError } from "./errors.ts";
import type { RaftLog } from "./log.ts";
import type { NodeOptions } from "./node.ts";
import type { RandomSource } from "./random.ts";
import type { BehaviorRegistry } from "./registry.ts";
import type { HardState, NodeId, Snapshot } from "./types.ts";

/** Options of `RaftCore`. */
export interface CoreOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** Voting members (may include `id`). */
  readonly voters: readonly NodeId[];
  /** Non-voting members. */
  readonly nonVoters?: readonly NodeId[];
  /** The role plugins (validated here). */
  readonly behaviors: BehaviorRegistry;
  /** Settings; defaults fill what is missing. */
  readonly config?: Partial<CoreConfig>;
  /** Randomness for election timeouts. */
  readonly random?: RandomSource;
  /** Recovered hard state. */
  readonly hardState?: HardState;
  /** Recovered log. */
  readonly log?: RaftLog;
  /** Recovered snapshot (the log starts right after it). */
  readonly snapshot?: Snapshot | null;
  /** Time at creation, in milliseconds. */
  readonly now?: number;
}

/** Default settings (150 ms election timeout, 50 ms heartbeat). */
export const DEFAULT_CONFIG: CoreConfig = {
  electionTimeoutMs: 150,
  heartbeatMs: 50,
  isolationWindowMs: 150,
  isolatedStepDownMs: 600,
  transferTimeoutMs: 300,
  preVote: true,
  maxEntriesPerAppend: 1024,
  maxAppendBytes: Number.POSITIVE_INFINITY,
  maxInflightAppends: 16,
  trailingEntries: 1_000,
  snapshotChunkBytes: 32 * 1024,
  forwardProposals: false,
  forwardReads: false,
  forwardTimeoutMs: 1_000,
};

/** A node's members, without duplicates. */
export interface Members {
  /** Voting members. */
  readonly voters: NodeId[];
  /** Non-voting members. */
  readonly nonVoters: NodeId[];
  /** Voters and non-voters. */
  readonly members: Set<NodeId>;
}

/** The members of node `id`; throws ConfigError on an impossible set. */
export function checkMembers(
  id: NodeId,
  voters: readonly NodeId[],
  nonVoters: readonly NodeId[] | undefined,
): Members {
  const unique = [...new Set(voters)];
  const uniqueNonVoters = [...new Set(nonVoters ?? [])];
  const members = new Set([...unique, ...uniqueNonVoters]);
  if (!members.has(id)) {
    throw new ConfigError(
      `Cannot create node ${id} as it is neither a voter nor a non-voter`,
    );
  }
  if (unique.some((member) => uniqueNonVoters.includes(member))) {
    throw new ConfigError(
      "Cannot create the node as a member is listed as both voter and non-voter",
    );
  }
  if (unique.length === 0) {
    throw new ConfigError("Cannot create the node as voters is empty");
  }
  return { voters: unique, nonVoters: uniqueNonVoters, members };
}

/** Settings in force: those given over the defaults. */
export function withDefaults(
  config: Partial<CoreConfig> | undefined,
): CoreConfig {
  // The driver passes every setting, set or not: an undefined one must not
  // hide its default.
  const given = Object.entries(config ?? {}).filter(([, value]) =>
    value !== undefined
  );
  return { ...DEFAULT_CONFIG, ...Object.fromEntries(given) };
}

/**
 * The core settings of a node's options. Those not given stay undefined
 * (the defaults fill them) unless they follow from `electionTimeoutMs`.
 */
export function coreConfig<R>(o: NodeOptions<R>): Partial<CoreConfig> {
  return {
    electionTimeoutMs: o.electionTimeoutMs,
    heartbeatMs: o.heartbeatMs,
    isolationWindowMs: o.isolationWindowMs ?? o.electionTimeoutMs,
    isolatedStepDownMs: o.isolatedStepDownMs ??
      (o.electionTimeoutMs !== undefined ? 4 * o.electionTimeoutMs : undefined),
    transferTimeoutMs: o.transferTimeoutMs ??
      (o.electionTimeoutMs !== undefined ? 2 * o.electionTimeoutMs : undefined),
    preVote: o.preVote,
    maxEntriesPerAppend: o.maxEntriesPerAppend,
    maxInflightAppends: o.maxInflightAppends,
    maxAppendBytes: o.maxAppendBytes,
    trailingEntries: o.trailingEntries,
    snapshotChunkBytes: o.snapshotChunkBytes,
    forwardProposals: o.forwardProposals,
    forwardReads: o.forwardReads,
    forwardTimeoutMs: o.forwardTimeoutMs,
  } as Partial<CoreConfig>;
}
