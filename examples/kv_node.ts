/**
 * One member of a replicated key-value store over HTTP: peer RPC under
 * `/raft/…` and a JSON client API on the same port.
 *
 * ```sh
 * deno task node --id a --listen 127.0.0.1:7001 \
 *   --peers a=http://127.0.0.1:7001,b=http://127.0.0.1:7002,c=http://127.0.0.1:7003 \
 *   --data ./data/a --secret S
 * ```
 *
 * | request | answer |
 * |---|---|
 * | `PUT /kv/:key`, body = value (UTF-8) | 200 `{"index"}` once committed |
 * | `GET /kv/:key` (`?stale=true`: local, no ReadIndex) | 200 `{"value","index"}` or 404 |
 * | `DELETE /kv/:key` | 200 `{"index"}` |
 * | `POST /kv/:key/cas`, `{"expect": "old" \| null, "value": "new"}` | 200 `{"ok","value"}` |
 * | `GET /status` | `{"id","role","term","leaderId","commitIndex","lastApplied","members"}` |
 * | `GET /metrics` | Prometheus text |
 *
 * A follower passes client requests to the leader through its node
 * (`forwardProposals`, `forwardReads`: with the Raft messages, one hop) and
 * answers once it applied the write or reached the read index. 503 (with
 * `Retry-After`) means the request was never proposed and is safe to retry:
 * no leader known, isolated leader, transfer in progress, shutting down.
 * 504 means it was proposed but its outcome is unknown (deadline, default
 * 1.5 s, or leadership lost). Values over 64 KiB get 413; bad JSON or a key
 * over 1 KiB gets 400. Never a redirect. SIGTERM / SIGINT shut it down
 * gracefully (exit 0 within 5 s).
 *
 * @module
 */
import { Hono } from "hono";
import { deadline } from "../kernel/async.ts";
import { createNode, type RaftNode } from "../kernel/node.ts";
import { defaultBehaviors } from "../behaviors/defaults.ts";
import { KvStorage } from "../storage/kv.ts";
import { MemoryStorage } from "../storage/memory.ts";
import type { Storage } from "../storage/storage.ts";
import {
  createHttpTransport,
  type HttpServer,
  RAFT_MESSAGES_PATH,
  serve,
} from "../transports/http.ts";
import {
  type KvNodeConfig,
  parseKvNodeArgs,
  USAGE,
  UsageError,
} from "./_kv_args.ts";
import { createKvApi } from "./_kv_api.ts";
import { KvMetrics, timedStorage } from "./_kv_metrics.ts";
import { type KvResult, KvStateMachine } from "./kv_state_machine.ts";

/**
 * An AppendEntries must fit one peer request, or a lagging follower never
 * catches up. The largest entry is a cas with two 64 KiB values of control
 * characters (each becomes `\u00XX` in JSON): about 770 KiB, so 32 entries
 * stay near 25 MiB, below the body limit.
 */
export const MAX_ENTRIES_PER_APPEND = 32;
/** Largest peer request body of a KV node. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** A running KV node. */
export interface KvNode {
  /** The URL it serves on. */
  readonly url: string;
  /** The Raft node. */
  readonly node: RaftNode<KvResult>;
  /** Graceful shutdown: refuse new requests, drain, stop, close storage. */
  shutdown(): Promise<void>;
}

function rateLimited(log: (line: string) => void, everyMs: number) {
  let last = -Infinity;
  let suppressed = 0;
  return (line: string) => {
    const now = performance.now();
    if (now - last < everyMs) {
      suppressed++;
      return;
    }
    log(suppressed > 0 ? `${line} (+${suppressed} similar)` : line);
    last = now;
    suppressed = 0;
  };
}

/**
 * Starts a KV node as `config` says.
 *
 * @example
 * ```ts ignore
 * const kv = await startKvNode(parseKvNodeArgs(Deno.args, Deno.env.get));
 * await kv.shutdown();
 * ```
 */
export async function startKvNode(
  config: KvNodeConfig,
  log: (line: string) => void = (line) => console.error(line),
): Promise<KvNode> {
  const say = (line: string) =>
    log(`${new Date().toISOString()} [${config.id}] ${line}`);
  let storage: Storage;
  if (config.dataDir !== null) {
    await Deno.mkdir(config.dataDir, { recursive: true });
    const path = `${config.dataDir}/raft.kv`;
    storage = await KvStorage.open(path, {
      clusterId: config.clusterId,
      nodeId: config.id,
    });
    say(`state in ${path}`);
  } else {
    storage = new MemoryStorage();
    say("no --data: state is kept in memory and lost when the node stops");
  }
  if (new TextEncoder().encode(config.secret).length < 16) {
    say("warning: the secret is shorter than 16 bytes");
  }
  const transportError = rateLimited(say, 2000);
  const metrics = new KvMetrics();
  const transport = createHttpTransport({
    id: config.id,
    clusterId: config.clusterId,
    secret: config.secret,
    peers: config.peers,
    caCerts: config.caCert ? [await Deno.readTextFile(config.caCert)] : [],
    maxBodyBytes: MAX_BODY_BYTES,
    requestTimeoutMs: 5000,
    onError: (error) => transportError(`transport: ${error.message}`),
    onRoundTrip: (peer, seconds) => metrics.roundTrip(peer, seconds),
  });
  const machine = new KvStateMachine();
  const node = createNode<KvResult>({
    id: config.id,
    voters: Object.keys(config.peers),
    transport,
    storage: timedStorage(
      storage,
      (method, seconds) => metrics.storageWrite(method, seconds),
    ),
    stateMachine: machine,
    behaviors: defaultBehaviors(),
    electionTimeoutMs: config.electionTimeoutMs,
    heartbeatMs: config.heartbeatMs,
    // Twice the election timeout by default: a leader slowed down by load
    // (replies queued behind requests) should not turn clients away.
    isolationWindowMs: config.isolationMs ??
      (config.electionTimeoutMs ? 2 * config.electionTimeoutMs : undefined),
    maxEntriesPerAppend: MAX_ENTRIES_PER_APPEND,
    // A follower sends writes and read-index requests to the leader with the
    // Raft messages (one peer request carries many) instead of an HTTP hop
    // each, and serves the reads from its own state once it caught up.
    forwardProposals: true,
    forwardReads: true,
    // Batches stay well under the peer body limit (base64 and JSON framing
    // add about a third), so catch-up never sends a batch peers refuse.
    maxAppendBytes: MAX_BODY_BYTES / 4,
  });
  node.on("roleChange", (e) => say(`${e.from} -> ${e.to} (term ${e.term})`));
  node.on("error", (e) => say(`error: ${(e.error as Error)?.message}`));
  metrics.observe(node, transport.stats);
  const api = createKvApi({
    node,
    machine,
    members: config.peers,
    deadlineMs: config.deadlineMs,
    metrics,
  });
  const app = new Hono();
  app.post(RAFT_MESSAGES_PATH, (c) => transport.fetch(c.req.raw));
  app.route("/", api.app);

  await node.start();
  let server: HttpServer;
  try {
    server = serve(app.fetch, {
      hostname: config.hostname,
      port: config.port,
      cert: config.cert ? await Deno.readTextFile(config.cert) : undefined,
      key: config.key ? await Deno.readTextFile(config.key) : undefined,
    });
  } catch (error) {
    await node.stop();
    await storage.close?.();
    throw error;
  }

  let stopping: Promise<void> | null = null;
  const shutdown = async () => {
    api.beginShutdown();
    await api.drain(config.deadlineMs + 500);
    // Hand leadership on so the others need not wait out an election.
    const target = Object.keys(config.peers).find((id) => id !== config.id);
    if (node.role === "Leader" && target !== undefined) {
      await deadline(node.transferLeadership(target), 1000).then(
        () => say(`handed leadership to ${target}`),
        () => {},
      );
    }
    await node.stop();
    metrics.close();
    await deadline(server.shutdown(), 1000).catch(() => {});
    await storage.close?.();
    say("stopped");
  };
  return {
    url: server.url,
    node,
    shutdown: () => stopping ??= shutdown(),
  };
}

async function main(): Promise<void> {
  let config: KvNodeConfig;
  try {
    config = parseKvNodeArgs(Deno.args, (name) => Deno.env.get(name));
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      if (error.message) console.error(`error: ${error.message}\n`);
      console.error(USAGE);
      Deno.exit(2);
    }
    throw error;
  }
  const kv = await startKvNode(config);
  // The one line on stdout: tools wait for it to learn the bound URL.
  console.log(`kv_node ${config.id} listening on ${kv.url}`);
  const stop = () => {
    const forced = setTimeout(() => {
      console.error(`[${config.id}] shutdown took too long; exiting`);
      Deno.exit(1);
    }, 4800);
    kv.shutdown().then(() => {
      clearTimeout(forced);
      Deno.exit(0);
    });
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) await main();
