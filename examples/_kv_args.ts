// Command line of examples/kv_node.ts.
import { parseArgs } from "node:util";

/** What a KV node is told on its command line. */
export interface KvNodeConfig {
  id: string;
  hostname: string;
  port: number;
  /** Base URL of every member, this one included. */
  peers: Record<string, string>;
  /** Directory for the Raft state; `null` keeps it in memory. */
  dataDir: string | null;
  secret: string;
  clusterId: string;
  electionTimeoutMs: number;
  heartbeatMs: number;
  /** Leader steps to IsolatedLeader after this long without a majority. */
  isolationMs: number | null;
  deadlineMs: number;
  cert: string | null;
  key: string | null;
  caCert: string | null;
}

export const USAGE = `Usage: deno task node --id ID --listen HOST:PORT \\
         --peers ID=URL,ID=URL,... [--data DIR] [--secret S]

  --id ID             this member's id (must be one of --peers)
  --listen HOST:PORT  address of the peer RPC and the client API (port 0: any)
  --peers LIST        every member as id=url, this one included
  --data DIR          keep Raft state in DIR/raft.kv (created if missing);
                      without it, state lives in memory and dies with the node
  --secret S          shared HMAC secret of the cluster (or env RAFT_SECRET)
  --cluster NAME      cluster id, the same on every member (default "kv")
  --election-ms N     base election timeout, waits drawn from [N, 2N) (default 500)
  --heartbeat-ms N    leader heartbeat interval (default 100)
  --isolation-ms N    a leader that hears from no majority for N ms refuses
                      writes (503) until it does (default: --election-ms)
  --deadline-ms N     client request deadline before 504 (default 1500)
  --cert FILE --key FILE   serve HTTPS
  --ca FILE           trust this CA for https peers`;

/** Thrown for a bad command line; the message says what is wrong. */
export class UsageError extends Error {}

function positive(name: string, text: string | undefined, fallback: number) {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer, got ${text}`);
  }
  return n;
}

/** Parses `args` (and RAFT_SECRET from `env`) into a config. */
export function parseKvNodeArgs(
  args: string[],
  env: (name: string) => string | undefined,
): KvNodeConfig {
  const { values } = parseArgs({
    args,
    options: {
      id: { type: "string" },
      listen: { type: "string" },
      peers: { type: "string" },
      data: { type: "string" },
      secret: { type: "string" },
      cluster: { type: "string" },
      "election-ms": { type: "string" },
      "heartbeat-ms": { type: "string" },
      "isolation-ms": { type: "string" },
      "deadline-ms": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      ca: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw new UsageError("");
  if (!values.id) throw new UsageError("--id is required");
  if (!values.listen) throw new UsageError("--listen is required");
  if (!values.peers) throw new UsageError("--peers is required");
  const listen = /^(.+):(\d+)$/.exec(values.listen);
  if (!listen) throw new UsageError("--listen must be HOST:PORT");
  const peers: Record<string, string> = {};
  for (const item of values.peers.split(",")) {
    const at = item.indexOf("=");
    const id = item.slice(0, at).trim();
    const url = item.slice(at + 1).trim();
    if (at <= 0 || !/^https?:\/\//.test(url)) {
      throw new UsageError(
        `--peers item must be id=http(s)://..., got ${item}`,
      );
    }
    peers[id] = url.replace(/\/+$/, "");
  }
  if (!(values.id in peers)) {
    throw new UsageError(`--peers must include this member (${values.id})`);
  }
  const secret = values.secret ?? env("RAFT_SECRET");
  if (!secret) throw new UsageError("--secret or RAFT_SECRET is required");
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const electionTimeoutMs = positive("election-ms", values["election-ms"], 500);
  const heartbeatMs = positive("heartbeat-ms", values["heartbeat-ms"], 100);
  if (heartbeatMs >= electionTimeoutMs) {
    throw new UsageError("--heartbeat-ms must be below --election-ms");
  }
  return {
    id: values.id,
    hostname: listen[1].replace(/^\[(.*)\]$/, "$1"),
    port: Number(listen[2]),
    peers,
    dataDir: values.data ?? null,
    secret,
    clusterId: values.cluster ?? "kv",
    electionTimeoutMs,
    heartbeatMs,
    isolationMs: values["isolation-ms"] === undefined
      ? null
      : positive("isolation-ms", values["isolation-ms"], 0),
    deadlineMs: positive("deadline-ms", values["deadline-ms"], 1500),
    cert: values.cert ?? null,
    key: values.key ?? null,
    caCert: values.ca ?? null,
  };
}
