import assert from "node:assert/strict";
import {
  type HardState,
  InvalidMessageError,
  type LogEntry,
  MemoryStorage,
  OutcomeUnknownError,
  StorageError,
  type Transport,
} from "../../mod.ts";
import { settle, startCluster } from "./_cluster.ts";

/** MemoryStorage whose writes fail once `broken` is set. */
class FailingStorage extends MemoryStorage {
  broken = false;
  override append(entries: readonly LogEntry[]): Promise<void> {
    if (this.broken) return Promise.reject(new Error("disk on fire"));
    return super.append(entries);
  }
  override saveHardState(state: HardState): Promise<void> {
    if (this.broken) return Promise.reject(new Error("disk on fire"));
    return super.saveHardState(state);
  }
}

/** A 3-node cluster whose storages can be broken one by one. */
async function clusterOnFailingStorage() {
  const storages = new Map<string, FailingStorage>();
  const cluster = await startCluster({
    storage: (id) => {
      const storage = new FailingStorage();
      storages.set(id, storage);
      return storage;
    },
  });
  return { cluster, storages };
}

Deno.test("a storage failure poisons the leader: it stops, reports the error and fails pending proposals with StorageError", async () => {
  const { cluster, storages } = await clusterOnFailingStorage();
  try {
    const leader = await cluster.leader();
    const errors: unknown[] = [];
    leader.on("error", (e) => errors.push(e.error));
    storages.get(leader.id)!.broken = true;
    const outcome = await settle(cluster, leader.propose("x"));
    assert.ok(!outcome.ok && outcome.error instanceof StorageError);
    assert.equal(leader.stopped, true);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof StorageError);
  } finally {
    await cluster.stop();
  }
});

Deno.test("followers that cannot persist never acknowledge: nothing commits", async () => {
  const { cluster, storages } = await clusterOnFailingStorage();
  try {
    const leader = await cluster.leader();
    await cluster.run(40);
    const commitBefore = leader.commitIndex;
    for (const [id, s] of storages) if (id !== leader.id) s.broken = true;
    const outcome = await settle(
      cluster,
      leader.propose("never", { timeoutMs: 300 }),
    );
    assert.ok(!outcome.ok && outcome.error instanceof OutcomeUnknownError);
    assert.equal(leader.commitIndex, commitBefore);
    for (const [id] of storages) {
      if (id !== leader.id) assert.equal(cluster.node(id).stopped, true);
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("malformed inbound messages are dropped without changing any state", async () => {
  const handlers = new Map<string, (m: unknown) => void>();
  const cluster = await startCluster({
    transport: (id, net) => {
      const inner = net.connect(id);
      const t: Transport = {
        send: (to, m) => inner.send(to, m),
        setHandler: (h) => {
          handlers.set(id, h);
          inner.setHandler(h);
        },
        close: () => inner.close?.(),
      };
      return t;
    },
  });
  try {
    const leader = await cluster.leader();
    await settle(cluster, leader.propose("x"));
    await cluster.run(40);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    const snapshot = () => ({
      term: follower.term,
      role: follower.role,
      commitIndex: follower.commitIndex,
      lastApplied: follower.lastApplied,
      leaderId: follower.leaderId,
    });
    const before = snapshot();
    const reported: unknown[] = [];
    follower.on("error", (e) => reported.push(e.error));
    const inject = handlers.get(follower.id)!;
    const bad: unknown[] = [
      null,
      "garbage",
      { v: 2, type: "append", term: 99, from: leader.id, to: follower.id },
      { v: 1, type: "append", term: -1, from: leader.id, to: follower.id },
      { v: 1, type: "vote", term: 99, from: "c", to: follower.id },
      { v: 1, type: "nonsense", term: 99, from: "c", to: follower.id },
      {
        v: 1,
        type: "append",
        term: 99,
        from: leader.id,
        to: follower.id,
        prevLogIndex: 0,
        prevLogTerm: 0,
        leaderCommit: 50,
        seq: 0,
        entries: [{ index: 5, term: 1, kind: "noop", command: null }],
      },
      // well-formed but addressed to someone else, or from a stranger
      {
        v: 1,
        type: "timeoutNow",
        term: 99,
        from: leader.id,
        to: "someone-else",
      },
      { v: 1, type: "timeoutNow", term: 99, from: "stranger", to: follower.id },
    ];
    for (const message of bad) inject(message);
    await cluster.run(5);
    assert.deepEqual(snapshot(), before);
    // The seven malformed ones are reported; the two well-formed strangers
    // (misaddressed, unknown sender) are for the kernel to ignore.
    assert.equal(reported.length, 7);
    assert.ok(reported.every((e) => e instanceof InvalidMessageError));
  } finally {
    await cluster.stop();
  }
});

Deno.test("a proposal whose deadline passes before it reaches the core is never appended", async () => {
  const cluster = await startCluster();
  try {
    const leader = await cluster.leader();
    await cluster.run(40);
    const before = leader.commitIndex;
    // Deadline 0: the timer fires before the queued request is stepped.
    const outcome = await settle(
      cluster,
      leader.propose("late", { timeoutMs: 0 }),
    );
    assert.ok(!outcome.ok);
    assert.ok(
      !(outcome.error instanceof OutcomeUnknownError),
      String(outcome.error),
    );
    await cluster.run(60);
    const applied = cluster.machines.get(leader.id)!.applied;
    assert.ok(!applied.some((e) => e.command === "late"));
    assert.equal(leader.commitIndex, before);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a single voter does not send appends before the term that makes it leader is durable", async () => {
  let releaseHardState: () => void = () => {};
  let hardStateDurable = false;
  let appendsBeforeDurable = 0;
  class SlowHardState extends MemoryStorage {
    override saveHardState(state: HardState): Promise<void> {
      return new Promise<void>((resolve) => {
        releaseHardState = () => {
          hardStateDurable = true;
          resolve();
        };
      }).then(() => super.saveHardState(state));
    }
  }
  const cluster = await startCluster({
    ids: ["a"],
    nonVoters: ["b"],
    storage: (id) => id === "a" ? new SlowHardState() : new MemoryStorage(),
    transport: (id, net) => {
      const inner = net.connect(id);
      return {
        send: (to, m) => {
          if (id === "a" && m.type === "append" && !hardStateDurable) {
            appendsBeforeDurable++;
          }
          inner.send(to, m);
        },
        setHandler: (h) => inner.setHandler(h),
        close: () => inner.close?.(),
      };
    },
  });
  try {
    await cluster.runUntil(() => cluster.node("a").term > 0, 2_000);
    await cluster.run(50);
    assert.equal(appendsBeforeDurable, 0);
    releaseHardState();
    await cluster.runUntil(() => cluster.node("b").commitIndex > 0, 2_000);
  } finally {
    releaseHardState();
    await cluster.stop();
  }
});
