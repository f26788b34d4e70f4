// The client API of examples/kv_node.ts through `app.request()`, on nodes
// wired by an in-process MemoryNetwork: every endpoint, every status code,
// and the one-hop forwarding from a follower to the leader.
import assert from "node:assert/strict";
import { until } from "../../kernel/async.ts";
import { createNode, type RaftNode } from "../../kernel/node.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { MemoryNetwork } from "../../transports/memory.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { createKvApi, type KvApi } from "../../examples/_kv_api.ts";
import { KvMetrics } from "../../examples/_kv_metrics.ts";
import {
  type KvResult,
  KvStateMachine,
} from "../../examples/kv_state_machine.ts";
import { call } from "./_kv_call.ts";

const LONG = { timeoutMs: 20_000, intervalMs: 5 };

interface Member {
  id: string;
  node: RaftNode<KvResult>;
  api: KvApi;
  machine: KvStateMachine;
}

interface TestCluster {
  net: MemoryNetwork;
  members: Member[];
  [Symbol.asyncDispose](): Promise<void>;
}

const urlOf = (id: string) => `http://${id}.test`;

async function cluster(
  ids: string[],
  options: { deadlineMs?: number; isolationWindowMs?: number } = {},
): Promise<TestCluster> {
  const net = new MemoryNetwork();
  const members: Member[] = [];
  const members_ = Object.fromEntries(ids.map((id) => [id, urlOf(id)]));
  for (const id of ids) {
    const machine = new KvStateMachine();
    const node = createNode<KvResult>({
      id,
      voters: ids,
      transport: net.connect(id),
      storage: new MemoryStorage(),
      behaviors: defaultBehaviors(),
      stateMachine: machine,
      electionTimeoutMs: 150,
      heartbeatMs: 30,
      isolationWindowMs: options.isolationWindowMs,
      forwardProposals: true,
      forwardReads: true,
      forwardTimeoutMs: 400,
    });
    const metrics = new KvMetrics();
    metrics.observe(node);
    const api = createKvApi({
      node,
      machine,
      members: members_,
      deadlineMs: options.deadlineMs,
      metrics,
    });
    members.push({ id, node, api, machine });
  }
  for (const m of members) await m.node.start();
  return {
    net,
    members,
    async [Symbol.asyncDispose]() {
      for (const m of members) await m.node.stop();
    },
  };
}

const leaderOf = (members: Member[]) =>
  members.find((m) => m.node.role === "Leader");

Deno.test("KV API serves put, get, delete and cas on the leader", async () => {
  await using c = await cluster(["a"]);
  const [a] = c.members;
  await until(() => a.node.role === "Leader", LONG);
  const put = await call(a, "PUT", "/kv/greeting", "héllo");
  assert.equal(put.status, 200);
  assert.equal(typeof put.json.index, "number");
  assert.deepEqual(await call(a, "GET", "/kv/greeting").then((r) => r.json), {
    value: "héllo",
    index: put.json.index,
  });
  assert.equal((await call(a, "GET", "/kv/absent")).status, 404);
  const stale = await call(a, "GET", "/kv/greeting?stale=true");
  assert.equal(stale.json.value, "héllo");

  const cas = (expect: string | null, value: string) =>
    call(a, "POST", "/kv/greeting/cas", JSON.stringify({ expect, value }));
  assert.deepEqual((await cas("nope", "x")).json, {
    ok: false,
    value: "héllo",
  });
  assert.deepEqual((await cas("héllo", "bye")).json, {
    ok: true,
    value: "bye",
  });
  assert.deepEqual((await cas(null, "x")).json, { ok: false, value: "bye" });

  const del = await call(a, "DELETE", "/kv/greeting");
  assert.equal(del.status, 200);
  assert.ok((del.json.index as number) > (put.json.index as number));
  assert.equal((await call(a, "GET", "/kv/greeting")).status, 404);
  const created = await call(
    a,
    "POST",
    "/kv/greeting/cas",
    JSON.stringify({ expect: null, value: "new" }),
  );
  assert.deepEqual(created.json, { ok: true, value: "new" });
  const key = encodeURIComponent("a key/with spaces");
  assert.equal((await call(a, "PUT", `/kv/${key}`, "v")).status, 200);
  assert.equal((await call(a, "GET", `/kv/${key}`)).json.value, "v");
});

Deno.test("KV API refuses oversized values (413) and bad input (400)", async () => {
  await using c = await cluster(["a"]);
  const [a] = c.members;
  await until(() => a.node.role === "Leader", LONG);
  const before = a.node.commitIndex;
  const big = "x".repeat(64 * 1024 + 1);
  assert.equal((await call(a, "PUT", "/kv/k", big)).status, 413);
  assert.equal(
    (await call(a, "PUT", "/kv/k", "x".repeat(64 * 1024))).status,
    200,
  );
  const bigCas = JSON.stringify({ expect: null, value: big });
  assert.equal((await call(a, "POST", "/kv/k/cas", bigCas)).status, 413);
  const longKey = "k".repeat(1025);
  assert.equal((await call(a, "PUT", `/kv/${longKey}`, "v")).status, 400);
  assert.equal((await call(a, "GET", `/kv/${longKey}`)).status, 400);
  for (
    const body of [
      "{not json",
      "[]",
      "null",
      JSON.stringify({ expect: 1, value: "v" }),
      JSON.stringify({ expect: null }),
      JSON.stringify({ expect: null, value: 3 }),
    ]
  ) {
    assert.equal((await call(a, "POST", "/kv/k/cas", body)).status, 400, body);
  }
  const badUtf8 = new Uint8Array([0xff, 0xfe]);
  assert.equal((await call(a, "PUT", "/kv/k", badUtf8)).status, 400);
  // Only the one good put was proposed.
  assert.equal(a.node.commitIndex, before + 1);
});

Deno.test("KV API answers 503 with Retry-After when no leader is known", async () => {
  await using c = await cluster(["a", "b", "c"]);
  const [a] = c.members;
  c.net.partition(["a"], ["b"], ["c"]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (
    const [method, path, body] of [
      ["PUT", "/kv/k", "v"],
      ["GET", "/kv/k", undefined],
      ["DELETE", "/kv/k", undefined],
      ["POST", "/kv/k/cas", '{"expect":null,"value":"v"}'],
    ] as const
  ) {
    const r = await call(a, method, path, body);
    assert.equal(r.status, 503, `${method} ${path}`);
    assert.match(r.headers.get("retry-after") ?? "", /^\d+$/);
  }
  assert.equal(a.node.commitIndex, 0);
});

Deno.test("KV API on a follower goes to the leader once, through the node", async () => {
  await using c = await cluster(["a", "b", "c"]);
  const leader = await until(() => leaderOf(c.members), LONG);
  const follower = c.members.find((m) => m !== leader)!;
  await until(() => follower.node.leaderId === leader.id, LONG);
  const put = await call(follower, "PUT", "/kv/f", "from-follower");
  assert.equal(put.status, 200, JSON.stringify(put.json));
  assert.equal(leader.machine.get("f"), "from-follower");
  // Answered once this member applied it: its own state has it already.
  assert.equal(follower.machine.get("f"), "from-follower");
  const get = await call(follower, "GET", "/kv/f");
  assert.deepEqual(get.json, { value: "from-follower", index: put.json.index });
  const cas = await call(
    follower,
    "POST",
    "/kv/f/cas",
    JSON.stringify({ expect: "from-follower", value: "swapped" }),
  );
  assert.deepEqual(cas.json, { ok: true, value: "swapped" });
  const failedCas = await call(
    follower,
    "POST",
    "/kv/f/cas",
    JSON.stringify({ expect: "from-follower", value: "no" }),
  );
  assert.deepEqual(failedCas.json, { ok: false, value: "swapped" });
  assert.equal((await call(follower, "DELETE", "/kv/f")).status, 200);
  assert.equal((await call(follower, "GET", "/kv/f")).status, 404);
  // A write on the leader is read back through a follower (ReadIndex).
  const onLeader = await call(leader, "PUT", "/kv/g", "fresh");
  const read = await call(follower, "GET", "/kv/g");
  assert.deepEqual(read.json, { value: "fresh", index: onLeader.json.index });

  // The leader stops hearing this follower: a write may have reached it
  // (504, outcome unknown), a read changed nothing (503, retry).
  c.net.setLinkFaults(follower.id, leader.id, { dropRate: 1 });
  const lostWrite = await call(follower, "PUT", "/kv/f", "v");
  assert.equal(lostWrite.status, 504, JSON.stringify(lostWrite.json));
  assert.equal(lostWrite.json.outcome, "unknown");
  const lostRead = await call(follower, "GET", "/kv/g");
  assert.equal(lostRead.status, 503, JSON.stringify(lostRead.json));
  assert.ok(lostRead.headers.get("retry-after"));
  c.net.setLinkFaults(follower.id, leader.id, {});
  // Once the link is back (a new term may have started meanwhile), writes
  // through the follower go through again.
  let back = 0;
  for (let i = 0; i < 100 && back !== 200; i++) {
    back = (await call(follower, "PUT", "/kv/f", "back")).status;
    if (back !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(back, 200);
  const now = await until(() => leaderOf(c.members), LONG);
  assert.equal(now.machine.get("f"), "back");
});

Deno.test("KV API answers 503 on an isolated leader, never proposing", async () => {
  await using c = await cluster(["a", "b", "c"], { isolationWindowMs: 150 });
  const leader = await until(() => leaderOf(c.members), LONG);
  const others = c.members.filter((m) => m !== leader).map((m) => m.id);
  c.net.partition([leader.id], others);
  await until(() => leader.node.role === "IsolatedLeader", LONG);
  const before = leader.node.commitIndex;
  const r = await call(leader, "PUT", "/kv/k", "v");
  assert.equal(r.status, 503, JSON.stringify(r.json));
  assert.ok(r.headers.get("retry-after"));
  assert.equal(leader.node.commitIndex, before);
});

Deno.test("KV API answers 504 when a proposal misses its deadline", async () => {
  await using c = await cluster(["a", "b", "c"], {
    deadlineMs: 300,
    isolationWindowMs: 60_000,
  });
  const leader = await until(() => leaderOf(c.members), LONG);
  const others = c.members.filter((m) => m !== leader).map((m) => m.id);
  c.net.partition([leader.id], others);
  const started = performance.now();
  const r = await call(leader, "PUT", "/kv/k", "v");
  assert.equal(r.status, 504, JSON.stringify(r.json));
  assert.equal(r.json.outcome, "unknown");
  assert.ok(performance.now() - started < 5000);
  const read = await call(leader, "GET", "/kv/k");
  assert.equal(read.status, 504, JSON.stringify(read.json));
});

Deno.test("KV API answers 503 during a leadership transfer", async () => {
  await using c = await cluster(["a", "b", "c"]);
  const leader = await until(() => leaderOf(c.members), LONG);
  const target = c.members.find((m) => m !== leader)!;
  // The target cannot hear the leader, so the transfer stays in progress.
  c.net.setLinkFaults(leader.id, target.id, { dropRate: 1 });
  const transfer = leader.node.transferLeadership(target.id).catch(() => {});
  const r = await call(leader, "PUT", "/kv/k", "v");
  assert.equal(r.status, 503, JSON.stringify(r.json));
  c.net.setLinkFaults(leader.id, target.id, {});
  await transfer;
});

Deno.test("KV API refuses new requests while shutting down and drains", async () => {
  await using c = await cluster(["a"]);
  const [a] = c.members;
  await until(() => a.node.role === "Leader", LONG);
  const inFlight = call(a, "PUT", "/kv/k", "v");
  a.api.beginShutdown();
  const late = await call(a, "PUT", "/kv/k", "w");
  assert.equal(late.status, 503);
  assert.ok(late.headers.get("retry-after"));
  await a.api.drain(2000);
  assert.equal((await inFlight).status, 200);
  assert.equal(a.machine.get("k"), "v");
});

Deno.test("KV API drain waits for requests in flight, up to its limit", async () => {
  await using c = await cluster(["a", "b", "c"], {
    deadlineMs: 600,
    isolationWindowMs: 60_000,
  });
  const leader = await until(() => leaderOf(c.members), LONG);
  c.net.partition(
    [leader.id],
    c.members.filter((m) => m !== leader).map((m) => m.id),
  );
  // Cut off from the others, the leader cannot commit: the put waits out
  // its 600 ms deadline.
  let answered = false;
  const sentAt = performance.now();
  const stuck = call(leader, "PUT", "/kv/k", "v").then((r) => {
    answered = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 20));
  leader.api.beginShutdown();
  const shortStart = performance.now();
  await leader.api.drain(100);
  assert.ok(performance.now() - shortStart >= 90, "drain waited its limit");
  assert.equal(answered, false, "the limit, not the request, ended it");
  await leader.api.drain(10_000);
  // It settles when the request's 600 ms deadline ends it, not before.
  const waited = performance.now() - sentAt;
  assert.ok(waited >= 550 && waited < 9_000, `settled after ${waited} ms`);
  assert.equal((await stuck).status, 504);
});

Deno.test("KV API reports status and Prometheus metrics", async () => {
  await using c = await cluster(["a"]);
  const [a] = c.members;
  await until(() => a.node.role === "Leader", LONG);
  await call(a, "PUT", "/kv/k", "v");
  const status = await call(a, "GET", "/status");
  assert.deepEqual(Object.keys(status.json).sort(), [
    "commitIndex",
    "id",
    "lastApplied",
    "leaderId",
    "members",
    "role",
    "term",
  ]);
  assert.equal(status.json.role, "Leader");
  assert.equal(status.json.leaderId, "a");
  const response = await a.api.app.request("/metrics");
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
  const text = await response.text();
  for (
    const line of [
      /^raft_role\{role="Leader"\} 1$/m,
      /^raft_committed_entries_total [1-9]/m,
      /^raft_elections_total 1$/m,
      /^kv_requests_total\{op="put",code="200"\} 1$/m,
      /^kv_request_duration_seconds_count\{op="put"\} 1$/m,
    ]
  ) {
    assert.match(text, line);
  }
});
