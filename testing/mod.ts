/**
 * Test kit for deno-raft users: a cluster of pure cores on virtual time
 * ({@linkcode CoreCluster}), a seeded fault-injecting simulator that checks
 * Raft's safety properties on every step ({@linkcode simulateCluster}), and
 * a linearizability checker for recorded histories ({@linkcode checkHistory}).
 *
 * @example
 * ```ts
 * import { CoreCluster } from "./mod.ts";
 * const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 1 });
 * console.log(cluster.electLeader());
 * ```
 * @module
 */
export {
  CoreCluster,
  type CoreClusterOptions,
  type DurableState,
  type RequestOutcome,
} from "./core_cluster.ts";
export {
  checkHistory,
  type CheckOptions,
  type CheckResult,
} from "./linearizability.ts";
export {
  type AppendInput,
  type CasInput,
  type CasOutput,
  type ClientId,
  type DeleteInput,
  describeOperation,
  type GetInput,
  type HandleOf,
  HistoryRecorder,
  type HistoryRecorderOptions,
  type InputOf,
  type Operation,
  type OperationHandle,
  type OperationInput,
  type OperationKind,
  type OperationOf,
  type OutputArgs,
  type OutputByKind,
  type OutputOf,
  type PutInput,
  type ReadInput,
  type Value,
  type WriteInput,
} from "./history.ts";
export {
  createKvModel,
  kvModel,
  type KvModelOptions,
  type Model,
  registerModel,
  type StepResult,
} from "./models.ts";
export { type HistoryFormat, parseHistory } from "./parse_history.ts";
export {
  createKvStateMachine,
  type FaultOptions,
  type FaultProfile,
  type KvCommand,
  type KvResult,
  type KvStateMachine,
  type SimOptions,
  type SimResult,
  type SimStats,
  simulateCluster,
  type Violation,
  type WorkloadStats,
} from "./sim.ts";
export {
  InvariantChecker,
  type InvariantCheckerOptions,
  type InvariantName,
  InvariantViolation,
  type NodeView,
} from "./invariants.ts";
// Kernel types the test kit's signatures mention, so its documentation is
// complete on its own.
export type {
  Behavior,
  BehaviorContext,
  ClientRequest,
  CoreConfig,
  Outgoing,
  TransferState,
} from "../kernel/behavior.ts";
export type {
  CoreInput,
  CoreOptions,
  RaftCore,
  Ready,
  RoleChange,
} from "../kernel/core.ts";
export type { RaftError } from "../kernel/errors.ts";
export type { AcceptResult, LogView, RaftLog } from "../kernel/log.ts";
export type { RandomSource } from "../kernel/random.ts";
export type { BehaviorRegistry } from "../kernel/registry.ts";
export type {
  HardState,
  Json,
  LogEntry,
  NodeId,
  Snapshot,
} from "../kernel/types.ts";
export type {
  AppendEntries,
  AppendEntriesReply,
  InstallSnapshot,
  InstallSnapshotReply,
  Message,
  MessageHeader,
  MessageType,
  RequestVote,
  RequestVoteReply,
  TimeoutNow,
} from "../kernel/messages.ts";
export { MESSAGE_VERSION } from "../kernel/messages.ts";
