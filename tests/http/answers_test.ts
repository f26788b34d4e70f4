// Answers that ride back in the response to a peer's request: they are
// used when allowed, can be turned off, are signed over the request's
// nonce, and a response whose signature does not hold delivers nothing.
import assert from "node:assert/strict";
import { until } from "../../kernel/async.ts";
import { loopbackCluster, type LoopbackMember } from "./_loopback.ts";
import { ReplyWindows } from "../../transports/_http_replies.ts";
import { isAnswer, replyingTo } from "../../transports/_http_batch.ts";
import { createHttpTransport, serve } from "../../transports/http.ts";
import type { Message } from "../../kernel/messages.ts";

const LONG = { timeoutMs: 20_000, intervalMs: 10 };

function leaderOf(members: LoopbackMember[]): LoopbackMember | undefined {
  return members.find((m) => m.node.role === "Leader");
}

async function replicate(members: LoopbackMember[]): Promise<LoopbackMember> {
  const leader = await until(() => leaderOf(members), LONG);
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => leader.node.propose({ op: "put", key: `k${i}`, value: "v" }),
    ),
  );
  const last = Math.max(...results.map((r) => r.index));
  await until(() => members.every((m) => m.node.lastApplied >= last), LONG);
  return leader;
}

Deno.test("Followers answer AppendEntries in the response to it", async () => {
  await using cluster = await loopbackCluster(["a", "b", "c"]);
  const leader = await replicate(cluster.members);
  assert.ok(leader.transport.stats.answersReceived > 0);
  for (const m of cluster.members) {
    if (m === leader) continue;
    assert.ok(m.transport.stats.answeredMessages > 0, m.id);
  }
});

Deno.test("answerWaitMs 0 sends every answer in a request of its own", async () => {
  await using cluster = await loopbackCluster(["a", "b", "c"], {
    transport: { answerWaitMs: 0 },
  });
  await replicate(cluster.members);
  for (const m of cluster.members) {
    assert.equal(m.transport.stats.answersReceived, 0, m.id);
    assert.equal(m.transport.stats.answeredMessages, 0, m.id);
  }
});

Deno.test("onRoundTrip reports every accepted request, per peer", async () => {
  const trips: [string, number][] = [];
  await using cluster = await loopbackCluster(["a", "b", "c"], {
    transport: { onRoundTrip: (peer, seconds) => trips.push([peer, seconds]) },
  });
  const leader = await replicate(cluster.members);
  const followers = cluster.members.filter((m) => m !== leader);
  for (const f of followers) {
    assert.ok(trips.some(([peer]) => peer === f.id), f.id);
  }
  for (const [peer, seconds] of trips) {
    assert.ok(["a", "b", "c"].includes(peer), peer);
    assert.ok(Number.isFinite(seconds) && seconds >= 0 && seconds < 20, peer);
  }
  // One report per request a peer took, across the three members.
  const sent = cluster.members.reduce(
    (n, m) =>
      n + m.transport.stats.sentRequests - m.transport.stats.failedRequests,
    0,
  );
  assert.ok(trips.length <= sent && trips.length >= sent - 6);
});

Deno.test("A throwing onRoundTrip is reported and delivery goes on", async () => {
  await using cluster = await loopbackCluster(["a", "b", "c"], {
    transport: {
      onRoundTrip: () => {
        throw new Error("observer broke");
      },
    },
  });
  await replicate(cluster.members);
  const errors = cluster.members.flatMap((m) => m.errors);
  assert.ok(errors.some((e) => e.message.includes("observer broke")));
  for (const m of cluster.members) {
    assert.equal(m.transport.stats.failedRequests, 0, m.id);
  }
});

Deno.test("Answers signed with another secret are dropped", async () => {
  // b answers a's vote request in the response, but the response's
  // signature is replaced on the way (forged or corrupted): a must drop it.
  const handlers = new Map<string, (r: Request) => Promise<Response>>();
  const servers = ["a", "b"].map((id) =>
    serve((r) => handlers.get(id)!(r), { port: 0 })
  );
  const peers = { a: servers[0].url, b: servers[1].url };
  const errors: Error[] = [];
  const trips: string[] = [];
  const a = createHttpTransport({
    id: "a",
    clusterId: "c",
    secret: "the cluster secret",
    peers,
    onError: (e) => {
      errors.push(e);
      // An observer that throws changes nothing either.
      throw new Error("observer broke");
    },
    onRoundTrip: (peer) => trips.push(peer),
  });
  const b = createHttpTransport({
    id: "b",
    clusterId: "c",
    secret: "the cluster secret",
    peers,
  });
  handlers.set("a", a.fetch);
  handlers.set("b", async (request) => {
    const response = await b.fetch(request);
    if (response.status !== 200) return response;
    // The same answers under a signature the secret did not make.
    const body = new Uint8Array(await response.arrayBuffer());
    const headers = new Headers(response.headers);
    headers.set("x-raft-signature", "0".repeat(64));
    return new Response(body, { status: 200, headers });
  });
  const delivered: unknown[] = [];
  a.setHandler((m) => delivered.push(m));
  b.setHandler((m) => {
    const vote = m as Message;
    b.send("a", {
      v: 1,
      type: "voteReply",
      term: vote.term,
      from: "b",
      to: "a",
      granted: true,
      preVote: false,
    });
  });
  try {
    a.send("b", {
      v: 1,
      type: "vote",
      term: 2,
      from: "a",
      to: "b",
      lastLogIndex: 0,
      lastLogTerm: 0,
      preVote: false,
      transfer: false,
    });
    await until(() => errors.some((e) => /bad signature/.test(e.message)), {
      timeoutMs: 5000,
      intervalMs: 5,
    });
    assert.equal(b.stats.answeredMessages, 1);
    assert.equal(a.stats.answersReceived, 0);
    assert.deepEqual(delivered, []);
    // Dropped answers are no round trip, and the request was not lost.
    assert.deepEqual(trips, []);
    assert.equal(a.stats.failedRequests, 0);
    assert.equal(a.stats.sentMessages, 1);
  } finally {
    for (const t of [a, b]) await t.close();
    for (const s of servers) await s.shutdown();
  }
});

Deno.test("Reply window takes what is sent in one turn, then closes", async () => {
  const windows = new ReplyWindows(1024);
  const bytes = (n: number) => new Uint8Array(n).fill(0x31);
  const waiting = windows.wait("a", 1000);
  assert.equal(windows.offer("a", bytes(10)), true);
  assert.equal(windows.offer("a", bytes(10)), true);
  assert.equal(windows.offer("b", bytes(10)), false); // no window for b
  assert.equal(windows.offer("a", bytes(2000)), false); // over the limit
  assert.deepEqual((await waiting).map((b) => b.length), [10, 10]);
  // Closed once it answered: later messages take the normal path.
  assert.equal(windows.offer("a", bytes(10)), false);
});

Deno.test("Reply window with nothing to send settles empty after its wait", async () => {
  const windows = new ReplyWindows(1024);
  const started = performance.now();
  assert.deepEqual(await windows.wait("a", 30), []);
  assert.ok(performance.now() - started >= 25);
  // A newer window for the same peer ends the older one at once.
  const older = windows.wait("a", 10_000);
  const newer = windows.wait("a", 10_000);
  assert.deepEqual(await older, []);
  windows.closeAll();
  assert.deepEqual(await newer, []);
});

Deno.test("Only requests hold a response open; only answers overtake a request", () => {
  const m = (type: string, from = "b") => ({ type, from }) as Message;
  assert.equal(replyingTo([m("append")]), "b");
  assert.equal(replyingTo([m("appendReply"), m("vote")]), "b");
  assert.equal(replyingTo([m("append"), m("append", "c")]), null);
  for (const type of ["appendReply", "voteReply", "timeoutNow", "propose"]) {
    assert.equal(replyingTo([m(type)]), null, type);
  }
  for (const type of ["appendReply", "voteReply", "snapshotReply"]) {
    assert.equal(isAnswer(m(type)), true, type);
  }
  for (const type of ["append", "vote", "snapshot", "timeoutNow", "propose"]) {
    assert.equal(isAnswer(m(type)), false, type);
  }
});
