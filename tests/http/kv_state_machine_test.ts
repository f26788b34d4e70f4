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

/** Settles `promise` into a flag, to see whether it is still pending. */
function track<T>(promise: Promise<T>): { done: boolean; value: Promise<T> } {
  const state = { done: false, value: promise };
  promise.then(() => state.done = true, () => state.done = true);
  return state;
}

Deno.test("A snapshot holds the state of its call, not later applies", async () => {
  // Large enough that serializing takes many slices (tens of ms at least).
  const kv = filled(100_000);
  const pending = track(kv.snapshot());
  let appliedWhilePending = 0;
  // Applies go on while the snapshot is serialized (the node does this).
  for (let i = 0; i < 100_000 && !pending.done; i += 7) {
    kv.apply(put(`k${i}`, "later"));
    kv.apply({ op: "delete", key: `k${i + 1}` });
    kv.apply(put(`new${i}`, "later"));
    appliedWhilePending++;
    if (i % 70 === 0) await yieldNow();
  }
  assert.ok(appliedWhilePending >= 10, `${appliedWhilePending} applies`);
  const pairs = await pairsOf(await pending.value);
  assert.equal(pairs.length, 100_000);
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
  const kv = filled(100_000);
  const first = track(kv.snapshot());
  kv.apply(put("k1", "second"));
  kv.apply(put("k2", "second"));
  // Twice the keys: the second snapshot is still being written when the
  // first is done, and must not lose its pins when the first unpins.
  for (let i = 0; i < 100_000; i++) kv.apply(put(`m${i}`, "m"));
  const second = track(kv.snapshot());
  while (!first.done) await yieldNow();
  let appliedWhilePending = 0;
  for (let i = 0; i < 100_000 && !second.done; i += 7) {
    kv.apply(put(`k${i}`, "third"));
    kv.apply({ op: "delete", key: `m${i}` });
    appliedWhilePending++;
    if (i % 70 === 0) await yieldNow();
  }
  assert.ok(appliedWhilePending >= 10, `${appliedWhilePending} applies`);
  const [a, b] = [new KvStateMachine(), new KvStateMachine()];
  await a.restore(await first.value);
  await b.restore(await second.value);
  assert.equal(a.size, 100_000);
  assert.deepEqual([a.get("k1"), a.get("k2"), a.get("k7")], ["v1", "v2", "v7"]);
  assert.equal(a.get("m0"), null);
  assert.equal(b.size, 200_000);
  assert.deepEqual([b.get("k1"), b.get("k2"), b.get("k7")], [
    "second",
    "second",
    "v7",
  ]);
  assert.equal(b.get("m0"), "m");
  assert.equal(kv.get("k7"), "third");
});

Deno.test("A snapshot that finishes leaves another one's maps pinned", async () => {
  // One pair per slice and a yield after each: fully interleaved.
  const kv = new KvStateMachine({ sliceMs: 0, pairsPerLine: 1 });
  for (let i = 0; i < 200; i++) kv.apply(put(`k${i}`, `v${i}`));
  const first = track(kv.snapshot());
  for (let i = 0; i < 20; i++) await yieldNow();
  // Nothing written in between: both read the same maps.
  const second = track(kv.snapshot());
  while (!first.done) await yieldNow();
  assert.equal(second.done, false, "the second started 20 turns later");
  for (let i = 0; i < 200; i++) kv.apply(put(`k${i}`, "later"));
  const copy = new KvStateMachine();
  await copy.restore(await second.value);
  for (let i = 0; i < 200; i++) assert.equal(copy.get(`k${i}`), `v${i}`);
  assert.equal(kv.get("k5"), "later");
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
  const encode = (text: string) => new TextEncoder().encode(text);
  await assert.rejects(
    kv.restore(encode('kv-snapshot 2\n[["a","b"]]\n{oops')),
    SyntaxError,
  );
  for (
    const line of ['"ab"', '[["a",1]]', '[["a"]]', '[["a","b","c"]]', "[3]"]
  ) {
    await assert.rejects(
      kv.restore(encode(`kv-snapshot 2\n[["x","y"]]\n${line}`)),
      TypeError,
      line,
    );
  }
  await assert.rejects(kv.restore(encode('{"not":"pairs"}')), TypeError);
  assert.equal(kv.get("k2"), "v2");
  assert.equal(kv.get("x"), null);
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
