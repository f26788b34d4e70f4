// Answers that ride back in the response. A peer's request that asks for
// answers (AppendEntries, RequestVote, InstallSnapshot) holds its response
// open for a short while; the first messages this node sends to that peer
// meanwhile (normally the answers, once they are durable) travel in the
// response body instead of a request of their own. That halves the requests
// per replicated entry: a follower's reply costs no fetch, no signing of a
// new request and no server round on the leader, and the leader learns of
// it as soon as the follower's write is done. Nothing waits past `waitMs`,
// and a message that does not fit, or comes later, takes the normal path.
import type { NodeId } from "../kernel/types.ts";
import { batchBytes } from "./_http_batch.ts";

interface Window {
  readonly chunks: Uint8Array[];
  bytes: number;
  timer: ReturnType<typeof setTimeout> | null;
  scheduled: boolean;
  readonly resolve: (chunks: Uint8Array[]) => void;
}

/** One open response per peer, waiting for messages to that peer. */
export class ReplyWindows {
  readonly #open = new Map<NodeId, Window>();
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Whether a response to `peer` is open for messages. */
  has(peer: NodeId): boolean {
    return this.#open.has(peer);
  }

  /**
   * Opens a window for `peer`; settles with the encoded messages it got,
   * once the first ones arrived (plus all sent in the same turn), after
   * `waitMs` with none, or at `closeAll`. A newer window for the same peer
   * ends the older one (its sender gave up on it, or it would not ask).
   */
  wait(peer: NodeId, waitMs: number): Promise<Uint8Array[]> {
    this.#finish(peer);
    return new Promise((resolve) => {
      const window: Window = {
        chunks: [],
        bytes: 0,
        timer: null,
        scheduled: false,
        resolve,
      };
      window.timer = setTimeout(() => {
        window.timer = null;
        if (this.#open.get(peer) === window) this.#finish(peer);
      }, waitMs);
      this.#open.set(peer, window);
    });
  }

  /**
   * Puts `message` (encoded) into the open window of `peer`; false when
   * there is none or it would outgrow the body limit.
   */
  offer(peer: NodeId, message: Uint8Array): boolean {
    const window = this.#open.get(peer);
    if (window === undefined) return false;
    const count = window.chunks.length + 1;
    if (batchBytes(window.bytes + message.byteLength, count) > this.#maxBytes) {
      return false;
    }
    window.chunks.push(message);
    window.bytes += message.byteLength;
    if (!window.scheduled) {
      // Everything sent in this turn (a batch of answers) goes together.
      window.scheduled = true;
      queueMicrotask(() => {
        if (this.#open.get(peer) === window) this.#finish(peer);
      });
    }
    return true;
  }

  /** Ends every window with what it has. */
  closeAll(): void {
    for (const peer of [...this.#open.keys()]) this.#finish(peer);
  }

  #finish(peer: NodeId): void {
    const window = this.#open.get(peer);
    if (window === undefined) return;
    this.#open.delete(peer);
    if (window.timer !== null) clearTimeout(window.timer);
    window.resolve(window.chunks);
  }
}
