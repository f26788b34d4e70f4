// Builders of signed (and deliberately mis-signed) peer requests for the
// HTTP transport tests, and a one-node fixture whose state they probe.
import {
  createSigner,
  HEADERS,
  newNonce,
} from "../../transports/_http_auth.ts";
import {
  createHttpTransport,
  type HttpTransport,
  RAFT_MESSAGES_PATH,
} from "../../transports/http.ts";
import { createNode, type RaftNode } from "../../kernel/node.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { MemoryStorage } from "../../storage/memory.ts";

export const CLUSTER = "test-cluster";
export const SECRET = "a shared secret of some length";
export const URL_BASE = "http://a.test";

export interface SignedRequestOptions {
  body?: BodyInit | Uint8Array;
  secret?: string;
  clusterId?: string | null;
  timestamp?: number | string;
  nonce?: string;
  omit?: ("signature" | "timestamp" | "nonce")[];
  corruptSignature?: boolean;
  path?: string;
}

const encoder = new TextEncoder();

/** A request to `/raft/messages` signed as a peer would sign it. */
export function signedRequest(
  messages: unknown,
  options: SignedRequestOptions = {},
): Promise<Request> {
  const body = options.body instanceof Uint8Array
    ? options.body
    : typeof options.body === "string"
    ? encoder.encode(options.body)
    : encoder.encode(JSON.stringify(messages));
  const clusterId = options.clusterId === undefined
    ? CLUSTER
    : options.clusterId;
  const timestamp = String(options.timestamp ?? Date.now());
  const nonce = options.nonce ?? newNonce();
  const path = options.path ?? RAFT_MESSAGES_PATH;
  let signature = createSigner(options.secret ?? SECRET).sign({
    method: "POST",
    path,
    clusterId: clusterId ?? "",
    timestamp,
    nonce,
  }, body);
  if (options.corruptSignature) {
    signature = (signature[0] === "0" ? "1" : "0") + signature.slice(1);
  }
  const headers = new Headers({ "content-type": "application/json" });
  if (clusterId !== null) headers.set(HEADERS.cluster, clusterId);
  const omit = options.omit ?? [];
  if (!omit.includes("timestamp")) headers.set(HEADERS.timestamp, timestamp);
  if (!omit.includes("nonce")) headers.set(HEADERS.nonce, nonce);
  if (!omit.includes("signature")) headers.set(HEADERS.signature, signature);
  return Promise.resolve(
    new Request(`${URL_BASE}${path}`, {
      method: "POST",
      headers,
      body: body as Uint8Array<ArrayBuffer>,
    }),
  );
}

/** An AppendEntries from leader `b` that would change `a`'s state. */
export function appendFromB(term: number, entries = 1): unknown {
  return {
    v: 1,
    type: "append",
    term,
    from: "b",
    to: "a",
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: Array.from({ length: entries }, (_, i) => ({
      index: i + 1,
      term,
      kind: "command",
      command: { n: i },
    })),
    leaderCommit: 0,
    seq: 1,
  };
}

export interface Fixture {
  node: RaftNode;
  storage: MemoryStorage;
  transport: HttpTransport;
  snapshot(): Promise<NodeState>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface NodeState {
  term: number;
  votedFor: string | null;
  commitIndex: number;
  logLength: number;
  received: number;
}

/**
 * Node `a` of cluster a/b/c behind an HTTP transport, with timers so slow
 * that nothing but inbound messages can change its state during a test.
 */
export async function oneNode(maxBodyBytes = 4096): Promise<Fixture> {
  const storage = new MemoryStorage();
  const transport = createHttpTransport({
    id: "a",
    clusterId: CLUSTER,
    secret: SECRET,
    peers: { a: URL_BASE, b: "http://127.0.0.1:9", c: "http://127.0.0.1:9" },
    maxBodyBytes,
    timestampWindowMs: 5_000,
    requestTimeoutMs: 200,
  });
  const node = createNode({
    id: "a",
    voters: ["a", "b", "c"],
    transport,
    storage,
    behaviors: defaultBehaviors(),
    stateMachine: { apply: () => null },
    electionTimeoutMs: 600_000,
    heartbeatMs: 100_000,
  });
  await node.start();
  return {
    node,
    storage,
    transport,
    async snapshot(): Promise<NodeState> {
      // Let anything delivered reach the core and storage first.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const persisted = await storage.load();
      return {
        term: node.term,
        votedFor: persisted.hardState.votedFor,
        commitIndex: node.commitIndex,
        logLength: await storage.lastIndex(),
        received: transport.stats.receivedMessages,
      };
    },
    async [Symbol.asyncDispose]() {
      await node.stop();
    },
  };
}
