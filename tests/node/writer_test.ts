import assert from "node:assert/strict";
import { LogWriter } from "../../kernel/_writer.ts";
import type { Ready } from "../../kernel/core.ts";
import type { LogEntry } from "../../kernel/types.ts";
import { MemoryStorage } from "../../mod.ts";
import { drainIo } from "./_cluster.ts";

function readyWith(entries: LogEntry[]): Ready {
  return {
    hardState: null,
    entries,
    snapshot: null,
    snapshotKeptLog: false,
    compactTo: 0,
    eagerMessages: [],
    messages: [],
    commitIndex: 0,
    accepted: [],
    forwarded: [],
    reads: [],
    failures: [],
    transfersDone: [],
    roleChanges: [],
  };
}

const entry = (index: number): LogEntry => ({
  index,
  term: 1,
  kind: "command",
  command: index,
});

Deno.test("the log writer never strands a write pushed while its drain is finishing", async () => {
  const storage = new MemoryStorage();
  const persisted: number[] = [];
  let pushedSecond = false;
  const writer: LogWriter = new LogWriter("a", storage, {
    send: () => {},
    persisted: (index) => {
      persisted.push(index);
      if (!pushedSecond) {
        pushedSecond = true;
        // Arrives after the drain saw an empty queue, before it returned.
        queueMicrotask(() => writer.push(readyWith([entry(2)])));
      }
    },
    installed: () => {},
    failed: (error) => {
      throw error;
    },
    stopped: () => false,
  });
  writer.push(readyWith([entry(1)]));
  await drainIo();
  await writer.idle();
  assert.deepEqual(persisted, [1, 2]);
  assert.equal(await storage.lastIndex(), 2);
});

Deno.test("the log writer merges what queued during a write into one storage batch", async () => {
  const batches: number[] = [];
  class CountingStorage extends MemoryStorage {
    override append(entries: readonly LogEntry[]): Promise<void> {
      batches.push(entries.length);
      return super.append(entries);
    }
  }
  const writer = new LogWriter("a", new CountingStorage(), {
    send: () => {},
    persisted: () => {},
    installed: () => {},
    failed: (error) => {
      throw error;
    },
    stopped: () => false,
  });
  writer.push(readyWith([entry(1)]));
  for (let i = 2; i <= 10; i++) writer.push(readyWith([entry(i)]));
  await drainIo();
  await writer.idle();
  assert.deepEqual(batches, [1, 9], "group commit: one write for the nine");
});
