// The example KV state machine: commands, and snapshots that capture the
// state at the call, keep later applies out, restore in either format and
// give the event loop turns while a large state is written or read.
import assert from "node:assert/strict";
import { KvStateMachine } from "../../examples/kv_state_machine.ts";
import { yieldNow } from "../../kernel/async.ts";

const put = (key: string, value: string) => ({ op: "put", key, value });

function filled(keys: number, value = "v"): KvStateMachine {
  const kv = new KvStateMachine();
  for (let i = 0; i < keys; i++) kv.apply(put(`k${i}`, `${value}${i}`));
  return kv;
}

/** The state as a sorted list of pairs, from a restored copy. */
async function pairsOf(data: Uint8Array): Promise<[string, string | null][]> {
  const copy = new KvStateMachine();
  await copy.restore(data);
  const text = new TextDecoder().decode(data);
  const keys = new Set<string>();
  for (const line of text.split("\n").slice(1)) {
    if (line) { for (const [k] of JSON.parse(line)) keys.add(k); }
  }
  assert.equal(copy.size, keys.size, "no key twice in a snapshot");
  return [...keys].sort().map((k) => [k, copy.get(k)]);
}

Deno.test("KvStateMachine applies put, delete and cas with their results", () => {
  const kv = new KvStateMachine();
  assert.deepEqual(kv.apply(put("a", "1")), { ok: true, value: "1" });
  assert.deepEqual(
    kv.apply({ op: "cas", key: "a", expect: "0", value: "2" }),
    { ok: false, value: "1" },
  );
  assert.deepEqual(
    kv.apply({ op: "cas", key: "a", expect: "1", value: "2" }),
    { ok: true, value: "2" },
  );
  assert.deepEqual(
    kv.apply({ op: "cas", key: "b", expect: null, value: "x" }),
    { ok: true, value: "x" },
  );
  assert.deepEqual(kv.apply({ op: "delete", key: "a" }), {
    ok: true,
    value: null,
  });
  assert.deepEqual(kv.apply({ op: "bogus", key: "b" }), {
    ok: false,
    value: null,
  });
  assert.equal(kv.get("a"), null);
  assert.equal(kv.get("b"), "x");
  assert.equal(kv.size, 1);
});

Deno.test("A snapshot holds the state of its call, not later applies", async () => {
  const kv = filled(20_000);
  const pending = kv.snapshot();
  // Applies go on while the snapshot is serialized (the node does this).
  for (let i = 0; i < 20_000; i += 7) {
    kv.apply(put(`k${i}`, "later"));
    kv.apply({ op: "delete", key: `k${i + 1}` });
    kv.apply(put(`new${i}`, "later"));
    if (i % 70 === 0) await yieldNow();
  }
  const pairs = await pairsOf(await pending);
  assert.equal(pairs.length, 20_000);
  for (const [key, value] of pairs) {
    assert.match(key, /^k\d+$/);
    assert.equal(value, `v${key.slice(1)}`);
  }
  // The live state has the later applies; a new snapshot shows them.
  assert.equal(kv.get("k0"), "later");
  assert.equal(kv.get("k1"), null);
  const now = new KvStateMachine();
  await now.restore(await kv.snapshot());
  assert.equal(now.get("k0"), "later");
  assert.equal(now.get("k1"), null);
  assert.equal(now.get("new0"), "later");
  assert.equal(now.size, kv.size);
});

Deno.test("Two snapshots in flight each keep their own state", async () => {
  const kv = filled(5_000);
  const first = kv.snapshot();
  kv.apply(put("k1", "second"));
  const second = kv.snapshot();
  kv.apply(put("k1", "third"));
  const [a, b] = [new KvStateMachine(), new KvStateMachine()];
  await a.restore(await first);
  await b.restore(await second);
  assert.equal(a.get("k1"), "v1");
  assert.equal(b.get("k1"), "second");
  assert.equal(kv.get("k1"), "third");
});

Deno.test("restore reads values with newlines and the older one-array format", async () => {
  const kv = new KvStateMachine();
  kv.apply(put("multi\nline", "a\nb\r\n\u2028c"));
  kv.apply(put("plain", "x"));
  const copy = new KvStateMachine();
  await copy.restore(await kv.snapshot());
  assert.equal(copy.get("multi\nline"), "a\nb\r\n\u2028c");
  assert.equal(copy.get("plain"), "x");

  const legacy = new TextEncoder().encode(
    JSON.stringify([["old", "format"], ["k", "v"]]),
  );
  const old = new KvStateMachine();
  old.apply(put("gone", "after restore"));
  await old.restore(legacy);
  assert.equal(old.get("old"), "format");
  assert.equal(old.get("gone"), null);
  assert.equal(old.size, 2);

  const empty = new KvStateMachine();
  await empty.restore(await new KvStateMachine().snapshot());
  assert.equal(empty.size, 0);
});

Deno.test("restore of malformed data throws and keeps the state", async () => {
  const kv = filled(3);
  const bad = new TextEncoder().encode('kv-snapshot 2\n[["a","b"]]\n{oops');
  await assert.rejects(kv.restore(bad), SyntaxError);
  assert.equal(kv.get("k2"), "v2");
  assert.equal(kv.size, 3);
});

Deno.test("Snapshot and restore of a large state give timers turns", async () => {
  const kv = filled(200_000, "value-".repeat(8));
  let fired = 0;
  const timer = setInterval(() => fired++, 1);
  try {
    const data = await kv.snapshot();
    const duringSnapshot = fired;
    const copy = new KvStateMachine();
    await copy.restore(data);
    const duringRestore = fired - duringSnapshot;
    assert.equal(copy.size, 200_000);
    // Serializing 200,000 keys takes tens of milliseconds at the least; a
    // blocking implementation lets no timer run until it is done.
    assert.ok(duringSnapshot >= 2, `${duringSnapshot} timer turns`);
    assert.ok(duringRestore >= 2, `${duringRestore} timer turns`);
  } finally {
    clearInterval(timer);
  }
});
