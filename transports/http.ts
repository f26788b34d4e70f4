/**
 * The HTTP transport: peers talk Raft over HTTP/1.1 (or HTTPS) with `fetch`
 * on one side and a Hono app on the other.
 *
 * - **Sending.** One request in flight per peer, on a keep-alive
 *   connection. Messages sent while it is in flight queue up and leave
 *   together, as a JSON array, in the next request (at most `maxBodyBytes`
 *   per request). Loss is fine, as Raft retries: a failed request is dropped
 *   and the sender backs off briefly (5 → 100 ms).
 * - **Answers in the response.** A batch that asks for answers
 *   (AppendEntries, RequestVote, InstallSnapshot) from a sender that says
 *   it takes them (`x-raft-answers: 1`) holds its response open for up to
 *   `answerWaitMs`; what this node sends to that peer meanwhile (normally
 *   the answers, once durable) comes back as the response body, `200` with
 *   a JSON array, signed like a request but with method `ANSWER` and the
 *   request's nonce, so it cannot be replayed onto another request. That
 *   saves a request per answer. Later messages take the normal path, and
 *   only answers go into a response while a request to that peer is in
 *   flight (an AppendEntries overtaking the one before would be refused).
 * - **Receiving.** `POST /raft/messages` accepts a batch only when every
 *   check passes, and each failure has its own status: missing or bad
 *   signature 401; wrong cluster id 403; timestamp outside the window or a
 *   replayed nonce 401; body over `maxBodyBytes`, counted as it streams,
 *   413; a message of another version, failing `validateMessage`, not
 *   addressed to this node or from a non-member 400. A rejected batch never
 *   reaches the node, so it changes no state.
 * - **Authentication.** Every request carries the cluster id, a timestamp
 *   (ms since the epoch), a random nonce and an HMAC-SHA256 with the shared
 *   secret over `raft-v1`, method, path, cluster id, timestamp and nonce
 *   (newline-separated) followed by the raw body.
 *
 * @example Three members in one process, on loopback
 * ```ts
 * import { createHttpTransport, serve } from "./http.ts";
 *
 * const ids = ["a", "b", "c"];
 * const handlers = new Map<string, (r: Request) => Promise<Response>>();
 * const servers = ids.map((id) =>
 *   serve((request) => handlers.get(id)!(request), { port: 0 })
 * );
 * const peers = Object.fromEntries(ids.map((id, i) => [id, servers[i].url]));
 * const transports = ids.map((id) =>
 *   createHttpTransport({ id, clusterId: "demo", secret: "s3cret", peers })
 * );
 * transports.forEach((t, i) => handlers.set(ids[i], t.fetch));
 * // pass transports[i] to createNode({ transport, ... })
 * for (const t of transports) await t.close();
 * for (const s of servers) await s.shutdown();
 * ```
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { ConfigError } from "../kernel/errors.ts";
import type { Message } from "../kernel/messages.ts";
import type { Transport } from "../kernel/transport.ts";
import type { NodeId } from "../kernel/types.ts";
import { HEADERS } from "./_http_auth.ts";
import { createPeerAuth, type PeerAuth } from "./_http_peer_auth.ts";
import {
  encodeMessage,
  isAnswer,
  joinBatch,
  parseBatch,
  replyingTo,
} from "./_http_batch.ts";
import { ANSWER_METHOD, ANSWERS_HEADER, PeerSender } from "./_http_client.ts";
import { ReplyWindows } from "./_http_replies.ts";

export type {
  AuthenticPeerRequest,
  PeerAuth,
  PeerAuthOptions,
  PeerRefusal,
} from "./_http_peer_auth.ts";
export type { SignedFields, Signer } from "./_http_auth.ts";
// The message and type schema this transport carries, for the docs.
export type * from "../kernel/messages.ts";
export type { Transport } from "../kernel/transport.ts";
export type * from "../kernel/types.ts";

/** Path of the peer message endpoint, relative to a member's base URL. */
export const RAFT_MESSAGES_PATH = "/raft/messages";

/** Options of {@linkcode createHttpTransport}. */
export interface HttpTransportOptions {
  /** This member's id. */
  readonly id: NodeId;
  /** Requests from another cluster are refused (403). */
  readonly clusterId: string;
  /** Shared secret of the HMAC-SHA256 every request is signed with. */
  readonly secret: string;
  /**
   * Base URL of every member, e.g. `{ b: "http://127.0.0.1:7002" }`. This
   * member's own entry, if present, is ignored for sending.
   */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Largest request body, in bytes, sent or accepted (default 8 MiB). */
  readonly maxBodyBytes?: number;
  /** How far a request's timestamp may be from now (default 30,000 ms). */
  readonly timestampWindowMs?: number;
  /** A request to a peer is abandoned after this long (default 2,000 ms). */
  readonly requestTimeoutMs?: number;
  /** Most messages queued for one peer; the oldest go first (default 4,096). */
  readonly maxQueuedMessages?: number;
  /** Extra CA certificates (PEM) to trust for `https` peers. */
  readonly caCerts?: readonly string[];
  /** Wall clock for timestamps, ms since the epoch (default `Date.now`). */
  readonly now?: () => number;
  /**
   * How long a request that asks for answers (AppendEntries, RequestVote,
   * InstallSnapshot) waits for them to ride back in its response; 0 sends
   * every answer in a request of its own (default 20 ms).
   */
  readonly answerWaitMs?: number;
  /**
   * Receives delivery failures and rejected requests (default: ignore). An
   * error it throws is printed with `console.error` and changes nothing.
   */
  readonly onError?: (error: Error) => void;
  /**
   * Called once per request a peer accepted, with the seconds from sending
   * it to having handled the answers that came back in the response. A
   * request carrying AppendEntries waits for the peer's write, so this is
   * the replication round trip that `/metrics` of the example KV node shows.
   */
  readonly onRoundTrip?: (peerId: NodeId, seconds: number) => void;
}

/** Counters of an {@linkcode HttpTransport}. */
export interface HttpTransportStats {
  /** Messages a peer accepted. */
  sentMessages: number;
  /** Requests sent to peers. */
  sentRequests: number;
  /** Requests that failed or were refused. */
  failedRequests: number;
  /** Messages lost: refused, failed, oversized, or pushed out of a full queue. */
  droppedMessages: number;
  /** Responses that carried answers back to this node. */
  answersReceived: number;
  /** Messages this node sent in the response to a peer's request. */
  answeredMessages: number;
  /** Messages handed to the node. */
  receivedMessages: number;
  /** Peer requests accepted. */
  receivedRequests: number;
  /** Peer requests refused, by status code. */
  rejectedRequests: Record<number, number>;
}

/**
 * The Hono app that serves a transport's peers, seen through the two calls
 * callers need: `fetch` (to serve or mount it) and `request` (to test it
 * without a socket).
 */
export interface PeerApp {
  /** Answers one request. */
  fetch(request: Request): Response | Promise<Response>;
  /** Answers a request built from `input` and `init`, like `fetch` would. */
  request(
    input: string | URL | Request,
    init?: RequestInit,
  ): Response | Promise<Response>;
}

/** A {@linkcode Transport} over HTTP, with the app that serves its peers. */
export interface HttpTransport extends Transport {
  /**
   * The Hono app serving `POST /raft/messages`. Serve `fetch`, or mount it
   * in another app: `app.post(RAFT_MESSAGES_PATH, (c) => t.fetch(c.req.raw))`.
   */
  readonly app: PeerApp;
  /** The app's fetch handler, for `Deno.serve` or {@linkcode serve}. */
  readonly fetch: (request: Request) => Promise<Response>;
  /** Counters. */
  readonly stats: HttpTransportStats;
  /**
   * Signs requests to members and checks requests from them with this
   * transport's secret, cluster id, clock, body limit and nonce cache: for
   * other endpoints only members may call.
   */
  readonly auth: PeerAuth;
  /** Stops sending and receiving; waits for requests in flight to end. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

function refuse(c: Context, status: 400 | 401 | 403 | 413, error: string) {
  return c.json({ error }, status);
}

/**
 * Creates the HTTP transport of member `id`. Sending starts when the node
 * sends; receiving needs `app` (or `fetch`) served on the member's URL.
 *
 * @param options Identity, secret, peers and limits.
 * @returns The transport; `close()` stops it.
 *
 * @example
 * ```ts
 * import { createHttpTransport, serve } from "./http.ts";
 * const transport = createHttpTransport({
 *   id: "a", clusterId: "c1", secret: "correct horse battery staple",
 *   peers: { a: "http://127.0.0.1:7001", b: "http://127.0.0.1:7002" },
 * });
 * const server = serve(transport.fetch, { hostname: "127.0.0.1", port: 0 });
 * await transport.close();
 * await server.shutdown();
 * ```
 */
export function createHttpTransport(
  options: HttpTransportOptions,
): HttpTransport {
  if (!options.secret) {
    throw new ConfigError("Cannot create an HTTP transport without a secret");
  }
  if (!options.clusterId) {
    throw new ConfigError(
      "Cannot create an HTTP transport without a cluster id",
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = options.now ?? Date.now;
  // A throwing observer must not fail the delivery it is told about (the
  // sender would count a delivered request as lost): its error goes to the
  // console instead, the one place left to report it.
  const onError = (error: Error) => {
    try {
      options.onError?.(error);
    } catch (thrown) {
      console.error("deno-raft: HttpTransport onError threw:", thrown);
    }
  };
  const auth = createPeerAuth({
    clusterId: options.clusterId,
    secret: options.secret,
    maxBodyBytes,
    timestampWindowMs: options.timestampWindowMs,
    now,
  });
  const signer = auth.signer;
  const stats: HttpTransportStats = {
    sentMessages: 0,
    sentRequests: 0,
    answersReceived: 0,
    answeredMessages: 0,
    failedRequests: 0,
    droppedMessages: 0,
    receivedMessages: 0,
    receivedRequests: 0,
    rejectedRequests: {},
  };
  const client = options.caCerts
    ? Deno.createHttpClient({ caCerts: [...options.caCerts] })
    : undefined;
  const senders = new Map<NodeId, PeerSender>();
  for (const [peerId, base] of Object.entries(options.peers)) {
    if (peerId === options.id) continue;
    senders.set(
      peerId,
      new PeerSender({
        peerId,
        url: new URL(
          `${base.replace(/\/+$/, "")}${RAFT_MESSAGES_PATH}`,
        ),
        clusterId: options.clusterId,
        auth,
        maxBodyBytes,
        maxQueuedMessages: options.maxQueuedMessages ?? 4096,
        requestTimeoutMs: options.requestTimeoutMs ?? 2000,
        client,
        now,
        stats,
        onError,
        onRoundTrip: options.onRoundTrip,
        onAnswers: (body) => {
          let messages: Message[];
          try {
            messages = parseBatch(body, options.id, members, peerId);
          } catch (error) {
            onError(
              new Error(
                `Cannot accept answers from ${peerId}: ${
                  (error as Error).message
                }`,
              ),
            );
            return;
          }
          deliver(messages);
        },
      }),
    );
  }
  const members = new Set(Object.keys(options.peers));
  const answerWaitMs = options.answerWaitMs ?? 20;
  const windows = new ReplyWindows(maxBodyBytes);
  let handler: ((message: unknown) => void) | null = null;
  let closed = false;
  const deliver = (messages: readonly Message[]) => {
    if (closed || !handler) return;
    for (const message of messages) {
      stats.receivedMessages++;
      handler(message);
    }
  };

  const app = new Hono();
  app.post(RAFT_MESSAGES_PATH, async (c) => {
    const reject = (status: 400 | 401 | 403 | 413, error: string) => {
      stats.rejectedRequests[status] = (stats.rejectedRequests[status] ?? 0) +
        1;
      return refuse(c, status, error);
    };
    const checked = await auth.check(c.req.raw, c.req.path);
    if ("status" in checked) return reject(checked.status, checked.error);
    const { body, fields } = checked;
    const headers = c.req.raw.headers;
    let messages: Message[];
    try {
      messages = parseBatch(body, options.id, members);
    } catch (error) {
      return reject(400, (error as Error).message);
    }
    stats.receivedRequests++;
    const asker = headers.get(ANSWERS_HEADER) === "1" && answerWaitMs > 0
      ? replyingTo(messages)
      : null;
    // Opened before delivery: a node may answer in the same turn.
    const answers = asker !== null && !closed && handler !== null
      ? windows.wait(asker, answerWaitMs)
      : null;
    deliver(messages);
    if (answers === null) return c.body(null, 204);
    const chunks = await answers;
    if (chunks.length === 0) return c.body(null, 204);
    stats.answeredMessages += chunks.length;
    const answerBody = joinBatch(chunks);
    const answeredAt = String(now());
    return new Response(answerBody as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: {
        "content-type": "application/json",
        [HEADERS.timestamp]: answeredAt,
        [HEADERS.signature]: signer.sign({
          method: ANSWER_METHOD,
          path: fields.path,
          clusterId: options.clusterId,
          timestamp: answeredAt,
          nonce: fields.nonce,
        }, answerBody),
      },
    });
  });

  return {
    app,
    fetch: async (request) => await app.fetch(request),
    stats,
    auth,
    send(to: NodeId, message: Message): void {
      if (closed) return;
      const sender = senders.get(to);
      if (sender === undefined) return;
      // Into an open response only when nothing older waits for a request,
      // and past a request in flight only if it is an answer: an
      // AppendEntries that overtook the one before it would be refused.
      if (
        sender.queued === 0 && windows.has(to) &&
        (!sender.busy || isAnswer(message)) &&
        windows.offer(to, encodeMessage(message))
      ) return;
      sender.send(message);
    },
    setHandler(h: (message: unknown) => void): void {
      handler = h;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      handler = null;
      windows.closeAll();
      await Promise.all([...senders.values()].map((s) => s.close()));
      client?.close();
    },
  };
}

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** Address to listen on (default `127.0.0.1`). */
  readonly hostname?: string;
  /** Port to listen on; 0 picks a free one (default 0). */
  readonly port?: number;
  /** PEM certificate chain: with `key`, serves HTTPS. */
  readonly cert?: string;
  /** PEM private key of `cert`. */
  readonly key?: string;
  /** Aborting it shuts the server down. */
  readonly signal?: AbortSignal;
}

/** A running server from {@linkcode serve}. */
export interface HttpServer {
  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  readonly url: string;
  /** Address listened on. */
  readonly hostname: string;
  /** Port listened on (the one picked when 0 was asked for). */
  readonly port: number;
  /** Stops accepting, waits for requests in flight, closes. */
  shutdown(): Promise<void>;
  /** Settles once the server is closed. */
  readonly finished: Promise<void>;
}

/**
 * Serves `handler` with `Deno.serve`: HTTP, or HTTPS when `cert` and `key`
 * are given. Prints nothing.
 *
 * @param handler A fetch handler, e.g. `transport.fetch` or `app.fetch`.
 * @param options Address, port, TLS and an abort signal.
 * @returns The server with its bound URL.
 *
 * @example
 * ```ts
 * import { serve } from "./http.ts";
 * const server = serve(() => new Response("ok"), { port: 0 });
 * console.log(server.url.startsWith("http://127.0.0.1:")); // true
 * await server.shutdown();
 * ```
 */
export function serve(
  handler: (request: Request) => Response | Promise<Response>,
  options: ServeOptions = {},
): HttpServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const tls = options.cert !== undefined && options.key !== undefined;
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new ConfigError("Cannot serve HTTPS without both cert and key");
  }
  const common = {
    hostname,
    port: options.port ?? 0,
    signal: options.signal,
    onListen: () => {},
  };
  const server = tls
    ? Deno.serve({ ...common, cert: options.cert!, key: options.key! }, handler)
    : Deno.serve(common, handler);
  const port = (server.addr as Deno.NetAddr).port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `${tls ? "https" : "http"}://${host}:${port}`,
    hostname,
    port,
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}
