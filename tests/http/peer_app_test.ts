// The peer endpoint of the HTTP transport, tested through `app.request()`
// without a socket: every rejection path has its status code, and leaves
// the node's term, vote, commit index and log exactly as they were.
import assert from "node:assert/strict";
import {
  appendFromB,
  CLUSTER,
  type Fixture,
  oneNode,
  signedRequest,
  URL_BASE,
} from "./_peer_requests.ts";
import { newNonce } from "../../transports/_http_auth.ts";
import { RAFT_MESSAGES_PATH } from "../../transports/http.ts";

async function expectRejected(
  fixture: Fixture,
  request: Request | Promise<Request>,
  status: number,
): Promise<void> {
  const before = await fixture.snapshot();
  const response = await fixture.transport.app.request(await request);
  const text = await response.text();
  assert.deepEqual(response.status, status, text);
  assert.deepEqual(await fixture.snapshot(), before);
}

Deno.test("Peer app delivers a well-signed batch (positive control)", async () => {
  await using f = await oneNode();
  const before = await f.snapshot();
  assert.deepEqual(before.term, 0);
  const response = await f.transport.app.request(
    await signedRequest([appendFromB(3, 2)]),
  );
  assert.deepEqual(response.status, 204);
  const after = await f.snapshot();
  assert.deepEqual(after.term, 3);
  assert.deepEqual(after.logLength, 2);
  assert.deepEqual(after.received, 1);
});

Deno.test("Peer app refuses a request without a signature (401)", async () => {
  await using f = await oneNode();
  const message = [appendFromB(5)];
  for (const part of ["signature", "timestamp", "nonce"] as const) {
    await expectRejected(f, signedRequest(message, { omit: [part] }), 401);
  }
});

Deno.test("Peer app refuses a bad signature or another secret (401)", async () => {
  await using f = await oneNode();
  const message = [appendFromB(5)];
  await expectRejected(
    f,
    signedRequest(message, { corruptSignature: true }),
    401,
  );
  await expectRejected(f, signedRequest(message, { secret: "other" }), 401);
  // Signed over one body, sent with another.
  const good = await signedRequest(message);
  const tampered = new Request(good.url, {
    method: "POST",
    headers: good.headers,
    body: JSON.stringify([appendFromB(9)]),
  });
  await expectRejected(f, tampered, 401);
  // Signed for another path.
  const moved = await signedRequest(message, { path: "/elsewhere" });
  await expectRejected(
    f,
    new Request(`${URL_BASE}${RAFT_MESSAGES_PATH}`, {
      method: "POST",
      headers: moved.headers,
      body: await moved.arrayBuffer(),
    }),
    401,
  );
  const garbage = await signedRequest(message);
  garbage.headers.set("x-raft-signature", "zz");
  await expectRejected(f, garbage, 401);
});

Deno.test("Peer app refuses a wrong or missing cluster id (403)", async () => {
  await using f = await oneNode();
  const message = [appendFromB(5)];
  await expectRejected(
    f,
    signedRequest(message, { clusterId: `${CLUSTER}-2` }),
    403,
  );
  await expectRejected(f, signedRequest(message, { clusterId: null }), 403);
});

Deno.test("Peer app refuses a stale, future or malformed timestamp (401)", async () => {
  await using f = await oneNode();
  const message = [appendFromB(5)];
  const now = Date.now();
  await expectRejected(
    f,
    signedRequest(message, { timestamp: now - 60_000 }),
    401,
  );
  await expectRejected(
    f,
    signedRequest(message, { timestamp: now + 60_000 }),
    401,
  );
  await expectRejected(f, signedRequest(message, { timestamp: "soon" }), 401);
  await expectRejected(f, signedRequest(message, { nonce: "short" }), 401);
});

Deno.test("Peer app refuses a replayed nonce (401)", async () => {
  await using f = await oneNode();
  const nonce = newNonce();
  const first = await signedRequest([appendFromB(2)], { nonce });
  const replay = first.clone();
  assert.deepEqual((await f.transport.app.request(first)).status, 204);
  await expectRejected(f, replay, 401);
  // The same nonce under a fresh signature is still a replay.
  await expectRejected(f, signedRequest([appendFromB(7)], { nonce }), 401);
});

Deno.test("Peer app refuses a body over the limit, declared or streamed (413)", async () => {
  await using f = await oneNode(4096);
  const big = [appendFromB(5, 200)];
  assert(JSON.stringify(big).length > 4096);
  await expectRejected(f, signedRequest(big), 413);
  // No Content-Length: the limit is enforced while counting the stream,
  // and the stream is cancelled instead of read to its end.
  const signed = await signedRequest(big);
  const bytes = new Uint8Array(await signed.arrayBuffer());
  let pulled = 0;
  const chunk = 512;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= 64 * chunk) return controller.close();
      controller.enqueue(bytes.subarray(0, chunk));
      pulled++;
    },
  });
  const streamed = new Request(signed.url, {
    method: "POST",
    headers: signed.headers,
    body: stream,
  });
  streamed.headers.delete("content-length");
  await expectRejected(f, streamed, 413);
  assert(pulled < 64, `read ${pulled} chunks of an oversized stream`);
});

Deno.test("Peer app refuses unknown versions and invalid messages (400)", async () => {
  await using f = await oneNode();
  const valid = appendFromB(5) as Record<string, unknown>;
  const cases: [string, unknown, string?][] = [
    ["version 2", [{ ...valid, v: 2 }]],
    ["no version", [{ ...valid, v: undefined }]],
    ["negative term", [{ ...valid, term: -1 }]],
    ["unknown type", [{ ...valid, type: "gossip" }]],
    ["entries out of order", [{
      ...valid,
      entries: [{ index: 7, term: 5, kind: "command", command: 1 }],
    }]],
    ["addressed to another node", [{ ...valid, to: "c" }]],
    ["from a stranger", [{ ...valid, from: "mallory" }]],
    ["not an array", valid],
    ["one bad message spoils the batch", [valid, { ...valid, v: 0 }]],
    ["not JSON", null, "{not json"],
    ["not UTF-8", null, "\uFFFF"],
  ];
  for (const [name, messages, raw] of cases) {
    const request = raw === "\uFFFF"
      ? signedRequest(null, { body: new Uint8Array([0x5b, 0xff, 0x5d]) })
      : signedRequest(messages, raw ? { body: raw } : {});
    const before = await f.snapshot();
    const response = await f.transport.app.request(await request);
    assert.deepEqual(response.status, 400, `${name}: ${await response.text()}`);
    assert.deepEqual(await f.snapshot(), before, name);
  }
});

Deno.test("Peer app answers 404 to other paths and methods", async () => {
  await using f = await oneNode();
  assert.deepEqual((await f.transport.app.request("/raft/other")).status, 404);
  const get = await f.transport.app.request(RAFT_MESSAGES_PATH);
  assert.deepEqual(get.status, 404);
  await get.body?.cancel();
});
