/**
 * The {@linkcode BehaviorContext} a core hands its behaviors: the narrow
 * view through which a role reads the node's state and changes it. What
 * the context writes lands in the state the core shares with it, or in the
 * core's Ready; the kernel rules (term, role switch, lease) stay the core's.
 * @module
 */
import type { BehaviorContext, CoreConfig, Outgoing } from "./behavior.ts";
import type { RaftError } from "./errors.ts";
import type { AcceptResult, RaftLog } from "./log.ts";
import type { Message } from "./messages.ts";
import type { Json, LogEntry, NodeId, Snapshot } from "./types.ts";
import type { ClientTraffic } from "./_client_traffic.ts";
import type { ReadyCollector } from "./_ready.ts";
import type { TransferTracker } from "./_transfer.ts";

/** The node's Raft state that the core and its behaviors' context share. */
export interface NodeState {
  /** Current term. */
  term: number;
  /** Vote in the current term. */
  votedFor: NodeId | null;
  /** Leader of the current term, if known. */
  leaderId: NodeId | null;
  /** When an append or snapshot of the current term last arrived. */
  leaderContactAt: number;
  /** Highest index known committed. */
  commitIndex: number;
  /** Latest time seen, in milliseconds. */
  now: number;
  /** The latest snapshot held, if any. */
  snapshot: Snapshot | null;
  /** Whether term or vote changed since the last Ready. */
  hardStateDirty: boolean;
}

/** What the context reaches in its core besides the shared state. */
export interface ContextKernel {
  readonly id: NodeId;
  readonly config: CoreConfig;
  readonly log: RaftLog;
  readonly voters: readonly NodeId[];
  readonly nonVoters: readonly NodeId[];
  readonly peers: readonly NodeId[];
  readonly ready: ReadyCollector;
  readonly transfer: TransferTracker;
  readonly traffic: ClientTraffic;
  /** Name of the current role. */
  role(): string;
  inLease(): boolean;
  random(): number;
  send(message: Outgoing): void;
  become(role: string, handover?: unknown): void;
  /** Hands a message to the current role. */
  dispatch(message: Message): void;
  /** Moves to a newer term (the kernel rule, checked here). */
  setTerm(term: number): void;
}

/** Makes the context through which behaviors see `node` and its kernel. */
export function makeContext(
  node: NodeState,
  kernel: ContextKernel,
): BehaviorContext {
  return {
    get id() {
      return kernel.id;
    },
    get term() {
      return node.term;
    },
    get votedFor() {
      return node.votedFor;
    },
    get leaderId() {
      return node.leaderId;
    },
    get commitIndex() {
      return node.commitIndex;
    },
    get role() {
      return kernel.role();
    },
    get now() {
      return node.now;
    },
    get config() {
      return kernel.config;
    },
    get voters() {
      return kernel.voters;
    },
    get nonVoters() {
      return kernel.nonVoters;
    },
    get peers() {
      return kernel.peers;
    },
    get log() {
      return kernel.log;
    },
    get transfer() {
      return kernel.transfer.current;
    },
    get snapshot() {
      return node.snapshot;
    },
    isVoter: (id: NodeId) => kernel.voters.includes(id),
    inLeaderLease: () => kernel.inLease(),
    random: () => kernel.random(),
    send: (message: Outgoing) => kernel.send(message),
    become: (role: string, handover?: unknown) => kernel.become(role, handover),
    dispatch: (message: Message) => kernel.dispatch(message),
    setTerm: (term: number) => {
      if (term <= node.term) {
        throw new RangeError(
          `Cannot move to term ${term} as the node is in term ${node.term}`,
        );
      }
      kernel.setTerm(term);
    },
    vote: (candidate: NodeId) => {
      node.votedFor = candidate;
      node.hardStateDirty = true;
    },
    setLeader: (leaderId: NodeId | null) => {
      node.leaderId = leaderId;
    },
    appendOwn: (kind: LogEntry["kind"], command: Json) => {
      const entry = kernel.log.appendOwn(node.term, kind, command);
      kernel.ready.entries([entry]);
      return entry;
    },
    accept: (prevLogIndex, prevLogTerm, entries): AcceptResult => {
      const result = kernel.log.accept(prevLogIndex, prevLogTerm, entries);
      if (result.ok) kernel.ready.entries(result.appended);
      return result;
    },
    installSnapshot: (snapshot: Snapshot) => {
      const kept = kernel.log.installSnapshot(snapshot.index, snapshot.term);
      node.snapshot = snapshot;
      if (snapshot.index > node.commitIndex) {
        node.commitIndex = snapshot.index;
      }
      kernel.ready.installSnapshot(snapshot, kept);
    },
    commitTo: (index: number) => {
      const capped = Math.min(index, kernel.log.lastIndex);
      if (capped > node.commitIndex) node.commitIndex = capped;
    },
    proposalAccepted: (requestId: number, entry: LogEntry) =>
      kernel.traffic.proposalAccepted(requestId, entry),
    readReady: (requestId: number, index: number) =>
      kernel.traffic.readReady(requestId, index),
    reject: (requestId: number, error: RaftError) =>
      kernel.traffic.reject(requestId, error),
    startTransfer: (requestId: number, target: NodeId) =>
      kernel.transfer.start(
        requestId,
        target,
        node.term,
        node.now + kernel.config.transferTimeoutMs,
      ),
    endTransfer: (error?: RaftError) => kernel.transfer.end(error),
  };
}
