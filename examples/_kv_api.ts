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
// proposal's outcome is unknown. A request to a follower goes to the leader
// once, through the node (createNode's `forwardProposals` and
// `forwardReads`): the follower's node sends a write or a read-index request
// with the Raft messages, and answers once this member applied the write or
// caught up with the read index, so a follower read is linearizable and
// served from its own state.
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

/** Options of {@linkcode createKvApi}. */
export interface KvApiOptions {
  /**
   * The node to serve. Created with `forwardProposals` and `forwardReads`,
   * its followers take every request; without them a follower answers 503
   * (never proposed) with the leader it knows named in the error.
   */
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
  let shuttingDown = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  /** Runs a request on this node; a failure becomes its status. */
  async function respond(
    c: Context,
    run: () => Promise<Response>,
  ): Promise<Response> {
    try {
      return await run();
    } catch (error) {
      return failure(c, error);
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

  async function propose(command: Json) {
    return await node.propose(command, { timeoutMs: deadlineMs });
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
    return await respond(c, async () => {
      const r = await propose({ op: "put", key, value });
      return c.json({ index: r.index }, 200);
    });
  });

  app.delete("/kv/:key", async (c) => {
    const key = checkKey(c);
    if (key instanceof Response) return key;
    return await respond(c, async () => {
      const r = await propose({ op: "delete", key });
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
    return await respond(c, async () => {
      const r = await propose({ op: "cas", key, ...parsed });
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
    return await respond(c, async () => {
      const index = await deadline(node.readIndex(), deadlineMs);
      return answer(index);
    });
  });

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
