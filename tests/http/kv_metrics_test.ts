// The example KV node's metrics: storage writes timed without changing what
// storage does, and every histogram family rendered in the Prometheus text
// format with buckets, sum and count that match what was observed.
import assert from "node:assert/strict";
import { KvMetrics, timedStorage } from "../../examples/_kv_metrics.ts";
import { StorageError } from "../../kernel/errors.ts";
import type { LogEntry } from "../../kernel/types.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { KvStorage } from "../../storage/kv.ts";
import { storageConformance } from "../../storage/conformance.ts";

const entry = (index: number): LogEntry => ({
  index,
  term: 1,
  kind: "command",
  command: { op: "put", key: `k${index}`, value: "v" },
});

// The wrapper is a Storage like any other: the whole contract holds through it.
storageConformance("timedStorage over file KvStorage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raft_timed_storage_" });
  const path = `${dir}/node.kv`;
  const observe = () => {};
  return {
    storage: timedStorage(await KvStorage.open(path), observe),
    reopen: async () => timedStorage(await KvStorage.open(path), observe),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

Deno.test("timedStorage times each write and passes everything through", async () => {
  const seen: [string, number][] = [];
  const inner = new MemoryStorage();
  const storage = timedStorage(inner, (m, s) => seen.push([m, s]));
  await storage.saveHardState({ term: 3, votedFor: "b" });
  await storage.append([entry(1), entry(2), entry(3)]);
  await storage.truncateSuffix(3);
  assert.deepEqual(seen.map(([m]) => m), [
    "saveHardState",
    "append",
    "truncateSuffix",
  ]);
  for (const [, seconds] of seen) assert.ok(seconds >= 0 && seconds < 10);
  const loaded = await storage.load();
  assert.deepEqual(loaded.hardState, { term: 3, votedFor: "b" });
  assert.deepEqual(loaded.entries.map((e) => e.index), [1, 2]);
  assert.equal(await storage.lastIndex(), 2);
  assert.deepEqual(await storage.entries(2, 3), [entry(2)]);
  assert.equal(seen.length, 3, "reads are not timed");
});

Deno.test("timedStorage rethrows a storage error unchanged and still times it", async () => {
  const failure = new StorageError("disk on fire");
  class Failing extends MemoryStorage {
    override append(): Promise<void> {
      return Promise.reject(failure);
    }
  }
  const seen: string[] = [];
  const storage = timedStorage(new Failing(), (m) => seen.push(m));
  await assert.rejects(storage.append([entry(1)]), (e) => e === failure);
  assert.deepEqual(seen, ["append"]);
  assert.equal(await storage.lastIndex(), 0);
});

/** The value of the one sample `series` (name plus labels) in `text`. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no sample ${series}`);
  return Number(line.slice(series.length + 1));
}

Deno.test("KvMetrics renders request, storage and round-trip histograms", () => {
  const metrics = new KvMetrics();
  metrics.request("put", 200, 0.002);
  metrics.request("put", 504, 2);
  metrics.storageWrite("append", 0.0003);
  metrics.storageWrite("append", 0.004);
  metrics.storageWrite("saveHardState", 0.0002);
  metrics.roundTrip("b", 0.0007);
  const text = metrics.render();
  for (const line of text.trim().split("\n")) {
    if (line.startsWith("#")) {
      assert.match(line, /^# (HELP|TYPE) [a-z_]+ /);
    } else {
      assert.match(line, /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/, line);
    }
  }
  assert.match(text, /# TYPE kv_request_duration_seconds histogram/);
  assert.equal(
    sample(text, 'kv_request_duration_seconds_bucket{op="put",le="0.0025"}'),
    1,
  );
  assert.equal(
    sample(text, 'kv_request_duration_seconds_bucket{op="put",le="+Inf"}'),
    2,
  );
  assert.equal(sample(text, 'kv_requests_total{op="put",code="504"}'), 1);

  const write = "raft_storage_write_duration_seconds";
  assert.match(text, new RegExp(`# TYPE ${write} histogram`));
  assert.equal(sample(text, `${write}_bucket{method="append",le="0.0001"}`), 0);
  assert.equal(
    sample(text, `${write}_bucket{method="append",le="0.0005"}`),
    1,
  );
  assert.equal(sample(text, `${write}_bucket{method="append",le="0.005"}`), 2);
  assert.equal(sample(text, `${write}_count{method="append"}`), 2);
  assert.ok(
    Math.abs(sample(text, `${write}_sum{method="append"}`) - 0.0043) < 1e-9,
  );
  assert.equal(sample(text, `${write}_count{method="saveHardState"}`), 1);

  // Label values are escaped as the text format wants.
  const odd = new KvMetrics();
  odd.roundTrip('a"b\\c\nd', 0.001);
  assert.match(
    odd.render(),
    /raft_transport_round_trip_seconds_count\{peer="a\\"b\\\\c\\nd"\} 1/,
  );

  const trip = "raft_transport_round_trip_seconds";
  assert.equal(sample(text, `${trip}_bucket{peer="b",le="0.0005"}`), 0);
  assert.equal(sample(text, `${trip}_bucket{peer="b",le="0.001"}`), 1);
  assert.equal(sample(text, `${trip}_count{peer="b"}`), 1);
});
