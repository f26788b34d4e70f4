// KvStorage against a model of the Storage contract, under random
// operations with commits that fail part-way (the same instance carries on,
// as after a transient KV error) and reopens from disk (as after a crash).
// Every seed is printed on failure; RAFT_SEED=n replays one.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { StorageError } from "../../kernel/errors.ts";
import { seededRandom } from "../../kernel/random.ts";
import type { LogEntry } from "../../kernel/types.ts";
import { KvStorage } from "../../storage/kv.ts";
import { replaySeed } from "../paper/_helpers.ts";
import { probeKv } from "./_probe_kv.ts";

const OPTIONS = { clusterId: "c1", nodeId: "a" };

/** The contract's meaning, as MemoryStorage implements it. */
class Model {
  offset = 0;
  log: LogEntry[] = [];
  snapshotIndex: number | null = null;

  get first(): number {
    return this.offset + 1;
  }
  get last(): number {
    return this.offset + this.log.length;
  }
  clone(): Model {
    const copy = new Model();
    copy.offset = this.offset;
    copy.log = [...this.log];
    copy.snapshotIndex = this.snapshotIndex;
    return copy;
  }
}

type Op =
  | { type: "append"; entries: LogEntry[] }
  | { type: "truncate"; from: number }
  | { type: "compact"; upTo: number }
  | { type: "snapshot"; index: number };

function applyOp(model: Model, op: Op): void {
  switch (op.type) {
    case "append": {
      const from = op.entries[0].index;
      model.log.length = from - model.offset - 1;
      model.log.push(...op.entries);
      return;
    }
    case "truncate":
      model.log.length = Math.min(
        model.log.length,
        Math.max(0, op.from - model.offset - 1),
      );
      return;
    case "compact": {
      const drop = Math.min(model.log.length, op.upTo - model.offset);
      if (drop > 0) {
        model.log = model.log.slice(drop);
        model.offset += drop;
      }
      return;
    }
    case "snapshot":
      model.snapshotIndex = op.index;
      if (op.index >= model.last) {
        model.log = [];
        model.offset = op.index;
      }
  }
}

function runOp(storage: KvStorage, op: Op): Promise<void> {
  switch (op.type) {
    case "append":
      return storage.append(op.entries);
    case "truncate":
      return storage.truncateSuffix(op.from);
    case "compact":
      return storage.compactPrefix(op.upTo);
    case "snapshot":
      return storage.saveSnapshot({
        index: op.index,
        term: 1,
        voters: ["a"],
        nonVoters: [],
        data: new Uint8Array([op.index % 256]),
      });
  }
}

function randomOp(
  model: Model,
  random: () => number,
  term: number,
): Op {
  const pick = (lo: number, hi: number) =>
    lo + Math.floor(random() * (hi - lo + 1));
  const roll = random();
  if (roll < 0.6 || model.log.length === 0) {
    const from = random() < 0.5
      ? model.last + 1
      : pick(model.first, model.last + 1);
    // Sometimes large enough for several segments and several commits.
    const big = random() < 0.25;
    const count = big ? pick(100, 700) : pick(1, 40);
    const pad = big ? "x".repeat(pick(500, 2000)) : "";
    const entries: LogEntry[] = [];
    for (let k = 0; k < count; k++) {
      const index = from + k;
      entries.push(
        random() < 0.1
          ? { index, term, kind: "noop", command: null }
          : { index, term, kind: "command", command: { index, term, pad } },
      );
    }
    return { type: "append", entries };
  }
  if (roll < 0.75) {
    return { type: "truncate", from: pick(model.first, model.last + 1) };
  }
  if (roll < 0.9) {
    return { type: "compact", upTo: pick(model.first - 1, model.last) };
  }
  return {
    type: "snapshot",
    index: pick(
      Math.max(model.first - 1, model.snapshotIndex ?? 0),
      model.last + 3,
    ),
  };
}

async function stateOf(storage: KvStorage) {
  const { entries, snapshot } = await storage.load();
  return {
    entries,
    snapshotIndex: snapshot?.index ?? null,
    lastIndex: await storage.lastIndex(),
  };
}

function expected(model: Model) {
  return {
    entries: model.log,
    snapshotIndex: model.snapshotIndex,
    lastIndex: model.last,
  };
}

async function checkSeed(seed: number): Promise<void> {
  const random = seededRandom(seed);
  const next = () => random.next();
  const dir = await Deno.makeTempDir({ prefix: "raft_kv_model_" });
  const path = `${dir}/node.kv`;
  let kv = await Deno.openKv(path);
  let failing = false;
  const open = (handle: Deno.Kv) =>
    new KvStorage(
      probeKv(handle, Infinity, () => failing && next() < 0.4)[0],
      OPTIONS,
    );
  let storage = open(kv);
  let model = new Model();
  try {
    await storage.load();
    for (let step = 0; step < 40; step++) {
      const op = randomOp(model, next, step + 1);
      const after = model.clone();
      applyOp(after, op);
      failing = next() < 0.3;
      let ok = true;
      try {
        await runOp(storage, op);
      } catch (error) {
        assert.ok(error instanceof StorageError, String(error));
        ok = false;
      }
      failing = false;
      const state = await stateOf(storage);
      if (ok) {
        assert.deepEqual(state, expected(after), `step ${step}: ${op.type}`);
        model = after;
      } else {
        // A failed call leaves the old state or the new one, never a mix.
        const landed = isDeepStrictEqual(state, expected(after));
        assert.ok(
          landed || isDeepStrictEqual(state, expected(model)),
          `step ${step}: a failed ${op.type} left a mixed state`,
        );
        if (landed) model = after;
      }
      if (step % 10 === 9) {
        // As after a crash: reopen from disk; a second load deletes nothing.
        await storage.close();
        kv.close();
        kv = await Deno.openKv(path);
        storage = open(kv);
        assert.deepEqual(await stateOf(storage), expected(model), "reopened");
        const [probed, probe] = probeKv(kv);
        const again = new KvStorage(probed, OPTIONS);
        await again.load();
        assert.equal(probe.commits, 0, "a second load found garbage");
      }
    }
  } finally {
    await storage.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KvStorage matches the Storage model under random operations, failed commits and reopens", async () => {
  const only = replaySeed();
  const seeds = only === undefined
    ? Array.from({ length: 24 }, (_, i) => i + 1)
    : [only];
  for (const seed of seeds) {
    try {
      await checkSeed(seed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `seed ${seed} failed (replay: RAFT_SEED=${seed} deno test -A tests/storage/kv_model_test.ts): ${message}`,
        { cause: error },
      );
    }
  }
});
