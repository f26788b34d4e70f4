/**
 * A cluster of pure cores wired together in one process with virtual time
 * and synchronous, fully controllable delivery. The paper-scenario tests
 * drive it step by step; it has no driver, no promises and no real timers,
 * so every run is exactly reproducible.
 *
 * @example
 * ```ts
 * import { CoreCluster } from "./core_cluster.ts";
 * const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 1 });
 * const leader = cluster.electLeader();
 * console.log(cluster.core(leader).role); // "Leader"
 * ```
 * @module
 */
import type { CoreConfig } from "../kernel/behavior.ts";
import { RaftCore } from "../kernel/core.ts";
import type { RaftError } from "../kernel/errors.ts";
import { RaftLog } from "../kernel/log.ts";
import { type Message, validateMessage } from "../kernel/messages.ts";
import { seededRandom } from "../kernel/random.ts";
import type { BehaviorRegistry } from "../kernel/registry.ts";
import type {
  HardState,
  Json,
  LogEntry,
  NodeId,
  Snapshot,
} from "../kernel/types.ts";
import { defaultBehaviors } from "../behaviors/defaults.ts";

/** Options of {@linkcode CoreCluster}. */
export interface CoreClusterOptions {
  /** Voting members. */
  readonly voters: readonly NodeId[];
  /** Non-voting members. */
  readonly nonVoters?: readonly NodeId[];
  /** Seed of every node's randomness. */
  readonly seed?: number;
  /** Settings for every node. */
  readonly config?: Partial<CoreConfig>;
  /** Registry factory per node (default: {@linkcode defaultBehaviors}). */
  readonly behaviors?: (id: NodeId) => BehaviorRegistry;
}

/** One node's durable state as the harness keeps it. */
export interface DurableState {
  /** Persisted term and vote. */
  hardState: HardState;
  /** Persisted log (contiguous; after compaction it starts past 1). */
  entries: LogEntry[];
  /** Persisted snapshot; its data is the JSON of the applied entries. */
  snapshot?: Snapshot | null;
}

/** The outcome of a request, as far as the harness saw. */
export type RequestOutcome =
  | { readonly status: "pending" }
  | {
    readonly status: "accepted";
    readonly index: number;
    readonly term: number;
  }
  | { readonly status: "read"; readonly index: number }
  | { readonly status: "done" }
  | { readonly status: "failed"; readonly error: RaftError };

interface Member {
  core: RaftCore;
  durable: DurableState;
  applied: LogEntry[];
  up: boolean;
}

/**
 * A set of {@linkcode RaftCore}s with a message queue between them.
 *
 * @example
 * ```ts
 * import { CoreCluster } from "./core_cluster.ts";
 * const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 7 });
 * const leader = cluster.electLeader();
 * const id = cluster.propose(leader, { op: "put" });
 * cluster.settle();
 * console.log(cluster.outcome(id).status); // "accepted"
 * ```
 */
export class CoreCluster {
  /** Virtual time in milliseconds. */
  now = 0;
  /** Messages sent and not yet delivered, in send order. */
  readonly inFlight: Message[] = [];
  /** Every message ever delivered, for traces. */
  readonly delivered: Message[] = [];
  /** Return `false` to drop a message in flight. */
  filter: (message: Message) => boolean = () => true;
  readonly #options: CoreClusterOptions;
  readonly #members = new Map<NodeId, Member>();
  readonly #outcomes = new Map<number, RequestOutcome>();
  readonly #roleLog: { at: number; id: NodeId; to: string; term: number }[] =
    [];
  #nextRequest = 1;
  #groups: NodeId[][] | null = null;

  /** Creates and starts every member. */
  constructor(options: CoreClusterOptions) {
    this.#options = options;
    for (const id of this.ids) {
      this.#members.set(id, {
        core: this.#makeCore(id, {
          hardState: { term: 0, votedFor: null },
          entries: [],
        }),
        durable: { hardState: { term: 0, votedFor: null }, entries: [] },
        applied: [],
        up: true,
      });
    }
  }

  /** Every member id. */
  get ids(): NodeId[] {
    return [...this.#options.voters, ...(this.#options.nonVoters ?? [])];
  }

  /** The core of `id`. */
  core(id: NodeId): RaftCore {
    return this.#member(id).core;
  }

  /** What `id` has persisted. */
  durable(id: NodeId): DurableState {
    return this.#member(id).durable;
  }

  /** Entries `id` applied, in order. */
  applied(id: NodeId): LogEntry[] {
    return this.#member(id).applied;
  }

  /** Role switches seen so far. */
  get roleChanges(): readonly {
    at: number;
    id: NodeId;
    to: string;
    term: number;
  }[] {
    return this.#roleLog;
  }

  /** The outcome of a request id. */
  outcome(requestId: number): RequestOutcome {
    return this.#outcomes.get(requestId) ?? { status: "pending" };
  }

  /** The current leaders (role Leader), by id. */
  leaders(): NodeId[] {
    return this.ids.filter((id) =>
      this.#member(id).up && this.core(id).role === "Leader"
    );
  }

  /** Submits a proposal to `id` and returns its request id. */
  propose(id: NodeId, command: Json): number {
    return this.#request(id, (requestId) => ({
      type: "propose",
      id: requestId,
      command,
    }));
  }

  /** Asks `id` for a ReadIndex and returns the request id. */
  read(id: NodeId): number {
    return this.#request(id, (requestId) => ({ type: "read", id: requestId }));
  }

  /** Asks `id` to transfer leadership to `target`. */
  transfer(id: NodeId, target: NodeId): number {
    return this.#request(id, (requestId) => ({
      type: "transfer",
      id: requestId,
      target,
    }));
  }

  /** Delivers `message` to its recipient now (even a fabricated one). */
  deliver(message: Message): void {
    // Like the driver (node.ts), check what arrives at the boundary: a
    // fabricated malformed message is dropped before any core sees it. (The
    // core trusts its input: unchecked, a garbage `term` such as "7" or 99
    // with an unknown type would move the node's term.)
    try {
      validateMessage(message);
    } catch {
      return;
    }
    const member = this.#members.get(message.to);
    if (!member?.up) return;
    this.delivered.push(message);
    member.core.step({ type: "message", message }, this.now);
    this.#drain(message.to);
  }

  /** Lets only members of the same group talk; `heal()` undoes it. */
  partition(...groups: NodeId[][]): void {
    this.#groups = groups;
  }

  /** Removes every partition. */
  heal(): void {
    this.#groups = null;
  }

  /** Whether `from` can currently reach `to`. */
  connected(from: NodeId, to: NodeId): boolean {
    if (!this.#groups) return true;
    return this.#groups.some((g) => g.includes(from) && g.includes(to));
  }

  /** Delivers in-flight messages until none are left (bounded). */
  settle(maxMessages = 100_000): void {
    for (let i = 0; i < maxMessages && this.inFlight.length > 0; i++) {
      const message = this.inFlight.shift()!;
      if (!this.connected(message.from, message.to)) continue;
      if (!this.filter(message)) continue;
      this.deliver(message);
    }
  }

  /** Advances virtual time by `ms` in steps of `stepMs`, ticking and settling. */
  advance(ms: number, stepMs = 5): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + stepMs);
      for (const id of this.ids) {
        const member = this.#member(id);
        if (!member.up) continue;
        member.core.step({ type: "tick" }, this.now);
        this.#drain(id);
      }
      this.settle();
    }
  }

  /** Runs time forward until exactly one Leader exists; returns it. */
  electLeader(maxMs = 10_000): NodeId {
    const end = this.now + maxMs;
    while (this.now < end) {
      this.advance(10);
      const leaders = this.leaders();
      if (leaders.length === 1) return leaders[0];
    }
    throw new Error(`no leader elected within ${maxMs} ms`);
  }

  /**
   * Makes `id` snapshot everything it applied (the snapshot's data is the
   * applied entries as JSON) and compact its log behind it.
   */
  takeSnapshot(id: NodeId): Snapshot | null {
    const member = this.#member(id);
    const index = member.applied.length;
    const term = member.core.log.termAt(index);
    if (index === 0 || term === undefined) return null;
    const snapshot: Snapshot = {
      index,
      term,
      voters: member.core.voters,
      nonVoters: member.core.nonVoters,
      data: new TextEncoder().encode(JSON.stringify(member.applied)),
    };
    member.durable.snapshot = snapshot;
    member.core.step({ type: "snapshotted", snapshot }, this.now);
    this.#drain(id);
    return snapshot;
  }

  /** Stops `id` abruptly: its in-memory state is gone, its storage stays. */
  crash(id: NodeId): void {
    this.#member(id).up = false;
  }

  /** Restarts a crashed `id` from what it persisted. */
  restart(id: NodeId): void {
    const member = this.#member(id);
    member.core = this.#makeCore(id, member.durable);
    const snapshot = member.durable.snapshot;
    member.applied = snapshot ? decodeApplied(snapshot) : [];
    member.up = true;
    this.#drain(id);
  }

  #makeCore(id: NodeId, durable: DurableState): RaftCore {
    const o = this.#options;
    return new RaftCore({
      id,
      voters: o.voters,
      nonVoters: o.nonVoters,
      behaviors: o.behaviors ? o.behaviors(id) : defaultBehaviors(),
      config: o.config,
      random: seededRandom((o.seed ?? 1) * 7919 + hash(id)),
      hardState: durable.hardState,
      log: durable.snapshot
        ? new RaftLog(
          durable.entries.filter((e) => e.index > durable.snapshot!.index),
          durable.snapshot.index,
          durable.snapshot.term,
        )
        : new RaftLog(durable.entries),
      snapshot: durable.snapshot ?? null,
      now: this.now,
    });
  }

  #request(
    id: NodeId,
    make: (
      requestId: number,
    ) => Parameters<RaftCore["step"]>[0] extends infer I
      ? I extends { type: "client"; request: infer R } ? R : never
      : never,
  ): number {
    const requestId = this.#nextRequest++;
    this.#outcomes.set(requestId, { status: "pending" });
    const member = this.#member(id);
    member.core.step({ type: "client", request: make(requestId) }, this.now);
    this.#drain(id);
    return requestId;
  }

  #member(id: NodeId): Member {
    const member = this.#members.get(id);
    if (!member) throw new Error(`unknown member ${id}`);
    return member;
  }

  /** Flushes `id`, persists synchronously, queues its messages, applies. */
  #drain(id: NodeId): void {
    const member = this.#member(id);
    const core = member.core;
    for (let round = 0; round < 100; round++) {
      core.flush();
      if (!core.hasReady) return;
      const ready = core.takeReady();
      for (const change of ready.roleChanges) {
        this.#roleLog.push({
          at: this.now,
          id,
          to: change.to,
          term: change.term,
        });
      }
      this.inFlight.push(...ready.eagerMessages);
      if (ready.hardState) member.durable.hardState = ready.hardState;
      if (ready.snapshot) {
        const installed = ready.snapshot;
        const durable = member.durable;
        durable.entries = ready.snapshotKeptLog
          ? durable.entries.filter((e) => e.index > installed.index)
          : [];
        durable.snapshot = installed;
        member.applied = decodeApplied(installed);
      }
      if (ready.entries.length > 0) {
        const first = ready.entries[0].index;
        const stored = member.durable.entries;
        const base = stored.length > 0 ? stored[0].index : first;
        stored.length = Math.max(0, Math.min(stored.length, first - base));
        stored.push(...ready.entries);
        const last = ready.entries[ready.entries.length - 1];
        core.step(
          { type: "persisted", index: last.index, term: last.term },
          this.now,
        );
      }
      if (ready.compactTo > 0) {
        member.durable.entries = member.durable.entries.filter((e) =>
          e.index > ready.compactTo
        );
      }
      this.inFlight.push(...ready.messages);
      const upTo = Math.min(ready.commitIndex, core.log.stableIndex);
      while (member.applied.length < upTo) {
        const entry = core.log.entry(member.applied.length + 1);
        if (!entry) break;
        member.applied.push(entry);
      }
      for (const a of ready.accepted) {
        this.#outcomes.set(a.requestId, {
          status: "accepted",
          index: a.index,
          term: a.term,
        });
      }
      for (const r of ready.reads) {
        this.#outcomes.set(r.requestId, { status: "read", index: r.index });
      }
      for (const f of ready.failures) {
        this.#outcomes.set(f.requestId, { status: "failed", error: f.error });
      }
      for (const t of ready.transfersDone) {
        this.#outcomes.set(t, { status: "done" });
      }
    }
    throw new Error(`node ${id} did not quiesce after 100 ready rounds`);
  }
}

function decodeApplied(snapshot: Snapshot): LogEntry[] {
  return JSON.parse(new TextDecoder().decode(snapshot.data)) as LogEntry[];
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  }
  return h >>> 0;
}
