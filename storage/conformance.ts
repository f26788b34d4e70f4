/**
 * {@linkcode storageConformance}: the test suite every Storage backend
 * passes. It registers one `Deno.test` per point of the contract in
 * `storage/storage.ts`, each on a fresh storage from your factory.
 *
 * A backend author runs the whole suite with one line in a test file:
 *
 * @example
 * ```ts ignore
 * import { storageConformance } from "./conformance.ts";
 * import { MemoryStorage } from "./memory.ts";
 * storageConformance("MemoryStorage", () => ({ storage: new MemoryStorage() }));
 * ```
 * @module
 */
import assert from "node:assert/strict";
import { StorageError } from "../kernel/errors.ts";
import type { LogEntry, Snapshot } from "../kernel/types.ts";
import type { Storage } from "./storage.ts";

// Re-exported so this module documents (and can be used) on its own.
export type { PersistedState, Storage } from "./storage.ts";
export type {
  HardState,
  Json,
  LogEntry,
  NodeId,
  Snapshot,
} from "../kernel/types.ts";

/** A storage under test and how to reopen and clean it up. */
export interface StorageFixture {
  /** A fresh, empty storage. */
  storage: Storage;
  /**
   * Opens the same durable state again. The suite calls it only after
   * closing `storage`; without it the durability test is skipped.
   */
  reopen?: () => Promise<Storage>;
  /** Runs after the test has closed every storage (e.g. removes a temp dir). */
  cleanup?: () => Promise<void>;
}

/** Tuning for slow backends; the defaults are what the contract promises. */
export interface ConformanceOptions {
  /** Entries in the large-batch test. Default 5,000. */
  largeBatch?: number;
  /** Size of each command in the big-command test. Default 10 KiB. */
  bigCommandBytes?: number;
  /** Entries in the big-command test. Default 100. */
  bigCommandCount?: number;
  /** Passed to every `Deno.test`; set to skip the suite. Default false. */
  ignore?: boolean;
}

/** Builds entries `from..to` of `term`; commands name their index. */
function run(from: number, to: number, term = 1): LogEntry[] {
  const entries: LogEntry[] = [];
  for (let index = from; index <= to; index++) {
    entries.push({
      index,
      term,
      kind: "command",
      command: { op: "set", index },
    });
  }
  return entries;
}

function snapshotAt(index: number, term: number, size = 100): Snapshot {
  const data = new Uint8Array(size);
  for (let k = 0; k < size; k++) data[k] = (k * 7 + index) % 256;
  return { index, term, voters: ["a", "b", "c"], nonVoters: ["d"], data };
}

function assertSnapshot(actual: Snapshot | null, expected: Snapshot): void {
  assert.ok(actual !== null, "expected a snapshot");
  assert.equal(actual.index, expected.index);
  assert.equal(actual.term, expected.term);
  assert.deepEqual([...actual.voters], [...expected.voters]);
  assert.deepEqual([...actual.nonVoters], [...expected.nonVoters]);
  assert.equal(actual.data.length, expected.data.length);
  assert.ok(
    actual.data.every((byte, k) => byte === expected.data[k]),
    "snapshot data differs",
  );
}

/** Asserts the whole visible log through `load`, `entries` and `lastIndex`. */
async function assertLog(
  storage: Storage,
  expected: LogEntry[],
  lastIndex: number,
): Promise<void> {
  assert.deepEqual((await storage.load()).entries, expected);
  assert.equal(await storage.lastIndex(), lastIndex);
  assert.deepEqual(await storage.entries(0, Infinity), expected);
}

type Body = (
  storage: Storage,
  fixture: StorageFixture,
  t: Deno.TestContext,
) => Promise<void>;

/**
 * Registers the Storage contract tests for one backend.
 *
 * @param name Prefix of every test name, e.g. `"KvStorage (file)"`.
 * @param factory Returns a fresh, empty storage for each test (sync or async).
 * @param options Sizes for the large tests and an `ignore` switch.
 *
 * @example
 * ```ts ignore
 * import { storageConformance } from "./conformance.ts";
 * import { KvStorage } from "./kv.ts";
 * storageConformance("KvStorage", async () => ({ storage: await KvStorage.open() }));
 * ```
 */
export function storageConformance(
  name: string,
  factory: () => StorageFixture | Promise<StorageFixture>,
  options: ConformanceOptions = {},
): void {
  const largeBatch = options.largeBatch ?? 5000;
  const bigBytes = options.bigCommandBytes ?? 10 * 1024;
  const bigCount = options.bigCommandCount ?? 100;

  const test = (title: string, body: Body): void => {
    Deno.test({
      name: `${name}: ${title}`,
      ignore: options.ignore ?? false,
      fn: async (t) => {
        const fixture = await factory();
        try {
          await body(fixture.storage, fixture, t);
        } finally {
          // Closing twice is allowed by the contract; bodies may close early.
          await fixture.storage.close?.();
          await fixture.cleanup?.();
        }
      },
    });
  };

  test("a new storage loads term 0, no vote, no snapshot, no entries", async (s) => {
    const state = await s.load();
    assert.deepEqual(state.hardState, { term: 0, votedFor: null });
    assert.equal(state.snapshot, null);
    assert.deepEqual(state.entries, []);
    assert.equal(await s.lastIndex(), 0);
    assert.equal(await s.loadSnapshot(), null);
  });

  test("saveHardState round-trips term and vote", async (s) => {
    await s.saveHardState({ term: 3, votedFor: "b" });
    assert.deepEqual((await s.load()).hardState, { term: 3, votedFor: "b" });
    await s.saveHardState({ term: 4, votedFor: null });
    assert.deepEqual((await s.load()).hardState, { term: 4, votedFor: null });
  });

  test("append stores contiguous batches in order", async (s) => {
    await s.append(run(1, 3));
    await s.append(run(4, 4, 2));
    await s.append([]);
    await assertLog(s, [...run(1, 3), ...run(4, 4, 2)], 4);
  });

  test("append round-trips noops and nested, unicode commands", async (s) => {
    const entries: LogEntry[] = [
      { index: 1, term: 1, kind: "noop", command: null },
      {
        index: 2,
        term: 1,
        kind: "command",
        command: { k: "κλειδί 🔑", v: [1, 2.5, true, null, { deep: ["x"] }] },
      },
      { index: 3, term: 2, kind: "command", command: "plain" },
    ];
    await s.append(entries);
    await assertLog(s, entries, 3);
  });

  test("append replaces the suffix from the first new index", async (s) => {
    await s.append(run(1, 5));
    await s.append(run(3, 4, 2));
    await assertLog(s, [...run(1, 2), ...run(3, 4, 2)], 4);
    await s.append(run(5, 6, 2));
    await assertLog(s, [...run(1, 2), ...run(3, 6, 2)], 6);
    await s.append(run(1, 1, 3));
    await assertLog(s, run(1, 1, 3), 1);
  });

  test("append with a gap rejects with StorageError and changes nothing", async (s) => {
    await s.append(run(1, 3));
    await assert.rejects(s.append(run(5, 6)), StorageError);
    await assertLog(s, run(1, 3), 3);
    const empty = await factory();
    try {
      await assert.rejects(empty.storage.append(run(2, 2)), StorageError);
      assert.equal(await empty.storage.lastIndex(), 0);
    } finally {
      await empty.storage.close?.();
      await empty.cleanup?.();
    }
  });

  test("append at or before the snapshot rejects with StorageError and changes nothing", async (s) => {
    await s.append(run(1, 4));
    await s.saveSnapshot(snapshotAt(6, 1));
    await assert.rejects(s.append(run(6, 7)), StorageError);
    await assert.rejects(s.append(run(3, 8)), StorageError);
    await assertLog(s, [], 6);
    await s.append(run(7, 8, 2));
    await assertLog(s, run(7, 8, 2), 8);
  });

  test("truncateSuffix removes entries from the given index", async (s) => {
    await s.append(run(1, 6));
    await s.truncateSuffix(9);
    await assertLog(s, run(1, 6), 6);
    await s.truncateSuffix(4);
    await assertLog(s, run(1, 3), 3);
    await s.append(run(4, 5, 2));
    await assertLog(s, [...run(1, 3), ...run(4, 5, 2)], 5);
    await s.truncateSuffix(1);
    await assertLog(s, [], 0);
  });

  test("entries reads from <= index < to and only what exists", async (s) => {
    await s.append(run(1, 10));
    assert.deepEqual(await s.entries(3, 6), run(3, 5));
    assert.deepEqual(await s.entries(0, 3), run(1, 2));
    assert.deepEqual(await s.entries(8, 100), run(8, 10));
    assert.deepEqual(await s.entries(11, 20), []);
    assert.deepEqual(await s.entries(5, 5), []);
    assert.deepEqual(await s.entries(6, 2), []);
    await s.compactPrefix(4);
    assert.deepEqual(await s.entries(1, 7), run(5, 6));
  });

  test("lastIndex follows the log, then the snapshot when the log is empty", async (s) => {
    assert.equal(await s.lastIndex(), 0);
    await s.append(run(1, 5));
    assert.equal(await s.lastIndex(), 5);
    await s.saveSnapshot(snapshotAt(3, 1));
    assert.equal(await s.lastIndex(), 5);
    await s.saveSnapshot(snapshotAt(9, 1));
    assert.equal(await s.lastIndex(), 9);
  });

  test("saveSnapshot and loadSnapshot round-trip bytes and membership", async (s) => {
    await s.append(run(1, 10));
    const first = snapshotAt(4, 1, 1000);
    await s.saveSnapshot(first);
    assertSnapshot(await s.loadSnapshot(), first);
    assertSnapshot((await s.load()).snapshot, first);
    const second = snapshotAt(8, 1, 0);
    await s.saveSnapshot(second);
    assertSnapshot(await s.loadSnapshot(), second);
  });

  test("a snapshot inside the log keeps the entries after it", async (s) => {
    await s.append(run(1, 10));
    await s.saveSnapshot(snapshotAt(4, 1));
    assert.deepEqual(await s.entries(5, 11), run(5, 10));
    assert.equal(await s.lastIndex(), 10);
  });

  test("compactPrefix drops entries up to the index and keeps lastIndex", async (s) => {
    await s.append(run(1, 10));
    await s.saveSnapshot(snapshotAt(6, 1));
    await s.compactPrefix(6);
    await assertLog(s, run(7, 10), 10);
    await s.compactPrefix(3);
    await assertLog(s, run(7, 10), 10);
    await s.append(run(11, 11, 2));
    await assertLog(s, [...run(7, 10), ...run(11, 11, 2)], 11);
    await s.compactPrefix(50);
    await assertLog(s, [], 11);
  });

  test("a snapshot past the end of the log leaves an empty log at its index", async (s) => {
    await s.append(run(1, 5));
    const snapshot = snapshotAt(20, 3);
    await s.saveSnapshot(snapshot);
    await assertLog(s, [], 20);
    assertSnapshot((await s.load()).snapshot, snapshot);
    await s.append(run(21, 22, 3));
    await assertLog(s, run(21, 22, 3), 22);
  });

  test("everything survives close and reopen", async (s, fixture, t) => {
    if (fixture.reopen === undefined) {
      await t.step({
        name: "skipped: the factory gives no reopen",
        ignore: true,
        fn: () => {},
      });
      return;
    }
    await s.saveHardState({ term: 7, votedFor: "c" });
    await s.append(run(1, 30, 2));
    const snapshot = snapshotAt(10, 2, 5000);
    await s.saveSnapshot(snapshot);
    await s.compactPrefix(10);
    await s.append(run(25, 40, 3));
    await s.truncateSuffix(36);
    const expected = [...run(11, 24, 2), ...run(25, 35, 3)];
    await s.close?.();
    const reopened = await fixture.reopen();
    try {
      const state = await reopened.load();
      assert.deepEqual(state.hardState, { term: 7, votedFor: "c" });
      assertSnapshot(state.snapshot, snapshot);
      assert.deepEqual(state.entries, expected);
      await assertLog(reopened, expected, 35);
    } finally {
      await reopened.close?.();
    }
  });

  test("every call rejects with StorageError after close", async (s) => {
    await s.append(run(1, 2));
    await s.close?.();
    const calls: Array<() => Promise<unknown>> = [
      () => s.load(),
      () => s.saveHardState({ term: 1, votedFor: null }),
      () => s.append(run(3, 3)),
      () => s.truncateSuffix(1),
      () => s.entries(1, 3),
      () => s.lastIndex(),
      () => s.saveSnapshot(snapshotAt(2, 1)),
      () => s.loadSnapshot(),
      () => s.compactPrefix(1),
    ];
    for (const call of calls) await assert.rejects(call(), StorageError);
  });

  test(`a batch of ${largeBatch} entries round-trips`, async (s) => {
    const entries = run(1, largeBatch);
    await s.append(entries);
    await assertLog(s, entries, largeBatch);
    const middle = Math.floor(largeBatch / 2);
    await s.append(run(middle, largeBatch, 2));
    const replaced = [...run(1, middle - 1), ...run(middle, largeBatch, 2)];
    await assertLog(s, replaced, largeBatch);
  });

  test(`${bigCount} commands of ${bigBytes} bytes round-trip`, async (s) => {
    const entries = Array.from({ length: bigCount }, (_, k): LogEntry => ({
      index: k + 1,
      term: 1,
      kind: "command",
      command: { blob: String.fromCharCode(97 + (k % 26)).repeat(bigBytes) },
    }));
    await s.append(entries);
    await assertLog(s, entries, bigCount);
  });
}
