/**
 * The simulated clients: each issues one key-value operation at a time to
 * the node it believes leads, and records what it asked and what it was told
 * in a {@linkcode HistoryRecorder} for the linearizability check. An answer
 * that means "never proposed" is a failure; an unknown outcome (appended
 * then leadership lost, a crash, a timeout) is recorded as such.
 * @module
 */
import {
  IsolatedLeaderError,
  NotLeaderError,
  type RaftError,
  TransferInProgressError,
} from "../kernel/errors.ts";
import type { Json, LogEntry, NodeId } from "../kernel/types.ts";
import {
  type CasOutput,
  type HandleOf,
  HistoryRecorder,
  type Operation,
  type OperationKind,
  type Value,
} from "./history.ts";
import { InvariantViolation } from "./invariants.ts";
import type { KvCommand } from "./_sim_kv.ts";
import type { SimNode } from "./_sim_node.ts";
import type { NodeOutcome, Rng, World } from "./_sim_world.ts";

/** What the clients need from the simulation. */
export interface ClientHost extends World {
  /** Every member id. */
  readonly nodeIds: readonly NodeId[];
  /** The node with `id`. */
  node(id: NodeId): SimNode;
  /** Whether the network currently carries messages from `from` to `to`. */
  reachable(from: NodeId, to: NodeId): boolean;
}

/** Workload settings. */
export interface WorkloadSettings {
  /** Number of concurrent clients. */
  readonly clients: number;
  /** Keys operated on. */
  readonly keys: readonly string[];
  /** A client gives up on an operation after this long (outcome unknown). */
  readonly timeoutMs: number;
}

/** Counts of operation outcomes. */
export interface WorkloadStats {
  /** Operations that completed. */
  ok: number;
  /** Operations that definitely did not happen. */
  failed: number;
  /** Operations whose outcome is unknown. */
  unknown: number;
}

interface Client {
  readonly index: number;
  /** The node the client runs next to: it shares that node's partitions. */
  readonly home: NodeId;
  generation: number;
  target: NodeId | null;
  busy: boolean;
}

interface Op {
  readonly requestId: number;
  readonly client: Client;
  readonly handle: HandleOf<OperationKind>;
  readonly key: string;
  readonly command: (KvCommand & { readonly id: number }) | null;
  readonly node: NodeId;
  /** Highest index committed anywhere when the operation was invoked. */
  readonly committedAtCall: number;
  done: boolean;
}

/** Errors that mean the proposal was never appended: safe to retry. */
export function neverProposed(error: RaftError): boolean {
  return error instanceof NotLeaderError ||
    error instanceof IsolatedLeaderError ||
    error instanceof TransferInProgressError;
}

/** The clients of one run. */
export class Workload {
  /** The history being recorded. */
  readonly recorder: HistoryRecorder = new HistoryRecorder();
  /** Outcome counts. */
  readonly stats: WorkloadStats = { ok: 0, failed: 0, unknown: 0 };
  readonly #host: ClientHost;
  readonly #rng: Rng;
  readonly #settings: WorkloadSettings;
  readonly #clients: Client[] = [];
  readonly #ops = new Map<number, Op>();
  readonly #recent = new Map<string, Value[]>();
  readonly #rejected = new Set<number>();
  readonly #applied = new Set<number>();
  /** Operations whose client never learned the outcome. */
  readonly #unknown: Op[] = [];
  #closed = false;
  #nextRequest = 1;
  #nextValue = 1;

  /** Creates the clients; `start` sets them going. */
  constructor(host: ClientHost, rng: Rng, settings: WorkloadSettings) {
    this.#host = host;
    this.#rng = rng;
    this.#settings = settings;
    for (let i = 0; i < settings.clients; i++) {
      this.#clients.push({
        index: i,
        home: host.nodeIds[i % host.nodeIds.length],
        generation: 0,
        target: null,
        busy: false,
      });
    }
  }

  /** Schedules every client's first operation. */
  start(): void {
    for (const client of this.#clients) {
      this.#host.schedule(this.#rng.uniform(0, 10), {
        kind: "client",
        client: client.index,
      });
    }
  }

  /** A fresh request id (for requests outside the history, e.g. transfers). */
  requestId(): number {
    return this.#nextRequest++;
  }

  /** Client `index` issues its next operation. */
  issue(index: number): void {
    const client = this.#clients[index];
    if (client.busy) return;
    const rng = this.#rng;
    const key = rng.pick(this.#settings.keys);
    const requestId = this.requestId();
    const who = `c${client.index}.${client.generation}`;
    const roll = rng.next();
    let handle: HandleOf<OperationKind>;
    let command: Op["command"] = null;
    if (roll < 0.35) {
      handle = this.recorder.invoke(who, { kind: "get", key });
    } else if (roll < 0.65) {
      const value = this.#newValue(key);
      handle = this.recorder.invoke(who, { kind: "put", key, value });
      command = { op: "put", key, value, id: requestId };
    } else if (roll < 0.9) {
      const expect = rng.pick([null, ...this.#recent.get(key) ?? []]);
      const value = this.#newValue(key);
      handle = this.recorder.invoke(who, { kind: "cas", key, expect, value });
      command = { op: "cas", key, expect, value, id: requestId };
    } else {
      handle = this.recorder.invoke(who, { kind: "delete", key });
      command = { op: "delete", key, id: requestId };
    }
    if (client.target === null || rng.chance(0.15)) {
      // A node it cannot reach refuses the connection: it tries another.
      const reachable = this.#host.nodeIds.filter((id) =>
        this.#host.reachable(client.home, id)
      );
      client.target = rng.pick(reachable);
    }
    client.busy = true;
    this.#ops.set(requestId, {
      requestId,
      client,
      handle,
      key,
      command,
      node: client.target,
      committedAtCall: this.#host.checker.commitIndex,
      done: false,
    });
    this.#host.trace(
      `  ${who} ${
        command ? JSON.stringify(command) : `get ${key}`
      } -> ${client.target}`,
    );
    this.#host.schedule(rng.uniform(0.1, 2), { kind: "arrive", requestId });
    this.#host.schedule(this.#settings.timeoutMs, {
      kind: "timeout",
      requestId,
    });
  }

  /** The request reaches its node. */
  arrive(requestId: number): void {
    const op = this.#ops.get(requestId)!;
    const node = this.#host.node(op.node);
    if (!node.up || !this.#host.reachable(op.client.home, op.node)) {
      this.resolve(node, requestId, {
        type: "lost",
        stepped: false,
        appended: false,
      });
      return;
    }
    node.input({
      type: "client",
      request: op.command
        ? { type: "propose", id: requestId, command: op.command as Json }
        : { type: "read", id: requestId },
    });
  }

  /** A node reports how a request ended. */
  resolve(node: SimNode, requestId: number, outcome: NodeOutcome): void {
    const op = this.#ops.get(requestId);
    if (!op) return;
    this.#ops.delete(requestId);
    const error = outcome.type === "error" ? outcome.error : null;
    const rejected = (error !== null && neverProposed(error)) ||
      (outcome.type === "lost" && !outcome.stepped);
    if (rejected && op.command) this.#markRejected(op.command.id);
    if (error instanceof NotLeaderError) op.client.target = error.leaderId;
    else if (error !== null || outcome.type === "lost") op.client.target = null;
    if (op.done) return;
    if (outcome.type === "read") this.#checkFresh(node, op);
    if (outcome.type === "applied") {
      this.#host.checker.acknowledged(outcome.index, outcome.term);
    }
    if (
      outcome.type !== "lost" && !this.#host.reachable(op.node, op.client.home)
    ) {
      // The answer cannot reach the client: it waits until its timeout.
      this.#ops.set(requestId, op);
      return;
    }
    const h = op.handle;
    let verdict: "ok" | "fail" | "info";
    if (outcome.type === "applied") {
      verdict = "ok";
      if (h.kind === "cas") {
        this.recorder.ok(h, outcome.result as unknown as CasOutput);
      } else if (h.kind === "put" || h.kind === "delete") {
        this.recorder.ok(h);
      }
    } else if (outcome.type === "read") {
      verdict = "ok";
      const value = node.replica.get(op.key);
      if (h.kind === "get") this.recorder.ok(h, value);
    } else if (rejected || (op.command === null && outcome.type !== "done")) {
      verdict = "fail";
      this.recorder.fail(h);
    } else {
      verdict = "info";
      this.#unknown.push(op);
    }
    this.#host.trace(
      `  ${verdict} #${requestId} at ${node.id}${
        error ? ` (${error.name})` : ""
      }`,
    );
    this.#finish(op, verdict);
  }

  /** Whether a client still waits for request `requestId`. */
  waiting(requestId: number): boolean {
    const op = this.#ops.get(requestId);
    return op !== undefined && !op.done;
  }

  /** The client stops waiting: the outcome stays unknown. */
  timeout(requestId: number): void {
    const op = this.#ops.get(requestId);
    if (!op || op.done) return;
    this.#unknown.push(op);
    this.#host.trace(`  timeout #${requestId}`);
    op.client.target = null;
    this.#finish(op, "info");
  }

  /**
   * The history, closed: an operation whose client never learned its
   * outcome stays unknown if its command was applied somewhere, and counts
   * as failed otherwise, since it then took effect on no state machine and
   * no read could have seen it. (Only a simulator can tell; it keeps the
   * check fast and sharp.) Unanswered reads stay unknown and prove nothing.
   */
  history(): Operation[] {
    if (!this.#closed) {
      this.#closed = true;
      const open = [...this.#ops.values()].filter((op) => !op.done);
      for (const op of [...this.#unknown, ...open]) {
        if (op.command && !this.#applied.has(op.command.id)) {
          this.recorder.fail(op.handle);
        } else this.recorder.info(op.handle);
      }
    }
    return this.recorder.operations();
  }

  /**
   * A command was applied somewhere. A proposal its client was told was
   * never proposed must never take effect.
   */
  applied(entry: LogEntry): void {
    const id = (entry.command as { id?: unknown } | null)?.id;
    if (typeof id !== "number") return;
    if (this.#rejected.has(id)) this.#rejectedApplied(id, entry.index);
    this.#applied.add(id);
  }

  /**
   * Read Freshness (§6.4): a read must see every write committed before
   * it was invoked, so the serving node's state must include the highest
   * index committed anywhere at that moment. Stronger than the history
   * check, which sees a stale read only if a later write changed the key.
   */
  #checkFresh(node: SimNode, op: Op): void {
    if (node.lastApplied >= op.committedAtCall) return;
    throw new InvariantViolation(
      "Read Freshness",
      `${node.id} served read #${op.requestId} of ${op.key} from its state at ${node.lastApplied}, but ${op.committedAtCall} was committed before the read began`,
    );
  }

  #markRejected(id: number): void {
    this.#rejected.add(id);
    if (this.#applied.has(id)) this.#rejectedApplied(id, null);
  }

  #rejectedApplied(id: number, index: number | null): never {
    throw new InvariantViolation(
      "Rejected Proposal Never Applied",
      `proposal #${id} was rejected as never proposed, yet it was applied${
        index === null ? "" : ` at ${index}`
      }`,
    );
  }

  #finish(op: Op, verdict: "ok" | "fail" | "info"): void {
    op.done = true;
    const client = op.client;
    if (verdict === "ok") this.stats.ok++;
    else if (verdict === "fail") this.stats.failed++;
    else {
      this.stats.unknown++;
      // Jepsen's convention: a client whose operation is in doubt goes on
      // as a new process.
      client.generation++;
    }
    client.busy = false;
    // Back off after a failure, unless told where the leader is.
    const pause = verdict === "ok" || client.target !== null ? 20 : 60;
    this.#host.schedule(this.#rng.uniform(0, pause), {
      kind: "client",
      client: client.index,
    });
  }

  #newValue(key: string): number {
    const value = this.#nextValue++;
    const recent = this.#recent.get(key) ?? [];
    recent.push(value);
    if (recent.length > 3) recent.shift();
    this.#recent.set(key, recent);
    return value;
  }
}
