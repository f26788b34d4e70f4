/**
 * The client requests a simulated node holds, and how each ends: a failure
 * from the core, a read served once applied far enough, a proposal answered
 * when its entry is applied (or outcome unknown when another entry took its
 * index), or lost in a crash. Mirrors the bookkeeping of `kernel/_driver.ts`.
 * @module
 */
import type { ClientRequest } from "../kernel/behavior.ts";
import type { Ready } from "../kernel/core.ts";
import { OutcomeUnknownError, type RaftError } from "../kernel/errors.ts";
import type { Json } from "../kernel/types.ts";
import { InvariantViolation } from "./invariants.ts";
import type { NodeOutcome } from "./_sim_world.ts";

interface Held {
  readonly kind: ClientRequest["type"];
  /** The core has seen it. */
  stepped: boolean;
  /** Log position once appended (0 before). */
  index: number;
  term: number;
  /** The core answered it (read ready). */
  answered: boolean;
  /** Sent to the leader (forwarding): it ends by answer or timeout. */
  forwarded: boolean;
}

/** The requests one node holds in one life. */
export class HeldRequests {
  readonly #resolve: (requestId: number, outcome: NodeOutcome) => void;
  readonly #held = new Map<number, Held>();
  /** Proposals waiting at each index (a late forwarded answer can share one). */
  readonly #byIndex = new Map<number, number[]>();
  #reads: { requestId: number; index: number }[] = [];

  /** `resolve` tells the clients how a request ended. */
  constructor(resolve: (requestId: number, outcome: NodeOutcome) => void) {
    this.#resolve = resolve;
  }

  /** A request arrived (it is stepped with the next batch). */
  received(request: ClientRequest): void {
    this.#held.set(request.id, {
      kind: request.type,
      stepped: false,
      index: 0,
      term: 0,
      answered: false,
      forwarded: false,
    });
  }

  /** The core has seen request `requestId`. */
  stepped(requestId: number): void {
    const held = this.#held.get(requestId);
    if (held) held.stepped = true;
  }

  /** What a Ready says about requests (`lastApplied` before applying it). */
  dispatched(ready: Ready, lastApplied: number): void {
    for (const requestId of ready.forwarded) {
      const held = this.#held.get(requestId);
      if (held) held.forwarded = true;
    }
    for (const a of ready.accepted) {
      const held = this.#held.get(a.requestId);
      if (!held) continue;
      held.index = a.index;
      held.term = a.term;
      if (a.index <= lastApplied) {
        // A forwarded proposal's answer that came after its commit.
        this.#fail(
          a.requestId,
          new OutcomeUnknownError(a.index, "applied before the answer came"),
        );
        continue;
      }
      const waiting = this.#byIndex.get(a.index);
      if (waiting) waiting.push(a.requestId);
      else this.#byIndex.set(a.index, [a.requestId]);
    }
    for (const f of ready.failures) this.#fail(f.requestId, f.error);
    for (const requestId of ready.transfersDone) {
      if (this.#held.delete(requestId)) {
        this.#resolve(requestId, { type: "done" });
      }
    }
    for (const r of ready.reads) {
      const held = this.#held.get(r.requestId);
      if (held) held.answered = true;
      this.#reads.push(r);
    }
  }

  /** The entry at `index` of `term` was applied with `result`. */
  applied(index: number, term: number, result: Json): void {
    const waiting = this.#byIndex.get(index);
    if (waiting === undefined) return;
    this.#byIndex.delete(index);
    for (const requestId of waiting) {
      const held = this.#held.get(requestId);
      if (!held) continue;
      if (held.term === term) {
        this.#held.delete(requestId);
        this.#resolve(requestId, { type: "applied", result, index, term });
      } else {
        this.#fail(
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
   * A snapshot up to `index` was restored: whether the proposals it jumped
   * over are the entries that committed is unknown.
   */
  restored(index: number): void {
    for (const [at, requestIds] of [...this.#byIndex]) {
      if (at > index) continue;
      for (const requestId of requestIds) {
        this.#fail(
          requestId,
          new OutcomeUnknownError(at, "a snapshot replaced its entry"),
        );
      }
    }
  }

  /** Serves the reads whose index is applied. */
  serve(lastApplied: number): void {
    if (this.#reads.length === 0) return;
    const waiting: { requestId: number; index: number }[] = [];
    for (const read of this.#reads) {
      if (read.index > lastApplied) waiting.push(read);
      else if (this.#held.delete(read.requestId)) {
        this.#resolve(read.requestId, { type: "read", index: read.index });
      }
    }
    this.#reads = waiting;
  }

  /** The node crashed: every request is lost. */
  crashed(): void {
    const held = [...this.#held];
    this.#held.clear();
    this.#byIndex.clear();
    this.#reads = [];
    for (const [requestId, r] of held) {
      this.#resolve(requestId, {
        type: "lost",
        stepped: r.stepped,
        appended: r.index > 0 || (r.kind === "propose" && r.forwarded),
      });
    }
  }

  /** One request still held, described, or `null`. */
  unanswered(): string | null {
    for (const [id, r] of this.#held) return `${r.kind} request ${id}`;
    return null;
  }

  /**
   * Request Accountability: once a node holds no leadership, every request
   * it took must have been answered, or be a proposal already committed
   * (the apply answers it). A leader role that loses a request on the way
   * out leaves a client waiting forever (ODL Bug 6587).
   */
  check(where: string, commitIndex: number): void {
    for (const [requestId, r] of this.#held) {
      // A forwarded request waits for the leader's answer, its timeout, or
      // the apply of its entry or read index, whatever this node's role.
      if (!r.stepped || r.answered || r.kind === "transfer" || r.forwarded) {
        continue;
      }
      if (r.kind === "propose" && r.index > 0 && r.index <= commitIndex) {
        continue;
      }
      throw new InvariantViolation(
        "Request Accountability",
        `${where} but never answered ${r.kind} request ${requestId}${
          r.index > 0 ? ` (appended at ${r.index})` : ""
        }`,
      );
    }
  }

  #fail(requestId: number, error: RaftError): void {
    const held = this.#held.get(requestId);
    if (!held) return;
    this.#held.delete(requestId);
    const waiting = held.index > 0 ? this.#byIndex.get(held.index) : undefined;
    if (waiting) {
      const rest = waiting.filter((id) => id !== requestId);
      if (rest.length > 0) this.#byIndex.set(held.index, rest);
      else this.#byIndex.delete(held.index);
    }
    this.#resolve(requestId, { type: "error", error });
  }
}
