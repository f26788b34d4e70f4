/**
 * A node's pending client requests: the promise of each proposal, read and
 * transfer until the core's effects settle or fail it, and the proposals
 * waiting at each log index until that index is applied.
 * @module
 */
import type { Clock, TimerId } from "./clock.ts";
import {
  OutcomeUnknownError,
  type RaftError,
  StoppedError,
  StorageError,
} from "./errors.ts";
import type { NodeId } from "./types.ts";

interface Pending {
  readonly kind: "propose" | "read" | "transfer";
  // deno-lint-ignore no-explicit-any
  readonly resolve: (value: any) => void;
  readonly reject: (error: unknown) => void;
  index: number;
  term: number;
  /**
   * Sent to the leader (forwardProposals, forwardReads): for a proposal,
   * whether it was appended is unknown from now on.
   */
  forwarded?: boolean;
  timer?: TimerId;
}

/** The kind of a client request. */
export type RequestKind = Pending["kind"];

/** Client requests of one node from the call until their answer. */
export class PendingRequests {
  readonly #nodeId: NodeId;
  readonly #clock: Clock;
  #nextRequest = 1;
  readonly #requests = new Map<number, Pending>();
  /**
   * Proposals waiting at each log index. Usually one; a forwarded proposal
   * answered late can wait at an index a newer proposal of a newer term
   * also waits at (found in review), and at apply only the one whose term
   * matches succeeds.
   */
  readonly #byIndex = new Map<number, number[]>();

  /** Times requests out on `clock`. */
  constructor(nodeId: NodeId, clock: Clock) {
    this.#nodeId = nodeId;
    this.#clock = clock;
  }

  /**
   * Opens a request under a new id and hands that id to `submit`; the
   * request fails once `timeoutMs` passes.
   */
  open<T>(
    kind: RequestKind,
    submit: (id: number) => void,
    timeoutMs?: number,
  ): Promise<T> {
    const id = this.#nextRequest++;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { kind, resolve, reject, index: 0, term: 0 };
      if (timeoutMs !== undefined) {
        pending.timer = this.#clock.setTimeout(() => {
          this.fail(
            id,
            kind === "propose" && (pending.index > 0 || pending.forwarded)
              ? new OutcomeUnknownError(pending.index, "the deadline passed")
              : new StoppedError(
                this.#nodeId,
                kind === "propose"
                  ? `Cannot propose as the deadline of ${timeoutMs} ms passed before the entry was appended (never proposed)`
                  : `Cannot finish the ${kind} as its deadline of ${timeoutMs} ms passed`,
              ),
          );
        }, timeoutMs);
      }
      this.#requests.set(id, pending);
      submit(id);
    });
  }

  /** Whether request `requestId` still waits for its answer. */
  has(requestId: number): boolean {
    return this.#requests.has(requestId);
  }

  /** The request was sent to the leader. */
  forwarded(requestId: number): void {
    const pending = this.#requests.get(requestId);
    if (pending) pending.forwarded = true;
  }

  /** The proposal sits at (index, term); `lastApplied` is applied already. */
  accepted(
    accepted: { requestId: number; index: number; term: number },
    lastApplied: number,
  ): void {
    const pending = this.#requests.get(accepted.requestId);
    if (!pending) return;
    pending.index = accepted.index;
    pending.term = accepted.term;
    if (accepted.index <= lastApplied) {
      // Only a forwarded proposal's answer can come this late (after a
      // reordering network delivered the commit first): its result is gone.
      this.fail(
        accepted.requestId,
        new OutcomeUnknownError(
          accepted.index,
          "it was applied before the leader's answer arrived",
        ),
      );
      return;
    }
    const waiting = this.#byIndex.get(accepted.index);
    if (waiting) waiting.push(accepted.requestId);
    else this.#byIndex.set(accepted.index, [accepted.requestId]);
  }

  /**
   * The entry at `index` of `term` was applied with `result`: the proposal
   * waiting there succeeds if it is that entry.
   */
  applied(index: number, term: number, result: unknown): void {
    const waiting = this.#byIndex.get(index);
    if (waiting === undefined) return;
    this.#byIndex.delete(index);
    for (const requestId of waiting) {
      const pending = this.#requests.get(requestId);
      if (pending && pending.term === term) {
        this.settle(requestId, { index, term, result });
      } else if (pending) {
        this.fail(
          requestId,
          new OutcomeUnknownError(
            index,
            "another entry committed at its index",
          ),
        );
      }
    }
  }

  /**
   * A snapshot up to `index` was restored. Proposals it jumped over were
   * appended by this node as leader; whether they are the entries that
   * committed is unknown.
   */
  restored(index: number): void {
    for (const [waitIndex, requestIds] of [...this.#byIndex]) {
      if (waitIndex > index) continue;
      for (const requestId of requestIds) {
        this.fail(
          requestId,
          new OutcomeUnknownError(waitIndex, "a snapshot replaced its entry"),
        );
      }
    }
  }

  /** Fails every request as the node stops (`cause`: a storage failure). */
  stopAll(cause: unknown): void {
    for (const [requestId, pending] of this.#requests) {
      let error: RaftError;
      if (cause !== null) {
        const appended = pending.kind === "propose" &&
          (pending.index > 0 || pending.forwarded === true);
        error = new StorageError(
          appended
            ? `Cannot tell whether the ${
              pending.index > 0
                ? `proposal at index ${pending.index}`
                : "forwarded proposal"
            } committed as node ${this.#nodeId} stopped on a storage failure`
            : `Cannot finish the request as node ${this.#nodeId} stopped on a storage failure`,
          { cause, index: appended ? pending.index : undefined },
        );
      } else if (
        pending.kind === "propose" && (pending.index > 0 || pending.forwarded)
      ) {
        error = new OutcomeUnknownError(pending.index, "the node stopped");
      } else error = new StoppedError(this.#nodeId);
      this.fail(requestId, error);
    }
    this.#byIndex.clear();
  }

  /** Rejects request `requestId` with `error`. */
  fail(requestId: number, error: unknown): void {
    const pending = this.#requests.get(requestId);
    if (!pending) return;
    this.#requests.delete(requestId);
    if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
    if (pending.index > 0 && pending.kind === "propose") {
      this.#untrack(pending.index, requestId);
    }
    pending.reject(error);
  }

  /** Resolves request `requestId` with `value`. */
  settle(requestId: number, value: unknown): void {
    const pending = this.#requests.get(requestId);
    if (!pending) return;
    this.#requests.delete(requestId);
    if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
    pending.resolve(value);
  }

  #untrack(index: number, requestId: number): void {
    const waiting = this.#byIndex.get(index);
    if (!waiting) return;
    const rest = waiting.filter((id) => id !== requestId);
    if (rest.length > 0) this.#byIndex.set(index, rest);
    else this.#byIndex.delete(index);
  }
}
