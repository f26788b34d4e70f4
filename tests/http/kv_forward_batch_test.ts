// Batched forwarding (examples/_kv_forward_batch.ts) through `app.request()`
// on nodes wired by a MemoryNetwork: a follower passes concurrent client
// requests on to the leader in few signed batches with the statuses of a
// single hop; the batch endpoint refuses what is not signed by a member,
// changing nothing; a failed batch answers each request as a failed hop.
import assert from "node:assert/strict";
import { until } from "../../kernel/async.ts";
import { createNode, type RaftNode } from "../../kernel/node.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { MemoryNetwork } from "../../transports/memory.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { createPeerAuth } from "../../transports/_http_peer_auth.ts";
import { createKvApi, type KvApi } from "../../examples/_kv_api.ts";
import { FORWARD_PATH } from "../../examples/_kv_forward_batch.ts";
import {
  type KvResult,
  KvStateMachine,
} from "../../examples/kv_state_machine.ts";
import { call } from "./_kv_call.ts";

const LONG = { timeoutMs: 20_000, intervalMs: 5 };
const SECRET = "forwarding secret of some length";

interface Member {
  id: string;
  node: RaftNode<KvResult>;
  api: KvApi;
  machine: KvStateMachine;
}

async function cluster(
  ids: string[],
  options: { deadlineMs?: number; nodeForwardsProposals?: boolean } = {},
) {
  const net = new MemoryNetwork();
  const members: Member[] = [];
  const unreachable = new Set<string>();
  /** Batches that reached each member's app, by member id. */
  const batches = new Map<string, number>();
  const urls = Object.fromEntries(ids.map((id) => [id, `http://${id}.test`]));
  const fetchVia: typeof fetch = (input, init) => {
    const request = new Request(input, init);
    const host = new URL(request.url).hostname.split(".")[0];
    if (unreachable.has(host)) {
      return Promise.reject(
        new TypeError("fetch failed", {
          cause: new Error("tcp connect error: Connection refused"),
        }),
      );
    }
    if (new URL(request.url).pathname === FORWARD_PATH) {
      batches.set(host, (batches.get(host) ?? 0) + 1);
    }
    const target = members.find((m) => m.id === host)!;
    return Promise.resolve(target.api.app.fetch(request));
  };
  for (const id of ids) {
    const machine = new KvStateMachine();
    const node = createNode<KvResult>({
      id,
      voters: ids,
      transport: net.connect(id),
      storage: new MemoryStorage(),
      behaviors: defaultBehaviors(),
      stateMachine: machine,
      // Generous: a parallel test run must not isolate the leader.
      electionTimeoutMs: 300,
      heartbeatMs: 30,
      isolationWindowMs: 5000,
      forwardProposals: options.nodeForwardsProposals,
    });
    const api = createKvApi({
      node,
      machine,
      members: urls,
      deadlineMs: options.deadlineMs,
      fetch: fetchVia,
      forwardBatchesInFlight: 1,
      nodeForwardsProposals: options.nodeForwardsProposals,
      peerAuth: createPeerAuth({
        clusterId: "fwd",
        secret: SECRET,
        maxBodyBytes: 1 << 20,
      }),
    });
    members.push({ id, node, api, machine });
  }
  for (const m of members) await m.node.start();
  const leader = await until(
    () => members.find((m) => m.node.role === "Leader"),
    LONG,
  );
  const follower = members.find((m) => m !== leader)!;
  await until(() => follower.node.leaderId === leader.id, LONG);
  return {
    members,
    leader,
    follower,
    unreachable,
    batches,
    async [Symbol.asyncDispose]() {
      for (const m of members) await m.node.stop();
    },
  };
}

Deno.test("Follower forwards concurrent client requests in few batches", async () => {
  await using c = await cluster(["a", "b", "c"]);
  const puts = await Promise.all(
    Array.from(
      { length: 40 },
      (_, i) => call(c.follower, "PUT", `/kv/k${i}`, `v${i}`),
    ),
  );
  for (const put of puts) assert.equal(put.status, 200, JSON.stringify(put));
  for (let i = 0; i < 40; i++) {
    assert.equal(c.leader.machine.get(`k${i}`), `v${i}`);
  }
  const sent = c.batches.get(c.leader.id) ?? 0;
  assert.ok(sent >= 1 && sent <= 4, `${sent} batches for 40 requests`);
  // Every endpoint keeps its single-hop answer.
  const get = await call(c.follower, "GET", "/kv/k3");
  assert.deepEqual([get.status, get.json.value], [200, "v3"]);
  const missing = await call(c.follower, "GET", "/kv/nope");
  assert.equal(missing.status, 404);
  const cas = await call(
    c.follower,
    "POST",
    "/kv/k3/cas",
    JSON.stringify({ expect: "wrong", value: "x" }),
  );
  assert.deepEqual([cas.status, cas.json], [200, { ok: false, value: "v3" }]);
  assert.equal((await call(c.follower, "DELETE", "/kv/k3")).status, 200);
  assert.equal(c.leader.machine.get("k3"), null);
});

Deno.test("Forward endpoint refuses unsigned or foreign batches, changing nothing", async () => {
  await using c = await cluster(["a", "b", "c"]);
  const batch = JSON.stringify({
    ops: [{ m: "PUT", p: "/kv/evil", b: "x", t: null, ms: 1000 }],
  });
  const commitBefore = c.leader.node.commitIndex;
  const unsigned = await call(c.leader, "POST", FORWARD_PATH, batch);
  assert.equal(unsigned.status, 401);
  const foreign = createPeerAuth({
    clusterId: "other",
    secret: SECRET,
    maxBodyBytes: 1 << 20,
  });
  const bytes = new TextEncoder().encode(batch);
  const wrongCluster = await call(
    c.leader,
    "POST",
    FORWARD_PATH,
    bytes,
    foreign.sign(FORWARD_PATH, bytes),
  );
  assert.equal(wrongCluster.status, 403);
  const wrongSecret = createPeerAuth({
    clusterId: "fwd",
    secret: "not the secret",
    maxBodyBytes: 1 << 20,
  });
  const badSignature = await call(
    c.leader,
    "POST",
    FORWARD_PATH,
    bytes,
    wrongSecret.sign(FORWARD_PATH, bytes),
  );
  assert.equal(badSignature.status, 401);
  // Signed, but not a batch of client requests.
  const member = createPeerAuth({
    clusterId: "fwd",
    secret: SECRET,
    maxBodyBytes: 1 << 20,
  });
  for (
    const bad of [
      "{}",
      JSON.stringify({
        ops: [{ m: "GET", p: "/status", b: null, t: null, ms: 5 }],
      }),
      JSON.stringify({
        ops: [{ m: "PUT", p: "/kv/../status", b: "x", t: null, ms: 5 }],
      }),
    ]
  ) {
    const body = new TextEncoder().encode(bad);
    const response = await call(
      c.leader,
      "POST",
      FORWARD_PATH,
      body,
      member.sign(FORWARD_PATH, body),
    );
    assert.equal(response.status, 400, bad);
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.leader.machine.get("evil"), null);
  // Heartbeats commit nothing new: only the refused batches came in.
  assert.equal(c.leader.node.commitIndex, commitBefore);
});

Deno.test("A failed batch answers each request like a failed hop", async () => {
  await using c = await cluster(["a", "b", "c"]);
  c.unreachable.add(c.leader.id);
  // The hop fails on a pooled connection: a write may have reached the
  // leader (504), a read changed nothing (503).
  const [write, read] = await Promise.all([
    call(c.follower, "PUT", "/kv/f", "v"),
    call(c.follower, "GET", "/kv/f"),
  ]);
  assert.equal(write.status, 504);
  assert.equal(write.json.outcome, "unknown");
  assert.equal(read.status, 503);
  assert.ok(read.headers.get("retry-after"));
  // Now suspect: a fresh connection is refused, so it never left (503).
  const refused = await call(c.follower, "PUT", "/kv/f", "v");
  assert.equal(refused.status, 503);
  c.unreachable.delete(c.leader.id);
  assert.equal((await call(c.follower, "PUT", "/kv/f", "back")).status, 200);
  assert.equal(c.leader.machine.get("f"), "back");
});

Deno.test("With nodeForwardsProposals writes go through Raft, reads over HTTP", async () => {
  await using c = await cluster(["a", "b", "c"], {
    nodeForwardsProposals: true,
  });
  // The client API of the leader is unreachable over HTTP: writes on a
  // follower still commit (its node forwards them with the Raft messages)
  // and are applied on that follower before it answers.
  c.unreachable.add(c.leader.id);
  const put = await call(c.follower, "PUT", "/kv/w", "via-raft");
  assert.equal(put.status, 200, JSON.stringify(put.json));
  assert.equal(c.follower.machine.get("w"), "via-raft");
  const cas = await call(
    c.follower,
    "POST",
    "/kv/w/cas",
    JSON.stringify({ expect: "via-raft", value: "swapped" }),
  );
  assert.deepEqual(cas.json, { ok: true, value: "swapped" });
  assert.equal((await call(c.follower, "DELETE", "/kv/w")).status, 200);
  assert.equal(c.batches.get(c.leader.id) ?? 0, 0);
  // A write another member already forwarded is not forwarded again.
  const commitBefore = c.leader.node.commitIndex;
  const twice = await call(c.follower, "PUT", "/kv/twice", "x", {
    "x-kv-forwarded-by": "z",
  });
  assert.equal(twice.status, 503);
  assert.equal(c.leader.node.commitIndex, commitBefore);
  assert.equal(c.leader.machine.get("twice"), null);
  // A linearizable read is still forwarded over HTTP (and fails here: 503).
  const read = await call(c.follower, "GET", "/kv/w");
  assert.equal(read.status, 503);
  c.unreachable.delete(c.leader.id);
  const again = await call(c.follower, "GET", "/kv/w");
  assert.equal(again.status, 404);
  assert.equal(c.batches.get(c.leader.id), 1);
});
