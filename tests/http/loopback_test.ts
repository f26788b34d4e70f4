// Three members in one process over real loopback sockets (127.0.0.1,
// port 0): election, replication, batching, failover, a member with the
// wrong secret kept out, and HTTPS with a self-signed certificate.
import assert from "node:assert/strict";
import { until } from "../../kernel/async.ts";
import { loopbackCluster, type LoopbackMember } from "./_loopback.ts";
import type { Message } from "../../kernel/messages.ts";
import { createHttpTransport, serve } from "../../transports/http.ts";
import {
  MAX_BODY_BYTES,
  MAX_ENTRIES_PER_APPEND,
} from "../../examples/kv_node.ts";

const LONG = { timeoutMs: 20_000, intervalMs: 10 };

function leaderOf(members: LoopbackMember[]): LoopbackMember | undefined {
  return members.find((m) => m.node.role === "Leader");
}

Deno.test("Loopback cluster elects a leader, replicates and fails over", async () => {
  await using cluster = await loopbackCluster(["a", "b", "c"]);
  const { members } = cluster;
  const first = await until(() => leaderOf(members), LONG);
  const writes = Array.from(
    { length: 50 },
    (_, i) =>
      first.node.propose({ op: "put", key: `k${i % 5}`, value: `${i}` }),
  );
  const results = await Promise.all(writes);
  const last = Math.max(...results.map((r) => r.index));
  await until(() => members.every((m) => m.node.lastApplied >= last), LONG);
  for (const m of members) assert.equal(m.machine.get("k4"), "49");

  await cluster.stop(first);
  const survivors = members.filter((m) => m !== first);
  const second = await until(() => leaderOf(survivors), LONG);
  assert.notEqual(second.id, first.id);
  const { index } = await second.node.propose({
    op: "put",
    key: "after",
    value: "failover",
  });
  await until(() => survivors.every((m) => m.node.lastApplied >= index), LONG);
  for (const m of survivors) assert.equal(m.machine.get("after"), "failover");
});

Deno.test("Loopback member with the wrong secret cannot take part", async () => {
  await using cluster = await loopbackCluster(["a", "b", "c"], {
    secretOf: (id) => id === "c" ? "not the cluster secret" : "loopback secret",
  });
  const [a, b, c] = cluster.members;
  const leader = await until(() => leaderOf([a, b]), LONG);
  const { index } = await leader.node.propose({
    op: "put",
    key: "x",
    value: "1",
  });
  assert.ok(index >= 1);
  await until(() => (a.transport.stats.rejectedRequests[401] ?? 0) > 0, LONG);
  assert.equal(c.node.commitIndex, 0);
  assert.equal(c.node.lastApplied, 0);
  assert.notEqual(c.node.role, "Leader");
  assert.equal(c.transport.stats.receivedMessages, 0);
  // c learns of the refusal when the 401 response reaches it, a moment
  // after a counted it.
  await until(() => c.errors.some((e) => e.message.includes("401")), LONG);
});

async function selfSignedCert(dir: string): Promise<
  { cert: string; key: string } | null
> {
  try {
    const { success } = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) return null;
  } catch {
    return null;
  }
  return {
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  };
}

Deno.test("Loopback cluster runs over HTTPS with a trusted CA", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const tls = await selfSignedCert(dir);
    if (tls === null) {
      await t.step({ name: "openssl is missing", ignore: true, fn() {} });
      return;
    }
    await using cluster = await loopbackCluster(["a", "b", "c"], {
      serve: tls,
      transport: { caCerts: [tls.cert] },
    });
    assert.ok(cluster.members[0].url.startsWith("https://127.0.0.1:"));
    const leader = await until(() => leaderOf(cluster.members), LONG);
    const { index } = await leader.node.propose({
      op: "put",
      key: "tls",
      value: "yes",
    });
    await until(
      () => cluster.members.every((m) => m.node.lastApplied >= index),
      LONG,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HTTP transport batches messages queued behind a request in flight", async () => {
  const received: Message[] = [];
  const peers: Record<string, string> = {};
  const servers = ["a", "b"].map((id) =>
    serve((request) => transports[id === "a" ? 0 : 1].fetch(request))
  );
  peers.a = servers[0].url;
  peers.b = servers[1].url;
  const transports = ["a", "b"].map((id) =>
    createHttpTransport({ id, clusterId: "batch", secret: "batch!", peers })
  );
  const [a, b] = transports;
  b.setHandler((message) => received.push(message as Message));
  const timeoutNow = (term: number): Message => ({
    v: 1,
    type: "timeoutNow",
    term,
    from: "a",
    to: "b",
  });
  try {
    a.send("b", timeoutNow(1)); // alone in the first request
    await Promise.resolve();
    await Promise.resolve();
    for (let term = 2; term <= 200; term++) a.send("b", timeoutNow(term));
    // The receiver sees a batch before its sender reads the answer.
    await until(
      () => received.length === 200 && a.stats.sentMessages === 200,
      LONG,
    );
    assert.deepEqual(received.map((m) => m.term), [
      ...Array.from({ length: 200 }, (_, i) => i + 1),
    ]);
    assert.equal(a.stats.sentMessages, 200);
    assert.ok(a.stats.sentRequests <= 3, JSON.stringify(a.stats));
    assert.equal(b.stats.receivedRequests, a.stats.sentRequests);
  } finally {
    for (const t of transports) await t.close();
    for (const s of servers) await s.shutdown();
  }
});

Deno.test("HTTP transport drops a message too large to ever send", async () => {
  const errors: Error[] = [];
  const t = createHttpTransport({
    id: "a",
    clusterId: "c",
    secret: "s",
    peers: { a: "http://127.0.0.1:9", b: "http://127.0.0.1:9" },
    maxBodyBytes: 100,
    onError: (e) => errors.push(e),
  });
  t.send("b", {
    v: 1,
    type: "timeoutNow",
    term: 1,
    from: "a".repeat(200),
    to: "b",
  });
  assert.equal(t.stats.droppedMessages, 1);
  assert.equal(t.stats.sentRequests, 0);
  assert.match(errors[0].message, /exceeds maxBodyBytes/);
  await t.close();
});

// The worst JSON size of one KV entry: a 64 KiB value of control characters
// (each becomes \u00XX), plus the entry's other fields.
const WORST_ENTRY_BYTES = JSON.stringify({
  index: Number.MAX_SAFE_INTEGER,
  term: Number.MAX_SAFE_INTEGER,
  kind: "command",
  command: {
    op: "cas",
    key: "k".repeat(1024),
    expect: "\u0001".repeat(65536),
    value: "\u0001".repeat(65536),
  },
}).length;

Deno.test("KV node limits fit the largest AppendEntries in one peer request", () => {
  assert.ok(
    MAX_ENTRIES_PER_APPEND * WORST_ENTRY_BYTES + 4096 < MAX_BODY_BYTES,
    `${MAX_ENTRIES_PER_APPEND} x ${WORST_ENTRY_BYTES} B`,
  );
});

Deno.test("Loopback follower far behind catches up on 64 KiB values", async () => {
  // Scaled down: a 1 MiB body limit fits 2 worst-case entries per request.
  const maxBodyBytes = 1024 * 1024;
  const perAppend = Math.floor((maxBodyBytes - 4096) / WORST_ENTRY_BYTES);
  assert.ok(perAppend >= 1);
  await using cluster = await loopbackCluster(["a", "b", "c"], {
    transport: { maxBodyBytes },
    node: { maxEntriesPerAppend: perAppend },
  });
  const { members } = cluster;
  const leader = await until(() => leaderOf(members), LONG);
  const lagging = members.find((m) => m !== leader)!;
  cluster.blocked.add(lagging.id);
  const value = "\u0001".repeat(65536);
  let last = 0;
  for (let i = 0; i < 12; i++) {
    const r = await leader.node.propose({ op: "put", key: `big${i}`, value });
    last = r.index;
  }
  assert.ok(lagging.node.lastApplied < last);
  cluster.blocked.delete(lagging.id);
  await until(() => lagging.node.lastApplied >= last, LONG);
  assert.equal(lagging.machine.get("big11"), value);
  assert.equal(lagging.transport.stats.rejectedRequests[413], undefined);
});
