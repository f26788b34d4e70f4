/**
 * deno-raft: Raft consensus for Deno, with the roles of a member as behavior
 * plugins, and swappable transports and storage.
 *
 * ```ts
 * import {
 *   createNode, defaultBehaviors, MemoryNetwork, MemoryStorage,
 * } from "./mod.ts";
 *
 * const net = new MemoryNetwork();
 * const ids = ["a", "b", "c"];
 * const nodes = ids.map((id) =>
 *   createNode({
 *     id, voters: ids, transport: net.connect(id),
 *     storage: new MemoryStorage(), behaviors: defaultBehaviors(),
 *     stateMachine: { apply: (command) => command },
 *   })
 * );
 * for (const node of nodes) await node.start();
 * for (const node of nodes) await node.stop();
 * ```
 * @module
 */
export {
  createNode,
  type NodeEvents,
  type NodeOptions,
  type ProposalResult,
  type ProposeOptions,
  type RaftNode,
  type StateMachine,
} from "./kernel/node.ts";
export {
  ConfigError,
  InvalidMessageError,
  IsolatedLeaderError,
  NotLeaderError,
  OutcomeUnknownError,
  RaftError,
  StoppedError,
  StorageError,
  TransferFailedError,
  type TransferFailureReason,
  TransferInProgressError,
} from "./kernel/errors.ts";
export {
  type Behavior,
  type BehaviorContext,
  type ClientRequest,
  type CoreConfig,
  type Outgoing,
  ROLE_NAMES,
  type RoleName,
  type TransferState,
} from "./kernel/behavior.ts";
export { BehaviorRegistry } from "./kernel/registry.ts";
export {
  type AppendEntries,
  type AppendEntriesReply,
  decodeChunk,
  encodeChunk,
  type ForwardProposal,
  type ForwardProposalReply,
  type ForwardRead,
  type ForwardReadReply,
  type ForwardRefusal,
  type InstallSnapshot,
  type InstallSnapshotReply,
  type Message,
  MESSAGE_VERSION,
  type MessageHeader,
  type RequestVote,
  type RequestVoteReply,
  type TimeoutNow,
  validateMessage,
} from "./kernel/messages.ts";
export type { AcceptResult, LogView } from "./kernel/log.ts";
export type {
  HardState,
  Json,
  LogEntry,
  Membership,
  NodeId,
  Snapshot,
} from "./kernel/types.ts";
export {
  type Clock,
  ManualClock,
  systemClock,
  type TimerId,
} from "./kernel/clock.ts";
export { type RandomSource, seededRandom } from "./kernel/random.ts";
export type { Transport } from "./kernel/transport.ts";
export { defaultBehaviors } from "./behaviors/defaults.ts";
export {
  follower,
  type FollowerState,
  type IncomingSnapshot,
} from "./behaviors/follower.ts";
export { candidate, type CandidateState } from "./behaviors/candidate.ts";
export { preLeader } from "./behaviors/pre_leader.ts";
export { leader } from "./behaviors/leader.ts";
export { isolatedLeader } from "./behaviors/isolated_leader.ts";
export {
  LEADER_ROLES,
  Leadership,
  type PendingRead,
} from "./behaviors/_leadership.ts";
export {
  FollowerTracker,
  type SnapshotSending,
  type TrackerState,
} from "./behaviors/_tracker.ts";
export {
  type LinkFaults,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type NetworkStats,
} from "./transports/memory.ts";
export { MemoryStorage } from "./storage/memory.ts";
export { KvStorage, type KvStorageOptions } from "./storage/kv.ts";
export type { PersistedState, Storage } from "./storage/storage.ts";
