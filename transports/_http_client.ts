// The sending half of the HTTP transport: one PeerSender per peer, with at
// most one request in flight. Messages sent while a request is in flight
// queue up and leave together in the next request, so a busy leader sends
// few large requests instead of many small ones, and order per peer is kept.
// A request that asks for answers may get them back in its response (see
// _http_replies.ts), signed by the peer over this request's nonce.
import { HEADERS } from "./_http_auth.ts";
import type { PeerAuth } from "./_http_peer_auth.ts";
import { encodeMessage, joinBatch } from "./_http_batch.ts";
import { BodyTooLargeError, readBodyLimited } from "./_http_body.ts";

const MAX_BACKOFF_MS = 100;

/** Request header: this sender takes answers in the response. */
export const ANSWERS_HEADER = "x-raft-answers";
/** Method name the signature of a response with answers is made over. */
export const ANSWER_METHOD = "ANSWER";

/** Counters shared by every sender of a transport. */
export interface SenderStats {
  sentMessages: number;
  sentRequests: number;
  answersReceived: number;
  failedRequests: number;
  droppedMessages: number;
}

export interface PeerSenderOptions {
  readonly peerId: string;
  /** Absolute URL of the peer's message endpoint. */
  readonly url: URL;
  readonly clusterId: string;
  readonly auth: PeerAuth;
  readonly maxBodyBytes: number;
  readonly maxQueuedMessages: number;
  readonly requestTimeoutMs: number;
  readonly client?: Deno.HttpClient;
  readonly now: () => number;
  readonly stats: SenderStats;
  readonly onError: (error: Error) => void;
  /** Receives the checked body of answers that came back in a response. */
  readonly onAnswers: (body: Uint8Array) => void;
  /** Seconds from sending a request to handling its accepted response. */
  readonly onRoundTrip?: (peerId: string, seconds: number) => void;
}

export class PeerSender {
  readonly #o: PeerSenderOptions;
  #queue: Uint8Array[] = [];
  #pump: Promise<void> | null = null;
  #closed = false;
  #abort = new AbortController();
  #startedAt = 0;
  #watchdog: ReturnType<typeof setInterval> | null = null;
  #backoffTimer: ReturnType<typeof setTimeout> | null = null;
  #wake: (() => void) | null = null;

  constructor(options: PeerSenderOptions) {
    this.#o = options;
  }

  send(message: unknown): void {
    if (this.#closed) return;
    const bytes = encodeMessage(message);
    // Room for "[" and "]": a message that can never fit is dropped; Raft
    // retries with a smaller AppendEntries or not at all.
    if (bytes.byteLength + 2 > this.#o.maxBodyBytes) {
      this.#o.stats.droppedMessages++;
      this.#o.onError(
        new Error(
          `Cannot send a message of ${bytes.byteLength} bytes to ${this.#o.peerId} as it exceeds maxBodyBytes`,
        ),
      );
      return;
    }
    this.#queue.push(bytes);
    if (this.#queue.length > this.#o.maxQueuedMessages) {
      // Losing the oldest is always safe in Raft; newer messages matter more.
      this.#queue.shift();
      this.#o.stats.droppedMessages++;
    }
    if (this.#pump === null) this.#pump = this.#run();
  }

  /** Messages waiting for the next request (not the one in flight). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether a request is in flight (or the sender is backing off). */
  get busy(): boolean {
    return this.#pump !== null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue = [];
    this.#abort.abort();
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
    if (this.#backoffTimer !== null) clearTimeout(this.#backoffTimer);
    this.#backoffTimer = null;
    this.#wake?.();
    await this.#pump?.catch(() => {});
  }

  async #run(): Promise<void> {
    // Wait one microtask so every message sent in this turn shares the
    // first request.
    await Promise.resolve();
    let backoffMs = 0;
    while (this.#queue.length > 0 && !this.#closed) {
      const body = this.#takeBatch();
      const delivered = await this.#post(body.bytes, body.count);
      this.#startedAt = 0;
      if (delivered) {
        backoffMs = 0;
        continue;
      }
      backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs === 0 ? 5 : 2 * backoffMs);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#backoffTimer = setTimeout(resolve, backoffMs);
      });
      this.#backoffTimer = null;
      this.#wake = null;
    }
    // Cleared in the same turn as the last check of the queue, so a send
    // either sees a running pump that will take its message or starts one.
    this.#pump = null;
  }

  #takeBatch(): { bytes: Uint8Array; count: number } {
    let size = 2;
    let count = 0;
    for (const message of this.#queue) {
      const next = size + message.byteLength + (count > 0 ? 1 : 0);
      if (next > this.#o.maxBodyBytes) break;
      size = next;
      count++;
    }
    return { bytes: joinBatch(this.#queue.splice(0, count)), count };
  }

  /**
   * The signal of the next request. One controller per request, aborted by
   * close() or by a watchdog once the request is older than the timeout:
   * cheaper than a timer and a combined signal per request, which showed up
   * in profiles of a busy leader.
   */
  #requestSignal(): AbortSignal {
    if (this.#abort.signal.aborted && !this.#closed) {
      this.#abort = new AbortController();
    }
    this.#startedAt = performance.now();
    if (this.#watchdog === null && !this.#closed) {
      const timeoutMs = this.#o.requestTimeoutMs;
      this.#watchdog = setInterval(() => {
        if (
          this.#pump !== null && this.#startedAt > 0 &&
          performance.now() - this.#startedAt > timeoutMs
        ) {
          this.#startedAt = 0;
          this.#abort.abort(
            new DOMException("the peer did not answer in time", "TimeoutError"),
          );
        }
      }, Math.max(10, Math.floor(timeoutMs / 4)));
      Deno.unrefTimer(this.#watchdog);
    }
    return this.#abort.signal;
  }

  async #post(body: Uint8Array, count: number): Promise<boolean> {
    const o = this.#o;
    o.stats.sentRequests++;
    try {
      const signed = o.auth.sign(o.url.pathname, body);
      const nonce = signed[HEADERS.nonce];
      const sentAt = performance.now();
      const response = await fetch(o.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...signed,
          [ANSWERS_HEADER]: "1",
        },
        body: body as Uint8Array<ArrayBuffer>,
        signal: this.#requestSignal(),
        client: o.client,
      });
      if (response.status === 200) {
        o.stats.sentMessages += count;
        if (await this.#answers(response, nonce)) this.#roundTrip(sentAt);
        return true;
      }
      // Reading the (small) body lets the keep-alive connection be reused.
      const text = await response.text();
      if (response.ok) {
        o.stats.sentMessages += count;
        this.#roundTrip(sentAt);
        return true;
      }
      o.stats.failedRequests++;
      o.stats.droppedMessages += count;
      o.onError(
        new Error(
          `Cannot deliver ${count} message(s) to ${o.peerId} as it answered ${response.status}: ${
            text.slice(0, 200)
          }`,
        ),
      );
      return false;
    } catch (error) {
      o.stats.failedRequests++;
      o.stats.droppedMessages += count;
      if (!this.#closed) {
        o.onError(
          new Error(
            `Cannot deliver ${count} message(s) to ${o.peerId}: ${
              (error as Error)?.message
            }`,
            { cause: error },
          ),
        );
      }
      return false;
    }
  }

  /** Reports a delivered request; a throwing observer never fails it. */
  #roundTrip(sentAt: number): void {
    const o = this.#o;
    if (!o.onRoundTrip) return;
    try {
      o.onRoundTrip(o.peerId, (performance.now() - sentAt) / 1000);
    } catch (error) {
      o.onError(
        new Error(`onRoundTrip threw: ${(error as Error)?.message}`, {
          cause: error,
        }),
      );
    }
  }

  /**
   * Checks the answers in a response and hands them on; drops bad ones.
   * True when they were handed on.
   */
  async #answers(response: Response, nonce: string): Promise<boolean> {
    const o = this.#o;
    let body: Uint8Array;
    try {
      body = await readBodyLimited(response, o.maxBodyBytes);
    } catch (error) {
      o.onError(
        new Error(
          error instanceof BodyTooLargeError
            ? `Cannot take answers from ${o.peerId} over ${o.maxBodyBytes} bytes`
            : `Cannot read answers from ${o.peerId}: ${
              (error as Error)?.message
            }`,
        ),
      );
      return false;
    }
    const signature = response.headers.get(HEADERS.signature) ?? "";
    const timestamp = response.headers.get(HEADERS.timestamp) ?? "";
    const fields = {
      method: ANSWER_METHOD,
      path: o.url.pathname,
      clusterId: o.clusterId,
      timestamp,
      nonce,
    };
    if (!o.auth.signer.verify(fields, body, signature)) {
      o.onError(
        new Error(`Cannot trust answers from ${o.peerId}: bad signature`),
      );
      return false;
    }
    o.stats.answersReceived++;
    o.onAnswers(body);
    return true;
  }
}
