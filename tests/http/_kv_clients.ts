// Closed-loop clients of the KV HTTP API that record what they asked and
// what they were told in a HistoryRecorder, classifying every answer the
// way the API promises: 200/404 happened, 503 definitely did not happen
// (never proposed), anything else (504, 500, any network error, a client
// timeout) may or may not have happened.
import type { HistoryRecorder } from "../../testing/history.ts";
import type { OperationHandle } from "../../testing/history.ts";

/** What the clients saw, besides the history. */
export interface ClientTally {
  ok: number;
  failed: number;
  unknown: number;
  /** Statuses a correct node never sends (400, 413, 3xx): test failures. */
  unexpected: string[];
  /** Index of every acknowledged put and delete: each must be unique. */
  ackedIndexes: number[];
  /** Wall time of each acknowledged write, ms since the epoch. */
  ackedWriteTimes: number[];
  /** One line per operation: what was sent where, and the answer. */
  trace: string[];
}

export interface ClientOptions {
  readonly recorder: HistoryRecorder;
  readonly urls: () => readonly string[];
  readonly keys: readonly string[];
  readonly clients: number;
  /** Clients stop issuing requests at this time (ms since the epoch). */
  readonly until: number;
  readonly maxOpsPerClient: number;
  readonly requestTimeoutMs: number;
  readonly random: () => number;
}

function refused(error: unknown): boolean {
  const text = `${(error as Error)?.message} ${
    ((error as Error)?.cause as Error)?.message
  }`;
  return /Connection refused|os error 111/.test(text);
}

/** Thrown by one request to make its client try the next node. */
class SwitchNode extends Error {}

/** Runs the clients to the end; resolves with the tally. */
export async function runClients(o: ClientOptions): Promise<ClientTally> {
  const tally: ClientTally = {
    ok: 0,
    failed: 0,
    unknown: 0,
    unexpected: [],
    ackedIndexes: [],
    ackedWriteTimes: [],
    trace: [],
  };
  const lastSeen = new Map<string, string | null>();
  // No keep-alive: a request is never retried behind the caller's back.
  const httpClient = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  let counter = 0;

  async function one(client: number, url: string): Promise<void> {
    const key = o.keys[Math.floor(o.random() * o.keys.length)];
    const dice = o.random();
    const value = `c${client}-${++counter}`;
    let handle: OperationHandle;
    let request: Request;
    if (dice < 0.4) {
      handle = o.recorder.invoke(client, { kind: "put", key, value });
      request = new Request(`${url}/kv/${key}`, { method: "PUT", body: value });
    } else if (dice < 0.75) {
      handle = o.recorder.invoke(client, { kind: "get", key });
      request = new Request(`${url}/kv/${key}`);
    } else if (dice < 0.95) {
      const expect = lastSeen.get(key) ?? null;
      handle = o.recorder.invoke(client, { kind: "cas", key, expect, value });
      request = new Request(`${url}/kv/${key}/cas`, {
        method: "POST",
        body: JSON.stringify({ expect, value }),
      });
    } else {
      handle = o.recorder.invoke(client, { kind: "delete", key });
      request = new Request(`${url}/kv/${key}`, { method: "DELETE" });
    }
    let status: number;
    let body: Record<string, unknown> = {};
    const sentAt = Date.now();
    const note = (answer: string) =>
      tally.trace.push(
        `${sentAt} ${Date.now()} c${client} ${request.method} ${request.url} ${value} -> ${answer}`,
      );
    try {
      const response = await fetch(request, {
        client: httpClient,
        signal: AbortSignal.timeout(o.requestTimeoutMs),
        redirect: "manual",
      });
      status = response.status;
      const text = await response.text();
      try {
        body = JSON.parse(text);
      } catch {
        body = { text };
      }
      note(`${status} ${text.slice(0, 120)}`);
    } catch (error) {
      note(
        `error ${(error as Error)?.message} ${
          ((error as Error)?.cause as Error)?.message
        }`,
      );
      // Connections are never reused (see `httpClient` above), so a refused
      // connection means the request was never sent. On a pooled one it
      // could be fetch's retry of a request that had reached a node.
      if (refused(error)) {
        tally.failed++;
        o.recorder.fail(handle);
      } else {
        tally.unknown++;
        o.recorder.info(handle);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new SwitchNode();
    }
    if (status === 503) {
      tally.failed++;
      o.recorder.fail(handle);
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new SwitchNode();
    }
    if (
      (status >= 300 && status < 500 && status !== 404) ||
      status === 404 && handle.kind !== "get"
    ) {
      tally.unexpected.push(
        `${request.method} ${request.url} -> ${status} ${JSON.stringify(body)}`,
      );
      o.recorder.info(handle);
      return;
    }
    if (status !== 200 && status !== 404) {
      tally.unknown++;
      o.recorder.info(handle);
      throw new SwitchNode();
    }
    tally.ok++;
    switch (handle.kind) {
      case "get": {
        const seen = status === 404 ? null : String(body.value);
        lastSeen.set(key, seen);
        o.recorder.ok(handle as OperationHandle<"get">, seen);
        break;
      }
      case "cas": {
        const current = body.value === null ? null : String(body.value);
        lastSeen.set(key, current);
        o.recorder.ok(handle as OperationHandle<"cas">, {
          ok: body.ok === true,
          value: current,
        });
        break;
      }
      default:
        tally.ackedIndexes.push(Number(body.index));
        tally.ackedWriteTimes.push(Date.now());
        o.recorder.ok(handle as OperationHandle<"put">);
    }
  }

  await Promise.all(
    Array.from({ length: o.clients }, async (_, client) => {
      // Like a real client: stay with a node until it fails, then move on.
      let node = client;
      for (let n = 0; n < o.maxOpsPerClient && Date.now() < o.until; n++) {
        const urls = o.urls();
        try {
          await one(client, urls[node % urls.length]);
        } catch (error) {
          if (!(error instanceof SwitchNode)) throw error;
          node++;
        }
      }
    }),
  );
  httpClient.close();
  return tally;
}
