// Batched one-hop forwarding: client requests a follower passes on to the
// leader travel together, many in one signed POST to /raft/forward, so a
// busy leader serves a few peer requests instead of one HTTP request per
// forwarded client request (the leader's HTTP handling was the bottleneck
// at 64 clients). The leader runs every request of a batch through its own
// client API, as if each had come alone with x-kv-forwarded-by, so status
// codes, deadlines and the never-forward-twice rule are those of a single
// hop; all of a batch are proposed in one turn and commit together.
//
// What a failed batch means for each request in it is what a failed single
// hop means (see _kv_forward.ts): a read answers 503; a write answers 504
// (outcome unknown) unless it provably never reached the leader: a refused
// connection on a fresh (unpooled) connection, a batch the leader refused
// before running any of it (401, 403, 413, 400, 404), or a request whose
// deadline ran out while it waited here for a batch.
import type { PeerAuth } from "../transports/http.ts";
import { FORWARDED, REMAINING_MS } from "./_kv_forward.ts";

/** Path of the batch endpoint, relative to a member's base URL. */
export const FORWARD_PATH = "/raft/forward";

const SLACK_MS = 250;
/** Most requests in one batch. */
const MAX_OPS = 256;
/** Largest batch body, roughly (values are at most 64 KiB). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** One forwarded client request, as it travels in a batch. */
interface ForwardedOp {
  /** Method. */
  readonly m: string;
  /** Path and query. */
  readonly p: string;
  /** Body (already checked to be UTF-8) or null. */
  readonly b: string | null;
  /** Content type or null. */
  readonly t: string | null;
  /** Milliseconds left of the client's deadline. */
  readonly ms: number;
}

/** The leader's answer to one forwarded request. */
interface ForwardedResult {
  /** Status. */
  readonly s: number;
  /** Body. */
  readonly b: string;
  /** Content type. */
  readonly t: string | null;
  /** Retry-After. */
  readonly r: string | null;
}

interface Waiting {
  readonly op: Omit<ForwardedOp, "ms">;
  readonly deadlineAt: number;
  readonly bytes: number;
  readonly resolve: (response: Response) => void;
}

interface Lane {
  pending: Waiting[];
  inFlight: number;
  scheduled: boolean;
}

function json(status: number, value: unknown, headers: HeadersInit = {}) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function unavailable(error: string): Response {
  return json(503, { error }, { "Retry-After": "1" });
}

function unknown(error: string): Response {
  return json(504, { error, outcome: "unknown" });
}

function refused(error: unknown): boolean {
  const text = `${(error as Error)?.message} ${
    ((error as Error)?.cause as Error)?.message
  }`;
  return /Connection refused|os error 111|ECONNREFUSED/.test(text);
}

/** Options of {@linkcode ForwardBatcher}. */
export interface ForwardBatcherOptions {
  /** This member's id (the leader sees who forwarded). */
  readonly from: string;
  readonly auth: PeerAuth;
  readonly fetch: typeof fetch;
  /** Batches in flight to one leader at once (default 4). */
  readonly maxInFlight?: number;
  /** Leader URLs whose last hop failed: reached on fresh connections. */
  readonly suspects: Set<string>;
}

/** The follower side: queues forwarded requests and sends them in batches. */
export class ForwardBatcher {
  readonly #o: ForwardBatcherOptions;
  readonly #lanes = new Map<string, Lane>();
  readonly #maxInFlight: number;

  constructor(options: ForwardBatcherOptions) {
    this.#o = options;
    this.#maxInFlight = options.maxInFlight ?? 4;
  }

  /**
   * Forwards one client request to `leaderUrl`; settles with the response
   * for the client. Requests arriving while `maxInFlight` batches are out
   * wait and leave together in the next one.
   */
  forward(
    request: Request,
    body: Uint8Array | null,
    leaderUrl: string,
    remainingMs: number,
  ): Promise<Response> {
    const url = new URL(request.url);
    const text = body === null ? null : new TextDecoder().decode(body);
    const op = {
      m: request.method,
      p: url.pathname + url.search,
      b: text,
      t: request.headers.get("content-type"),
    };
    let lane = this.#lanes.get(leaderUrl);
    if (lane === undefined) {
      lane = { pending: [], inFlight: 0, scheduled: false };
      this.#lanes.set(leaderUrl, lane);
    }
    const bytes = (text?.length ?? 0) * 3 + op.p.length * 3 + 64;
    const answer = new Promise<Response>((resolve) => {
      lane.pending.push({
        op,
        deadlineAt: performance.now() + remainingMs,
        bytes,
        resolve,
      });
    });
    this.#schedule(leaderUrl, lane);
    return answer;
  }

  #schedule(leaderUrl: string, lane: Lane): void {
    if (lane.scheduled || lane.inFlight >= this.#maxInFlight) return;
    if (lane.pending.length === 0) return;
    lane.scheduled = true;
    // Everything forwarded in this turn goes in one batch.
    queueMicrotask(() => {
      lane.scheduled = false;
      this.#send(leaderUrl, lane);
    });
  }

  #send(leaderUrl: string, lane: Lane): void {
    const now = performance.now();
    const batch: Waiting[] = [];
    let size = 0;
    while (lane.pending.length > 0 && batch.length < MAX_OPS) {
      const next = lane.pending[0];
      if (batch.length > 0 && size + next.bytes > MAX_BATCH_BYTES) break;
      lane.pending.shift();
      if (next.deadlineAt - now < 1) {
        // It never left this node: safe to retry.
        next.resolve(
          unavailable("Cannot forward: the deadline passed while queued"),
        );
        continue;
      }
      batch.push(next);
      size += next.bytes;
    }
    if (batch.length === 0) return;
    lane.inFlight++;
    this.#post(leaderUrl, batch, now).finally(() => {
      lane.inFlight--;
      this.#schedule(leaderUrl, lane);
    });
  }

  async #post(leaderUrl: string, batch: Waiting[], now: number) {
    const o = this.#o;
    const ops: ForwardedOp[] = batch.map((w) => ({
      ...w.op,
      ms: Math.max(1, Math.floor(w.deadlineAt - now)),
    }));
    const longest = Math.max(...ops.map((op) => op.ms));
    const body = new TextEncoder().encode(JSON.stringify({ ops }));
    const target = new URL(FORWARD_PATH, leaderUrl);
    const fresh = o.suspects.has(leaderUrl)
      ? Deno.createHttpClient({ poolMaxIdlePerHost: 0 })
      : undefined;
    const fail = (read: () => Response, write: () => Response) => {
      for (const w of batch) w.resolve(w.op.m === "GET" ? read() : write());
    };
    try {
      let response: Response;
      try {
        response = await o.fetch(target, {
          client: fresh,
          method: "POST",
          headers: {
            "content-type": "application/json",
            [FORWARDED]: o.from,
            ...o.auth.sign(target.pathname, body),
          },
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(longest + SLACK_MS),
        });
      } catch (error) {
        o.suspects.add(leaderUrl);
        const message = (error as Error)?.message;
        const reach = () => unavailable(`Cannot reach the leader: ${message}`);
        fail(
          reach,
          fresh !== undefined && refused(error) ? reach : () =>
            unknown(
              `Cannot tell whether the leader got the request: ${message}`,
            ),
        );
        return;
      }
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        o.suspects.add(leaderUrl);
        const message = (error as Error)?.message;
        fail(
          () => unavailable(`Cannot read the leader's answer: ${message}`),
          () => unknown(`Cannot read the leader's answer: ${message}`),
        );
        return;
      }
      o.suspects.delete(leaderUrl);
      if (response.status !== 200) {
        const why = `leader answered the batch ${response.status}: ${
          text.slice(0, 200)
        }`;
        // Refused before anything in it ran: never proposed.
        const before = [400, 401, 403, 404, 413].includes(response.status);
        fail(
          () => unavailable(why),
          () => before ? unavailable(why) : unknown(why),
        );
        return;
      }
      let results: ForwardedResult[];
      try {
        results = (JSON.parse(text) as { results: ForwardedResult[] }).results;
        if (!Array.isArray(results) || results.length !== batch.length) {
          throw new Error("wrong number of results");
        }
      } catch (error) {
        const why = `Cannot read the leader's answer: ${
          (error as Error).message
        }`;
        fail(() => unavailable(why), () => unknown(why));
        return;
      }
      batch.forEach((w, i) => {
        const r = results[i];
        const headers = new Headers();
        if (r.t) headers.set("content-type", r.t);
        if (r.r) headers.set("retry-after", r.r);
        w.resolve(new Response(r.b, { status: r.s, headers }));
      });
    } finally {
      fresh?.close();
    }
  }
}

/**
 * The leader side: parses an authenticated batch from `from`, runs each
 * request through `serve` (the client API) as a forwarded request, and
 * answers them all in one response.
 */
export async function serveForwardBatch(
  body: Uint8Array,
  from: string,
  base: string,
  serve: (request: Request) => Response | Promise<Response>,
): Promise<Response> {
  let ops: ForwardedOp[];
  try {
    const parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      body,
    )) as { ops?: unknown };
    if (!Array.isArray(parsed.ops)) throw new Error("no ops");
    ops = parsed.ops.map(checkOp);
  } catch (error) {
    return json(400, {
      error: `Cannot read the batch: ${(error as Error).message}`,
    });
  }
  const results = await Promise.all(ops.map(async (op) => {
    const headers: Record<string, string> = {
      [FORWARDED]: from,
      [REMAINING_MS]: String(op.ms),
    };
    if (op.t !== null) headers["content-type"] = op.t;
    const response = await serve(
      new Request(new URL(op.p, base), {
        method: op.m,
        headers,
        body: op.b,
      }),
    );
    return {
      s: response.status,
      b: await response.text(),
      t: response.headers.get("content-type"),
      r: response.headers.get("retry-after"),
    } satisfies ForwardedResult;
  }));
  return json(200, { results });
}

const METHODS = new Set(["GET", "PUT", "DELETE", "POST"]);

function checkOp(raw: unknown): ForwardedOp {
  const op = raw as Partial<ForwardedOp> | null;
  if (
    op === null || typeof op !== "object" ||
    typeof op.m !== "string" || !METHODS.has(op.m) ||
    typeof op.p !== "string" ||
    !new URL(op.p, "http://x").pathname.startsWith("/kv/") ||
    (op.b !== null && typeof op.b !== "string") ||
    (op.t !== null && typeof op.t !== "string") ||
    typeof op.ms !== "number" || !(op.ms > 0)
  ) {
    throw new Error("a request in it is malformed");
  }
  if ((op.m === "GET" || op.m === "DELETE") && op.b !== null) {
    throw new Error(`a ${op.m} in it has a body`);
  }
  return op as ForwardedOp;
}
