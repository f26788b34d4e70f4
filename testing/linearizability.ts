/**
 * A linearizability checker: is there one order of the operations, each
 * placed at an instant between its call and its return, that a sequential
 * {@linkcode Model} accepts?
 *
 * The search is Wing & Gong's, with Lowe's just-in-time linearization and
 * memoization (Lowe, "Testing for linearizability", 2017): walk a linked list
 * of call and return events; at a call, try to linearize that operation now;
 * at a return, some operation must already have been linearized, so
 * backtrack. A configuration (set of linearized operations, model state)
 * seen before is never explored twice. Keys are independent, so each key's
 * history is searched on its own, which keeps the sets small.
 *
 * An operation with an unknown outcome (`return: null`) may be linearized at
 * any instant after its call, or never: it has no return event, so nothing
 * forces it into the order.
 *
 * @example
 * ```ts
 * import { checkHistory } from "./linearizability.ts";
 * import { HistoryRecorder } from "./history.ts";
 * import { kvModel } from "./models.ts";
 *
 * const recorder = new HistoryRecorder();
 * recorder.ok(recorder.invoke(1, { kind: "put", key: "x", value: "a" }));
 * recorder.ok(recorder.invoke(2, { kind: "get", key: "x" }), null);
 * const result = checkHistory(recorder.operations(), kvModel);
 * result.linearizable; // false: the read started after the put returned
 * result.stuckOn; // the get
 * ```
 *
 * @module
 */

import type { Operation } from "./history.ts";
import type { Model } from "./models.ts";

/** Options for {@linkcode checkHistory}. */
export interface CheckOptions {
  /**
   * Give up after this many milliseconds (the search is exponential in the
   * worst case). Defaults to no limit.
   */
  readonly timeoutMs?: number;
}

/** The verdict of {@linkcode checkHistory}, with a report when it fails. */
export interface CheckResult {
  /**
   * True when the history is linearizable. False when it is not, or when the
   * check timed out before deciding (then `timedOut` is true).
   */
  readonly linearizable: boolean;
  /** True when the time limit ran out before a verdict. */
  readonly timedOut?: boolean;
  /** On failure: the key whose history is not linearizable. */
  readonly key?: string;
  /**
   * On failure: the shortest prefix (in real time) of that key's history
   * found to be not linearizable, in call order. It ends with the return of
   * `stuckOn`; operations still running at that instant appear with an
   * unknown outcome. It is itself a non-linearizable history.
   */
  readonly stuckPrefix?: Operation[];
  /** On failure: the operation whose completion no order can explain. */
  readonly stuckOn?: Operation;
  /**
   * On failure: one valid order of the operations in `stuckPrefix` as it
   * stood just before `stuckOn` returned. Operations with an unknown outcome
   * that did not need to happen are left out.
   */
  readonly linearizedBefore?: Operation[];
}

/**
 * Checks whether `operations` is linearizable with respect to `model`.
 *
 * Operation A precedes B when `A.return < B.call`; equal times count as
 * overlapping. Each key is checked on its own.
 *
 * @example
 * ```ts
 * import { checkHistory } from "./linearizability.ts";
 * import { HistoryRecorder } from "./history.ts";
 * import { kvModel } from "./models.ts";
 *
 * const recorder = new HistoryRecorder();
 * const put = recorder.invoke(1, { kind: "put", key: "x", value: "a" });
 * const get = recorder.invoke(2, { kind: "get", key: "x" });
 * recorder.ok(get, "a"); // overlaps the put, so it may see it
 * recorder.ok(put);
 * checkHistory(recorder.operations(), kvModel).linearizable; // true
 * ```
 *
 * @param operations The history, in any order.
 * @param model The sequential specification of one key.
 * @param options A time limit.
 * @returns The verdict and, on failure, a report.
 */
export function checkHistory<S>(
  operations: readonly Operation[],
  model: Model<S>,
  options: CheckOptions = {},
): CheckResult {
  const timeoutMs = options.timeoutMs ?? Infinity;
  if (!(timeoutMs >= 0)) {
    throw new RangeError(
      `Cannot check a history as timeoutMs must be at least 0: received ${timeoutMs}`,
    );
  }
  const deadline = performance.now() + timeoutMs;
  const expired = (): boolean => performance.now() >= deadline;
  let timedOut = false;
  for (const [key, ops] of partitionByKey(operations, model)) {
    const outcome = search(ops, model, expired);
    if (outcome.verdict === "timeout") timedOut = true;
    if (outcome.verdict === "not-linearizable") {
      return explain(key, ops, model, expired);
    }
  }
  return timedOut ? { linearizable: false, timedOut } : { linearizable: true };
}

type Expired = () => boolean;

type SearchOutcome =
  | { readonly verdict: "linearizable"; readonly order: number[] }
  | { readonly verdict: "not-linearizable" }
  | { readonly verdict: "timeout" };

interface Event {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
}

/** A node of the doubly linked event list; a call points at its return. */
interface Entry {
  readonly op: number;
  readonly isCall: boolean;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

function asUnknown(operation: Operation): Operation {
  return { ...operation, output: undefined, return: null } as Operation;
}

function partitionByKey<S>(
  operations: readonly Operation[],
  model: Model<S>,
): Map<string, Operation[]> {
  const partitions = new Map<string, Operation[]>();
  for (let op of operations) {
    if (
      !Number.isFinite(op.call) ||
      (op.return !== null && !(op.return >= op.call))
    ) {
      throw new RangeError(
        `Cannot check operation #${op.id} as its times are invalid: call ${op.call}, return ${op.return}`,
      );
    }
    if (op.return === null) {
      op = op.output === undefined ? op : asUnknown(op);
      // An unknown read can always be left out of the order: it proves nothing.
      if (model.readOnly?.(op)) continue;
    }
    const partition = partitions.get(op.key);
    if (partition === undefined) partitions.set(op.key, [op]);
    else partition.push(op);
  }
  return partitions;
}

/** Events in time order; on a tie, calls first, so equal times overlap. */
function sortedEvents(ops: readonly Operation[]): Event[] {
  const events: Event[] = [];
  ops.forEach((op, index) => {
    events.push({ op: index, isCall: true, time: op.call });
    if (op.return !== null) {
      events.push({ op: index, isCall: false, time: op.return });
    }
  });
  return events.sort((a, b) =>
    a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op
  );
}

function buildList(events: readonly Event[], size: number): Entry {
  const head: Entry = {
    op: -1,
    isCall: false,
    match: null,
    prev: null,
    next: null,
  };
  const calls: Entry[] = new Array(size);
  let tail = head;
  for (const { op, isCall } of events) {
    const entry: Entry = { op, isCall, match: null, prev: tail, next: null };
    tail.next = entry;
    tail = entry;
    if (isCall) {
      calls[op] = entry;
    } else {
      calls[op].match = entry;
      entry.match = calls[op];
    }
  }
  return head;
}

function unlink(entry: Entry): void {
  entry.prev!.next = entry.next;
  if (entry.next !== null) entry.next.prev = entry.prev;
}

function relink(entry: Entry): void {
  entry.prev!.next = entry;
  if (entry.next !== null) entry.next.prev = entry;
}

/** Removes a linearized operation's call and return from the list. */
function lift(call: Entry): void {
  unlink(call);
  if (call.match !== null) unlink(call.match);
}

/** Undoes {@linkcode lift}; relinking in reverse order restores the list. */
function unlift(call: Entry): void {
  if (call.match !== null) relink(call.match);
  relink(call);
}

function search<S>(
  ops: readonly Operation[],
  model: Model<S>,
  expired: Expired,
): SearchOutcome {
  let remaining = ops.reduce((n, op) => op.return === null ? n : n + 1, 0);
  if (remaining === 0) return { verdict: "linearizable", order: [] };
  const head = buildList(sortedEvents(ops), ops.length);
  const linearized = new Uint16Array(Math.ceil(ops.length / 16));
  const flip = (op: number): void => {
    linearized[op >> 4] ^= 1 << (op & 15);
  };
  const seen = new Set<string>();
  const stack: { call: Entry; before: S }[] = [];
  let state = model.init();
  let entry = head.next;
  for (let steps = 0;; steps++) {
    if ((steps & 1023) === 0 && expired()) return { verdict: "timeout" };
    if (entry !== null && entry.isCall) {
      const op = ops[entry.op];
      const result = model.step(state, op);
      if (result.ok) {
        flip(entry.op);
        // The set of linearized operations has a fixed width, so plain
        // concatenation with the state key cannot collide.
        const config = String.fromCharCode(...linearized) +
          model.stateKey(result.state);
        if (!seen.has(config)) {
          seen.add(config);
          stack.push({ call: entry, before: state });
          state = result.state;
          lift(entry);
          if (op.return !== null && --remaining === 0) {
            return {
              verdict: "linearizable",
              order: stack.map((f) => f.call.op),
            };
          }
          entry = head.next;
          continue;
        }
        flip(entry.op);
      }
      entry = entry.next;
    } else {
      // A return event: its operation should have been linearized by now.
      // Undo the latest choice and try the next call after it instead.
      const frame = stack.pop();
      if (frame === undefined) return { verdict: "not-linearizable" };
      state = frame.before;
      flip(frame.call.op);
      if (ops[frame.call.op].return !== null) remaining++;
      unlift(frame.call);
      entry = frame.call.next;
    }
  }
}

/**
 * Finds the shortest failing prefix of one key's history by bisection over
 * its return events: linearizability is prefix-closed, so once a prefix
 * fails, every longer one does too.
 */
function explain<S>(
  key: string,
  ops: readonly Operation[],
  model: Model<S>,
  expired: Expired,
): CheckResult {
  const events = sortedEvents(ops);
  const returns: number[] = [];
  events.forEach((event, position) => {
    if (!event.isCall) returns.push(position);
  });
  // The operations of events[0, end): those not yet returned become unknown.
  const prefix = (end: number): Operation[] => {
    const returned = new Set<number>();
    for (let i = 0; i < end; i++) {
      if (!events[i].isCall) returned.add(events[i].op);
    }
    const result: Operation[] = [];
    for (let i = 0; i < end; i++) {
      const { op, isCall } = events[i];
      if (!isCall) continue;
      const operation = ops[op];
      if (operation.return === null || returned.has(op)) {
        result.push(operation);
      } else if (!model.readOnly?.(operation)) {
        result.push(asUnknown(operation));
      }
    }
    return result;
  };
  let low = 0;
  let high = returns.length - 1;
  let finished = true;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const outcome = search(prefix(returns[middle] + 1), model, expired);
    if (outcome.verdict === "timeout") {
      finished = false;
      break;
    }
    if (outcome.verdict === "not-linearizable") high = middle;
    else low = middle + 1;
  }
  const end = returns[high];
  const report = {
    linearizable: false,
    key,
    stuckPrefix: prefix(end + 1),
    stuckOn: ops[events[end].op],
  };
  if (!finished) return report;
  const before = prefix(end);
  const outcome = search(before, model, expired);
  if (outcome.verdict !== "linearizable") return report;
  return { ...report, linearizedBefore: outcome.order.map((i) => before[i]) };
}
