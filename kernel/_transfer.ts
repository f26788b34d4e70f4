/**
 * The leadership transfer a core tracks (thesis §3.10): the leader's role
 * starts it; the kernel ends it when a newer term has a leader (done if it
 * is the target, failed otherwise), when its deadline passes, or when the
 * node stops.
 * @module
 */
import type { TransferState } from "./behavior.ts";
import { type RaftError, TransferFailedError } from "./errors.ts";
import type { NodeId } from "./types.ts";
import type { ReadyCollector } from "./_ready.ts";

/** Tracks at most one leadership transfer; its outcome goes to the Ready. */
export class TransferTracker {
  readonly #ready: ReadyCollector;
  #transfer: TransferState | null = null;

  /** Reports outcomes into `ready`. */
  constructor(ready: ReadyCollector) {
    this.#ready = ready;
  }

  /** The transfer in progress, if any. */
  get current(): TransferState | null {
    return this.#transfer;
  }

  /** Starts tracking a transfer to `target` begun in `term`. */
  start(
    requestId: number,
    target: NodeId,
    term: number,
    deadline: number,
  ): TransferState {
    this.#transfer = {
      requestId,
      target,
      term,
      deadline,
      timeoutNowSent: false,
    };
    return this.#transfer;
  }

  /** Ends the transfer once a newer term has a leader or it timed out. */
  check(term: number, leaderId: NodeId | null, now: number): void {
    const transfer = this.#transfer;
    if (!transfer) return;
    if (term > transfer.term && leaderId !== null) {
      if (leaderId === transfer.target) this.end();
      else {
        this.end(
          new TransferFailedError(
            transfer.target,
            "superseded",
            `${leaderId} became leader`,
          ),
        );
      }
    } else if (now >= transfer.deadline) {
      this.end(new TransferFailedError(transfer.target, "timeout"));
    }
  }

  /** Ends the transfer, successfully or with `error`. */
  end(error?: RaftError): void {
    const transfer = this.#transfer;
    if (!transfer) return;
    this.#transfer = null;
    if (error) this.#ready.failed(transfer.requestId, error);
    else this.#ready.transferDone(transfer.requestId);
  }

  /** Fails the transfer in progress because the node stops. */
  stop(): void {
    if (this.#transfer) {
      this.end(new TransferFailedError(this.#transfer.target, "stopped"));
    }
  }
}
