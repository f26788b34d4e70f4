/**
 * What a behavior plugin is and what it may touch. A behavior is a plain
 * object named after the role it plays; the kernel calls its hooks with a
 * narrow {@linkcode BehaviorContext} and the role's own state (whatever
 * `enter` returned). Behaviors never do I/O: they send, persist and reply
 * through the context, and the driver carries the effects out.
 *
 * @example
 * ```ts
 * import type { Behavior } from "./behavior.ts";
 * const quiet: Behavior<null> = {
 *   name: "Follower",
 *   enter: () => null,
 *   onMessage: () => {},
 *   onTick: () => {},
 * };
 * console.log(quiet.name);
 * ```
 * @module
 */
import type { RaftError } from "./errors.ts";
import type { AcceptResult, LogView } from "./log.ts";
import type { Message } from "./messages.ts";
import type { Json, LogEntry, NodeId, Snapshot } from "./types.ts";

/** The five roles the kernel needs to find in a registry. */
export const ROLE_NAMES = [
  "Follower",
  "Candidate",
  "PreLeader",
  "Leader",
  "IsolatedLeader",
] as const;

/** A role every registry must provide. */
export type RoleName = typeof ROLE_NAMES[number];

/** Timing and flow-control settings every behavior reads. */
export interface CoreConfig {
  /** Base election timeout; each wait is drawn from `[t, 2t)`. */
  readonly electionTimeoutMs: number;
  /** Interval between a leader's heartbeats. */
  readonly heartbeatMs: number;
  /** A leader that hears from no majority for this long becomes IsolatedLeader. */
  readonly isolationWindowMs: number;
  /**
   * An IsolatedLeader that still hears no majority after this long steps
   * down, so followers it still reaches can elect a leader they can answer
   * (e.g. behind a one-way link); 0 keeps it isolated until it hears one.
   */
  readonly isolatedStepDownMs: number;
  /** A leadership transfer aborts after this long. */
  readonly transferTimeoutMs: number;
  /** Run a PreVote round before a real election (thesis §9.6). */
  readonly preVote: boolean;
  /** Most entries in one AppendEntries. */
  readonly maxEntriesPerAppend: number;
  /**
   * Most bytes of commands (JSON) in one AppendEntries, roughly; at least
   * one entry is always sent. Infinity (the default) leaves only the count
   * limit.
   */
  readonly maxAppendBytes: number;
  /** Most unacknowledged AppendEntries per follower while replicating. */
  readonly maxInflightAppends: number;
  /** Entries kept in the log behind a snapshot, for briefly slow followers. */
  readonly trailingEntries: number;
  /** Size of one InstallSnapshot chunk in bytes (before base64). */
  readonly snapshotChunkBytes: number;
  /**
   * A member whose role takes no proposals sends them to the leader it
   * knows instead of refusing them with NotLeaderError.
   */
  readonly forwardProposals: boolean;
  /**
   * A member whose role takes no reads asks the leader it knows for a read
   * index (§6.4) and serves the read from its own state once applied that
   * far, instead of refusing it with NotLeaderError.
   */
  readonly forwardReads: boolean;
  /**
   * A forwarded proposal the leader has not answered within this time fails
   * with OutcomeUnknownError (it may have been appended); a forwarded read
   * fails with NotLeaderError.
   */
  readonly forwardTimeoutMs: number;
}

/** A request from a client of this node. */
export type ClientRequest =
  | {
    readonly type: "propose";
    readonly id: number;
    readonly command: Json;
    /** The member that forwarded it, when it was made elsewhere. */
    readonly from?: NodeId;
  }
  | { readonly type: "read"; readonly id: number }
  | { readonly type: "transfer"; readonly id: number; readonly target: NodeId };

/** A message as a behavior sends it: the kernel adds `v`, `from` and `term`. */
export type Outgoing = Message extends infer M
  ? M extends Message ? Omit<M, "v" | "from" | "term"> & { term?: number }
  : never
  : never;

/** A leadership transfer the kernel is tracking (thesis §3.10). */
export interface TransferState {
  /** Client request that asked for it. */
  readonly requestId: number;
  /** The node to hand leadership to. */
  readonly target: NodeId;
  /** Term in which the transfer started. */
  readonly term: number;
  /** Time at which it aborts. */
  readonly deadline: number;
  /** Whether TimeoutNow has been sent to the target. */
  timeoutNowSent: boolean;
}

/** The narrow view of a node that behaviors work through. */
export interface BehaviorContext {
  /** This node's id. */
  readonly id: NodeId;
  /** Current term. */
  readonly term: number;
  /** Vote cast in the current term. */
  readonly votedFor: NodeId | null;
  /** The leader of the current term as far as this node knows. */
  readonly leaderId: NodeId | null;
  /** Highest index known committed. */
  readonly commitIndex: number;
  /** Name of the current role. */
  readonly role: string;
  /** Current time from the node's clock, in milliseconds. */
  readonly now: number;
  /** Settings. */
  readonly config: CoreConfig;
  /** Members that vote (including this node if it votes). */
  readonly voters: readonly NodeId[];
  /** Members that only replicate. */
  readonly nonVoters: readonly NodeId[];
  /** Every member except this node. */
  readonly peers: readonly NodeId[];
  /** The log. */
  readonly log: LogView;
  /** The leadership transfer in progress, if any. */
  readonly transfer: TransferState | null;
  /** The latest snapshot this node holds (taken or installed), if any. */
  readonly snapshot: Snapshot | null;
  /** Whether `id` is a voter. */
  isVoter(id: NodeId): boolean;
  /**
   * Whether this node heard from a live leader within the minimum election
   * timeout (or is that leader). Votes are then refused so that a node
   * rejoining from a partition cannot depose a healthy leader (thesis §4.2.3).
   */
  inLeaderLease(): boolean;
  /** A number in `[0, 1)` from the node's random source. */
  random(): number;
  /** Queues a message; it leaves once what it depends on is persisted. */
  send(message: Outgoing): void;
  /** Switches role: current `exit` then the next role's `enter(handover)`. */
  become(role: string, handover?: unknown): void;
  /** Hands a message to the current role again (after a `become`). */
  dispatch(message: Message): void;
  /** Moves to a newer term with no vote; persisted before dependent sends. */
  setTerm(term: number): void;
  /** Records this node's vote in the current term; persisted before sends. */
  vote(candidate: NodeId): void;
  /** Records the leader of the current term (or none). */
  setLeader(leaderId: NodeId | null): void;
  /** Leader only: appends a new entry of the current term to the own log. */
  appendOwn(kind: LogEntry["kind"], command: Json): LogEntry;
  /** Follower side of AppendEntries (§5.3): check and store the entries. */
  accept(
    prevLogIndex: number,
    prevLogTerm: number,
    entries: readonly LogEntry[],
  ): AcceptResult;
  /**
   * Follower side of InstallSnapshot (§7): replaces the log up to the
   * snapshot; the driver persists it and restores the state machine before
   * any message sent after this call leaves.
   */
  installSnapshot(snapshot: Snapshot): void;
  /** Advances the commit index (never moves it back). */
  commitTo(index: number): void;
  /** Tells the client its proposal sits at (index, term) in the log. */
  proposalAccepted(requestId: number, entry: LogEntry): void;
  /** Tells the client its read may be served once `index` is applied. */
  readReady(requestId: number, index: number): void;
  /** Fails a client request. */
  reject(requestId: number, error: RaftError): void;
  /** Starts tracking a leadership transfer to `target`. */
  startTransfer(requestId: number, target: NodeId): TransferState;
  /** Ends the tracked transfer, successfully or with `error`. */
  endTransfer(error?: RaftError): void;
}

/**
 * A role as a plugin. `S` is the role's own state: `enter` creates it (from
 * the previous role's hand-over value when it makes sense) and every other
 * hook receives it.
 */
export interface Behavior<S = unknown> {
  /** The role name this plugin plays (unique in its registry). */
  readonly name: string;
  /**
   * While this role is active the node holds a leader lease: it refuses
   * (pre-)votes for a newer term that do not come from a leadership
   * transfer, as a follower does that heard from its leader lately (thesis
   * §4.2.3). Unset, only a role named "Leader" holds it; the registry
   * refuses it on Follower, Candidate, PreLeader and IsolatedLeader (an
   * isolated leader must let the others elect).
   */
  readonly holdsLease?: boolean;
  /** Called when the node takes this role; returns the role's state. */
  enter?(ctx: BehaviorContext, handover: unknown): S;
  /**
   * Called when the node leaves this role for `next`; what it returns is
   * passed to the next role's `enter` (e.g. Leader → IsolatedLeader keeps
   * its follower trackers and pending requests: ODL Bug 6587).
   */
  exit?(ctx: BehaviorContext, state: S, next: string): unknown;
  /** A validated message from a peer, after the kernel's term rules. */
  onMessage(ctx: BehaviorContext, message: Message, state: S): void;
  /** Called on every timer tick. */
  onTick(ctx: BehaviorContext, state: S): void;
  /** A client request; without this hook the kernel answers NotLeaderError. */
  onClientRequest?(
    ctx: BehaviorContext,
    request: ClientRequest,
    state: S,
  ): void;
  /** Called once after each batch of inputs (batch sends here). */
  onFlush?(ctx: BehaviorContext, state: S): void;
  /**
   * The lowest log index this role still needs (e.g. a leader sending a
   * snapshot needs the entries right after it); compaction stops below it.
   */
  retainFrom?(ctx: BehaviorContext, state: S): number;
}
