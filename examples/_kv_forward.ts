// One-hop forwarding of a client request from a follower to the leader.
// The leader sees who forwarded it (and never forwards again) and how much
// of the deadline is left. When the hop fails, a read is answered 503 (it
// changed nothing, so a retry is safe). A write is answered 504 (outcome
// unknown) unless it provably never left this node: a "connection refused"
// on a pooled keep-alive connection proves nothing, since fetch retries a
// request whose pooled connection died under it on a new connection, so the
// refusal can be the second attempt of a request the (now dead) leader
// already proposed; the black-box test caught exactly that. So after a
// failed hop the leader is "suspect", and later hops to it use a fresh
// connection each, where a refusal does prove the request was never sent
// (503). The first success makes it trusted (and pooled) again.

/** Header naming the follower that forwarded a request. */
export const FORWARDED = "x-kv-forwarded-by";
/** Header with the milliseconds left of the client's deadline. */
export const REMAINING_MS = "x-kv-deadline-ms";

const SLACK_MS = 250;

export interface ForwardOptions {
  readonly request: Request;
  /** The body, already read and checked by the follower. */
  readonly body: Uint8Array | null;
  readonly leaderUrl: string;
  readonly from: string;
  readonly remainingMs: number;
  readonly fetch: typeof fetch;
  /** Leader URLs whose last hop failed: reached on fresh connections. */
  readonly suspects: Set<string>;
}

function json(status: number, value: unknown, headers: HeadersInit = {}) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function refused(error: unknown): boolean {
  const text = `${(error as Error)?.message} ${
    ((error as Error)?.cause as Error)?.message
  }`;
  return /Connection refused|os error 111|ECONNREFUSED/.test(text);
}

export async function forwardToLeader(o: ForwardOptions): Promise<Response> {
  const source = new URL(o.request.url);
  const target = new URL(source.pathname + source.search, o.leaderUrl);
  const headers = new Headers({
    [FORWARDED]: o.from,
    [REMAINING_MS]: String(Math.max(1, Math.floor(o.remainingMs))),
  });
  const contentType = o.request.headers.get("content-type");
  if (contentType) headers.set("content-type", contentType);
  const isRead = o.request.method === "GET";
  const fresh = o.suspects.has(o.leaderUrl)
    ? Deno.createHttpClient({ poolMaxIdlePerHost: 0 })
    : undefined;
  try {
    const response = await o.fetch(target, {
      client: fresh,
      method: o.request.method,
      headers,
      body: o.body as Uint8Array<ArrayBuffer> | null,
      redirect: "manual",
      signal: AbortSignal.timeout(o.remainingMs + SLACK_MS),
    });
    const bytes = await response.arrayBuffer();
    o.suspects.delete(o.leaderUrl);
    if (response.status >= 300 && response.status < 400) {
      // Never pass a redirect on: clients must not be sent elsewhere.
      return json(isRead ? 503 : 504, {
        error: `leader answered ${response.status}`,
        outcome: isRead ? undefined : "unknown",
      }, isRead ? { "Retry-After": "1" } : {});
    }
    const out = new Headers();
    for (const name of ["content-type", "retry-after"]) {
      const value = response.headers.get(name);
      if (value !== null) out.set(name, value);
    }
    return new Response(bytes, { status: response.status, headers: out });
  } catch (error) {
    o.suspects.add(o.leaderUrl);
    if (isRead || (fresh !== undefined && refused(error))) {
      return json(503, {
        error: `Cannot reach the leader: ${(error as Error)?.message}`,
      }, { "Retry-After": "1" });
    }
    return json(504, {
      error: `Cannot tell whether the leader got the request: ${
        (error as Error)?.message
      }`,
      outcome: "unknown",
    });
  } finally {
    fresh?.close();
  }
}
