// The sending half of the HTTP transport: one PeerSender per peer, with at
// most one request in flight. Messages sent while a request is in flight
// queue up and leave together in the next request, so a busy leader sends
// few large requests instead of many small ones, and order per peer is kept.
import { HEADERS, newNonce, sign } from "./_http_auth.ts";

const encoder = new TextEncoder();
const MAX_BACKOFF_MS = 100;

/** Counters shared by every sender of a transport. */
export interface SenderStats {
  sentMessages: number;
  sentRequests: number;
  failedRequests: number;
  droppedMessages: number;
}

export interface PeerSenderOptions {
  readonly peerId: string;
  /** Absolute URL of the peer's message endpoint. */
  readonly url: URL;
  readonly clusterId: string;
  readonly key: Promise<CryptoKey>;
  readonly maxBodyBytes: number;
  readonly maxQueuedMessages: number;
  readonly requestTimeoutMs: number;
  readonly client?: Deno.HttpClient;
  readonly now: () => number;
  readonly stats: SenderStats;
  readonly onError: (error: Error) => void;
}

export class PeerSender {
  readonly #o: PeerSenderOptions;
  #queue: Uint8Array[] = [];
  #pump: Promise<void> | null = null;
  #closed = false;
  #abort = new AbortController();
  #backoffTimer: ReturnType<typeof setTimeout> | null = null;
  #wake: (() => void) | null = null;

  constructor(options: PeerSenderOptions) {
    this.#o = options;
  }

  send(message: unknown): void {
    if (this.#closed) return;
    const bytes = encoder.encode(JSON.stringify(message));
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

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue = [];
    this.#abort.abort();
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
      if (await this.#post(body.bytes, body.count)) {
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
    const taken = this.#queue.splice(0, count);
    const bytes = new Uint8Array(size);
    bytes[0] = 0x5b; // [
    let offset = 1;
    taken.forEach((message, i) => {
      if (i > 0) bytes[offset++] = 0x2c; // ,
      bytes.set(message, offset);
      offset += message.byteLength;
    });
    bytes[offset] = 0x5d; // ]
    return { bytes, count };
  }

  async #post(body: Uint8Array, count: number): Promise<boolean> {
    const o = this.#o;
    o.stats.sentRequests++;
    try {
      const timestamp = String(o.now());
      const nonce = newNonce();
      const signature = await sign(await o.key, {
        method: "POST",
        path: o.url.pathname,
        clusterId: o.clusterId,
        timestamp,
        nonce,
      }, body);
      const response = await fetch(o.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [HEADERS.cluster]: o.clusterId,
          [HEADERS.timestamp]: timestamp,
          [HEADERS.nonce]: nonce,
          [HEADERS.signature]: signature,
        },
        body: body as Uint8Array<ArrayBuffer>,
        signal: AbortSignal.any([
          this.#abort.signal,
          AbortSignal.timeout(o.requestTimeoutMs),
        ]),
        client: o.client,
      });
      // Reading the (small) body lets the keep-alive connection be reused.
      const text = await response.text();
      if (response.ok) {
        o.stats.sentMessages += count;
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
}
