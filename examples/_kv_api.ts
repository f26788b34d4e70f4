// The client API of a KV node, as a Hono app:
//
//   PUT    /kv/:key          body = value (UTF-8)      200 {"index"}
//   GET    /kv/:key[?stale=true]                       200 {"value","index"} | 404
//   DELETE /kv/:key                                    200 {"index"}
//   POST   /kv/:key/cas      {"expect","value"}        200 {"ok","value"}
//   GET    /status                                     200 {"id","role",...}
//   GET    /metrics                                    Prometheus text
//
// Status codes tell a client whether a retry is safe: 503 (with
// Retry-After) only for requests that were never proposed; 504 when a
// proposal's outcome is unknown. A follower forwards to the leader once.
import { Hono } from "hono";
import type { Context } from "hono";
import { deadline, DeadlineError } from "../kernel/async.ts";
import {
  IsolatedLeaderError,
  NotLeaderError,
  OutcomeUnknownError,
  StoppedError,
  StorageError,
  TransferInProgressError,
} from "../kernel/errors.ts";
import type { RaftNode } from "../kernel/node.ts";
import type { Json, NodeId } from "../kernel/types.ts";
import {
  BodyTooLargeError,
  readBodyLimited,
} from "../transports/_http_body.ts";
import type { KvMetrics } from "./_kv_metrics.ts";
import type { KvResult, KvStateMachine } from "./kv_state_machine.ts";
import { FORWARDED, forwardToLeader, REMAINING_MS } from "./_kv_forward.ts";
import {
  FORWARD_PATH,
  ForwardBatcher,
  serveForwardBatch,
} from "./_kv_forward_batch.ts";
import type { PeerAuth } from "../transports/http.ts";

/** Options of {@linkcode createKvApi}. */
export interface KvApiOptions {
  readonly node: RaftNode<KvResult>;
  readonly machine: KvStateMachine;
  /** Client API base URL of every member (same server as the peer RPC). */
  readonly members: Readonly<Record<NodeId, string>>;
  /** How long a request may take before 504 (default 1,500 ms). */
  readonly deadlineMs?: number;
  readonly metrics?: KvMetrics;
  /** Largest value in bytes (default 64 KiB). */
  readonly maxValueBytes?: number;
  /** Largest key in bytes (default 1 KiB). */
  readonly maxKeyBytes?: number;
  /** For forwarding (default: global `fetch`). */
  readonly fetch?: typeof fetch;
  /**
   * Signs and checks requests between members (the HTTP transport's
   * `auth`). With it, a follower forwards client requests in batches over
   * `POST /raft/forward`, signed; without it, one plain request each.
   */
  readonly peerAuth?: PeerAuth;
  /**
   * The node forwards proposals itself (createNode's `forwardProposals`):
   * writes are proposed on this member, whose node sends them to the
   * leader with the Raft messages and answers once this member applied
   * them, so they are never forwarded over HTTP (reads still are). A
   * NotLeaderError then means the leader refused it: never proposed, 503.
   */
  readonly nodeForwardsProposals?: boolean;
  /** Forward batches in flight to the leader at once (default 4). */
  readonly forwardBatchesInFlight?: number;
}

/** The client API and what graceful shutdown needs from it. */
export interface KvApi {
  readonly app: Hono;
  /** From now on, answer new client requests 503. */
  beginShutdown(): void;
  /** Settles once no client request is in flight (or after `ms`). */
  drain(ms: number): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

type Status = 200 | 400 | 404 | 413 | 500 | 503 | 504;

function unavailable(c: Context, error: string): Response {
  return c.json({ error }, 503, { "Retry-After": "1" });
}

/**
 * Maps a failed request to its status. Never-proposed failures are 503 (safe
 * to retry); appended-but-unfinished ones are 504 (outcome unknown).
 */
function failure(c: Context, error: unknown): Response {
  const message = (error as Error)?.message ?? String(error);
  if (
    error instanceof NotLeaderError || error instanceof IsolatedLeaderError ||
    error instanceof TransferInProgressError || error instanceof StoppedError
  ) {
    return unavailable(c, message);
  }
  if (error instanceof OutcomeUnknownError || error instanceof DeadlineError) {
    return c.json({ error: message, outcome: "unknown" }, 504);
  }
  if (error instanceof StorageError) {
    return c.json({ error: message, outcome: "unknown" }, 500);
  }
  return c.json({ error: message }, 500);
}

/**
 * Creates the client API of `node`.
 *
 * @example
 * ```ts ignore
 * const api = createKvApi({ node, machine, members });
 * Deno.serve(api.app.fetch);
 * ```
 */
export function createKvApi(options: KvApiOptions): KvApi {
  const { node, machine, metrics } = options;
  const deadlineMs = options.deadlineMs ?? 1500;
  const maxValueBytes = options.maxValueBytes ?? 64 * 1024;
  const maxKeyBytes = options.maxKeyBytes ?? 1024;
  const doFetch = options.fetch ?? fetch;
  const suspects = new Set<string>();
  const batcher = options.peerAuth
    ? new ForwardBatcher({
      from: node.id,
      auth: options.peerAuth,
      fetch: doFetch,
      maxInFlight: options.forwardBatchesInFlight,
      suspects,
    })
    : null;
  let shuttingDown = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  // Time left for this request: the forwarding follower passes on its own.
  const remainingMs = (c: Context): number => {
    const passed = Number(c.req.header(REMAINING_MS));
    return Number.isFinite(passed) && passed > 0
      ? Math.min(passed, deadlineMs)
      : deadlineMs;
  };

  /** Runs on this node if it leads, else forwards once to the leader. */
  async function serveOrForward(
    c: Context,
    body: Uint8Array | null,
    local: (ms: number) => Promise<Response>,
    write = true,
  ): Promise<Response> {
    const started = performance.now();
    const budget = remainingMs(c);
    if (
      write && options.nodeForwardsProposals &&
      c.req.header(FORWARDED) !== undefined && node.leaderId !== node.id
    ) {
      // Already forwarded once: its node must not forward it again through
      // Raft either. Never proposed, so safe to retry.
      return unavailable(c, "Cannot take a forwarded write: not the leader");
    }
    try {
      return await local(budget);
    } catch (error) {
      const leaderId = error instanceof NotLeaderError ? error.leaderId : null;
      const left = budget - (performance.now() - started);
      if (
        leaderId === null || leaderId === node.id ||
        (write && options.nodeForwardsProposals) ||
        c.req.header(FORWARDED) !== undefined ||
        options.members[leaderId] === undefined || left <= 0
      ) {
        return failure(c, error);
      }
      if (batcher !== null) {
        return await batcher.forward(
          c.req.raw,
          body,
          options.members[leaderId],
          left,
        );
      }
      return await forwardToLeader({
        request: c.req.raw,
        body,
        leaderUrl: options.members[leaderId],
        from: node.id,
        remainingMs: left,
        fetch: doFetch,
        suspects,
      });
    }
  }

  async function readValue(
    c: Context,
    limit: number,
  ): Promise<Uint8Array | Response> {
    try {
      return await readBodyLimited(c.req.raw, limit);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return c.json({ error: `value exceeds ${maxValueBytes} bytes` }, 413);
      }
      return c.json({ error: "Cannot read the body" }, 400);
    }
  }

  function checkKey(c: Context): string | Response {
    const key = c.req.param("key") ?? "";
    if (key.length === 0 || encoder.encode(key).byteLength > maxKeyBytes) {
      return c.json({ error: `key must be 1 to ${maxKeyBytes} bytes` }, 400);
    }
    return key;
  }

  async function propose(command: Json, ms: number) {
    return await node.propose(command, { timeoutMs: ms });
  }

  const app = new Hono();

  app.use("/kv/*", async (c, next) => {
    if (shuttingDown) return unavailable(c, "Cannot serve: shutting down");
    inFlight++;
    const started = performance.now();
    try {
      await next();
    } finally {
      inFlight--;
      metrics?.request(
        opOf(c.req.method, c.req.path),
        c.res.status,
        (performance.now() - started) / 1000,
      );
      if (inFlight === 0) drained?.();
    }
  });

  app.put("/kv/:key", async (c) => {
    const key = checkKey(c);
    if (key instanceof Response) return key;
    const body = await readValue(c, maxValueBytes);
    if (body instanceof Response) return body;
    let value: string;
    try {
      value = decoder.decode(body);
    } catch {
      return c.json({ error: "value must be UTF-8" }, 400);
    }
    return await serveOrForward(c, body, async (ms) => {
      const r = await propose({ op: "put", key, value }, ms);
      return c.json({ index: r.index }, 200);
    });
  });

  app.delete("/kv/:key", async (c) => {
    const key = checkKey(c);
    if (key instanceof Response) return key;
    return await serveOrForward(c, null, async (ms) => {
      const r = await propose({ op: "delete", key }, ms);
      return c.json({ index: r.index }, 200);
    });
  });

  app.post("/kv/:key/cas", async (c) => {
    const key = checkKey(c);
    if (key instanceof Response) return key;
    const body = await readValue(c, 2 * maxValueBytes + 1024);
    if (body instanceof Response) return body;
    const parsed = parseCas(body, maxValueBytes);
    if (typeof parsed === "number") {
      return c.json({
        error: parsed === 413
          ? `value exceeds ${maxValueBytes} bytes`
          : 'body must be {"expect": string | null, "value": string}',
      }, parsed as Status);
    }
    return await serveOrForward(c, body, async (ms) => {
      const r = await propose({ op: "cas", key, ...parsed }, ms);
      return c.json({ ok: r.result.ok, value: r.result.value }, 200);
    });
  });

  app.get("/kv/:key", async (c) => {
    const key = checkKey(c);
    if (key instanceof Response) return key;
    const answer = (index: number) => {
      const value = machine.get(key);
      return value === null
        ? c.json({ error: "not found", index }, 404)
        : c.json({ value, index }, 200);
    };
    const stale = c.req.query("stale");
    if (stale === "true" || stale === "1") return answer(node.lastApplied);
    return await serveOrForward(c, null, async (ms) => {
      const index = await deadline(node.readIndex(), ms);
      return answer(index);
    }, false);
  });

  if (options.peerAuth) {
    const auth = options.peerAuth;
    app.post(FORWARD_PATH, async (c) => {
      const checked = await auth.check(c.req.raw, FORWARD_PATH);
      if ("status" in checked) {
        return c.json({ error: checked.error }, checked.status);
      }
      return await serveForwardBatch(
        checked.body,
        c.req.header(FORWARDED) ?? "peer",
        new URL(c.req.url).origin,
        (request) => app.fetch(request),
      );
    });
  }

  app.get("/status", (c) =>
    c.json({
      id: node.id,
      role: node.role,
      term: node.term,
      leaderId: node.leaderId,
      commitIndex: node.commitIndex,
      lastApplied: node.lastApplied,
      members: Object.entries(options.members).map(([id, url]) => ({
        id,
        url,
      })),
    }));

  app.get("/metrics", (c) =>
    c.text(metrics?.render() ?? "", 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));

  return {
    app,
    beginShutdown() {
      shuttingDown = true;
    },
    drain(ms: number): Promise<void> {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}

function opOf(method: string, path: string): string {
  if (path.endsWith("/cas") && method === "POST") return "cas";
  return ({ PUT: "put", GET: "get", DELETE: "delete" } as Record<
    string,
    string
  >)[method] ?? "other";
}

/** The checked body of a cas, or the status to refuse it with. */
function parseCas(
  body: Uint8Array,
  maxValueBytes: number,
): { expect: string | null; value: string } | 400 | 413 {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch {
    return 400;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return 400;
  }
  const v = value as Record<string, unknown>;
  if (typeof v.value !== "string") return 400;
  if (v.expect !== null && typeof v.expect !== "string") return 400;
  const size = (s: string | null) => s === null ? 0 : encoder.encode(s).length;
  if (size(v.value) > maxValueBytes || size(v.expect) > maxValueBytes) {
    return 413;
  }
  return { expect: v.expect, value: v.value };
}
