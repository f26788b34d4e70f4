import assert from "node:assert/strict";
import { Recorder, settle, startCluster } from "./_cluster.ts";

const SMALL_SNAPSHOTS = {
  snapshotThreshold: 20,
  trailingEntries: 5,
  snapshotChunkBytes: 256,
};

async function writeMany(
  cluster: Awaited<ReturnType<typeof startCluster>>,
  count: number,
  tag: string,
): Promise<number> {
  const leader = await cluster.leader();
  let last = 0;
  for (let i = 0; i < count; i += 10) {
    const batch = [];
    for (let k = i; k < Math.min(count, i + 10); k++) {
      batch.push(leader.propose({ tag, k }));
    }
    const outcome = await settle(cluster, Promise.all(batch));
    assert.ok(
      outcome.ok,
      `write failed: ${String((outcome as { error?: unknown }).error)}`,
    );
    last = outcome.value.at(-1)!.index;
  }
  return last;
}

Deno.test("a follower partitioned across several compactions catches up through a chunked InstallSnapshot", async () => {
  const cluster = await startCluster({ nodeOptions: SMALL_SNAPSHOTS });
  try {
    const leader = await cluster.leader();
    const lagger = [...cluster.nodes.keys()].find((id) => id !== leader.id)!;
    const rest = [...cluster.nodes.keys()].filter((id) => id !== lagger);
    const snapshots: number[] = [];
    leader.on("snapshot", (e) => snapshots.push(e.index));
    const installed: number[] = [];
    cluster.node(lagger).on("snapshot", (e) => {
      if (e.source === "leader") installed.push(e.index);
    });
    cluster.net.partition(rest, [lagger]);
    const last = await writeMany(cluster, 120, "while-away");
    await cluster.run(50);
    assert.ok(
      snapshots.length >= 3,
      `leader took ${snapshots.length} snapshots`,
    );
    cluster.net.heal();
    await cluster.runUntil(() => cluster.node(lagger).lastApplied >= last);
    assert.equal(installed.length, 1, "one snapshot install brought it up");
    const machine = cluster.machines.get(lagger)!;
    assert.equal(machine.restored, 1);
    assert.deepEqual(machine.applied, cluster.machines.get(leader.id)!.applied);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a snapshot transfer survives lost chunks by resuming from the follower's offset", async () => {
  const cluster = await startCluster({
    nodeOptions: { ...SMALL_SNAPSHOTS, snapshotChunkBytes: 128 },
  });
  try {
    const leader = await cluster.leader();
    const lagger = [...cluster.nodes.keys()].find((id) => id !== leader.id)!;
    const rest = [...cluster.nodes.keys()].filter((id) => id !== lagger);
    cluster.net.partition(rest, [lagger]);
    const last = await writeMany(cluster, 100, "lossy");
    await cluster.run(50);
    cluster.net.heal();
    cluster.net.setLinkFaults(leader.id, lagger, { dropRate: 0.3 });
    cluster.net.setLinkFaults(lagger, leader.id, { dropRate: 0.3 });
    await cluster.runUntil(
      () => cluster.node(lagger).lastApplied >= last,
      20_000,
    );
    assert.deepEqual(
      cluster.machines.get(lagger)!.applied,
      cluster.machines.get(leader.id)!.applied.slice(
        0,
        cluster.machines.get(lagger)!.applied.length,
      ),
    );
  } finally {
    await cluster.stop();
  }
});

Deno.test("a follower slower than the compaction rate still converges", async () => {
  const cluster = await startCluster({
    nodeOptions: {
      snapshotThreshold: 10,
      trailingEntries: 2,
      snapshotChunkBytes: 64,
    },
  });
  try {
    const leader = await cluster.leader();
    const slow = [...cluster.nodes.keys()].find((id) => id !== leader.id)!;
    const rest = [...cluster.nodes.keys()].filter((id) => id !== slow);
    cluster.net.partition(rest, [slow]);
    await writeMany(cluster, 60, "before");
    cluster.net.heal();
    // Every message to and from the slow follower takes 15 ms while writes
    // keep coming, so the leader compacts many times during one transfer.
    cluster.net.setLinkFaults(leader.id, slow, { delayMs: 15 });
    cluster.net.setLinkFaults(slow, leader.id, { delayMs: 15 });
    let last = 0;
    for (let round = 0; round < 20; round++) {
      last = await writeMany(cluster, 10, `round-${round}`);
    }
    cluster.net.setLinkFaults(leader.id, slow, {});
    cluster.net.setLinkFaults(slow, leader.id, {});
    await cluster.runUntil(
      () => cluster.node(slow).lastApplied >= last,
      20_000,
    );
    assert.deepEqual(
      cluster.machines.get(slow)!.applied.slice(-5),
      cluster.machines.get(leader.id)!.applied.slice(-5),
    );
  } finally {
    await cluster.stop();
  }
});

/** A Recorder whose snapshot and restore take `ms` of (virtual) time. */
class SlowRecorder extends Recorder {
  constructor(readonly wait: (ms: number) => Promise<void>) {
    super();
  }
  override snapshot(): Uint8Array {
    return super.snapshot();
  }
  slowSnapshot(): Promise<Uint8Array> {
    const data = super.snapshot();
    return this.wait(400).then(() => data);
  }
}

Deno.test("heartbeats keep flowing while a slow snapshot is built and while one is restored", async () => {
  let wait: (ms: number) => Promise<void> = () => Promise.resolve();
  const cluster = await startCluster({
    nodeOptions: { snapshotThreshold: 30, trailingEntries: 5 },
    machine: () => {
      const m = new SlowRecorder((ms) => wait(ms));
      m.snapshot = () => m.slowSnapshot() as unknown as Uint8Array;
      const restore = m.restore.bind(m);
      m.restore = ((data: Uint8Array) =>
        wait(400).then(() =>
          restore(data)
        )) as unknown as typeof m.restore;
      return m;
    },
  });
  wait = (ms) => new Promise((r) => cluster.clock.setTimeout(r, ms));
  try {
    const leader = await cluster.leader();
    const term = leader.term;
    const changes: string[] = [];
    for (const n of cluster.nodes.values()) {
      n.on("roleChange", (e) => changes.push(`${e.id}:${e.to}`));
    }
    const lagger = [...cluster.nodes.keys()].find((id) => id !== leader.id)!;
    const rest = [...cluster.nodes.keys()].filter((id) => id !== lagger);
    cluster.net.partition(rest, [lagger]);
    // 40 writes: a 400 ms snapshot starts; writes keep committing meanwhile.
    await writeMany(cluster, 40, "a");
    const during = await writeMany(cluster, 20, "b");
    await cluster.run(500);
    assert.ok(during > 40);
    assert.deepEqual(
      changes.filter((c) => !c.startsWith(`${lagger}:`)),
      [],
      "the majority kept its leader while the snapshot was built",
    );
    cluster.net.heal();
    await cluster.runUntil(() => cluster.node(lagger).role === "Follower");
    changes.length = 0;
    let restoredAt = 0;
    await cluster.runUntil(() => {
      const done = cluster.machines.get(lagger)!.restored > 0;
      if (done && restoredAt === 0) restoredAt = cluster.clock.now();
      return cluster.node(lagger).lastApplied >= during;
    }, 5_000);
    assert.ok(restoredAt > 0, "the lagging follower restored a snapshot");
    assert.equal(leader.term, term, "no election happened");
    assert.equal(leader.role, "Leader");
    assert.deepEqual(changes, []);
  } finally {
    await cluster.stop();
  }
});
