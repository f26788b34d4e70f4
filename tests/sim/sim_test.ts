// The cluster simulator: the default plugins keep every invariant over many
// seeds, a seed replays event for event, and user state machines are judged
// by the same checks.
import assert from "node:assert/strict";
import {
  createKvStateMachine,
  type KvStateMachine,
  type SimOptions,
  simulateCluster,
} from "../../testing/mod.ts";

function sizeFor(seed: number): Pick<SimOptions, "nodes" | "nonVoters"> {
  // 3 and 5 nodes, every third seed with a non-voting member.
  return { nodes: seed % 2 === 1 ? 3 : 5, nonVoters: seed % 3 === 0 ? 1 : 0 };
}

Deno.test("30 seeds of 1,000 steps keep every invariant and stay linearizable", () => {
  let acknowledged = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const result = simulateCluster({ seed, steps: 1_000, ...sizeFor(seed) });
    const v = result.violations[0];
    assert.deepEqual(
      result.violations,
      [],
      `seed ${seed}: ${v?.invariant} at step ${v?.step}: ${v?.detail}\n${
        result.trace.join("\n")
      }`,
    );
    assert.ok(result.linearizable, `seed ${seed}: history not linearizable`);
    assert.ok(result.ok);
    assert.equal(result.seed, seed);
    acknowledged += result.stats.operations.ok;
  }
  // The runs are not vacuous: clients got answers.
  assert.ok(
    acknowledged > 30 * 20,
    `only ${acknowledged} operations completed`,
  );
});

Deno.test("a seed replays exactly: two runs give the same trace", () => {
  const options: SimOptions = {
    seed: 424242,
    steps: 1_500,
    nodes: 5,
    nonVoters: 1,
    traceLength: Infinity,
  };
  const first = simulateCluster(options);
  const second = simulateCluster(options);
  assert.ok(first.trace.length > 1_000);
  assert.equal(JSON.stringify(second.trace), JSON.stringify(first.trace));
  assert.equal(second.digest, first.digest);
  assert.deepEqual(second.stats, first.stats);
  assert.deepEqual(second.faults, first.faults);
});

Deno.test("different seeds give different runs", () => {
  const digests = new Set<string>();
  for (let seed = 1; seed <= 10; seed++) {
    digests.add(simulateCluster({ seed, steps: 500 }).digest);
  }
  assert.equal(digests.size, 10);
});

Deno.test("the trace kept for a report is the tail of the whole trace", () => {
  const whole = simulateCluster({ seed: 5, steps: 800, traceLength: Infinity });
  const tail = simulateCluster({ seed: 5, steps: 800 });
  assert.equal(tail.trace.length, 50);
  assert.deepEqual(tail.trace, whole.trace.slice(-50));
  assert.equal(tail.digest, whole.digest);
});

Deno.test("faults and settings can be pinned; unpinned ones come from the seed", () => {
  const result = simulateCluster({
    seed: 9,
    steps: 600,
    faults: { drop: 0, crash: 0.25 },
    config: { preVote: false, maxEntriesPerAppend: 1 },
  });
  assert.equal(result.faults.drop, 0);
  assert.equal(result.faults.crash, 0.25);
  assert.equal(result.config.preVote, false);
  assert.equal(result.config.maxEntriesPerAppend, 1);
  assert.ok(result.ok);
});

Deno.test("a user's state machine is checked under the same faults", () => {
  // Correct, but without snapshots: nodes then never compact their logs.
  const plain = (): KvStateMachine => {
    const kv = createKvStateMachine();
    return { apply: (c, i) => kv.apply(c, i), get: (key) => kv.get(key) };
  };
  for (let seed = 1; seed <= 5; seed++) {
    const result = simulateCluster({
      seed,
      steps: 1_000,
      stateMachine: plain,
    });
    assert.ok(result.ok, `seed ${seed}`);
  }
});

Deno.test("a state machine that forgets deletes is caught", () => {
  // Every replica agrees, so the Raft invariants hold; the clients' history
  // shows the bug.
  const forgetful = (): KvStateMachine => {
    const kv = createKvStateMachine();
    return {
      apply: (c, i) => c.op === "delete" ? null : kv.apply(c, i),
      get: (key) => kv.get(key),
      snapshot: () => kv.snapshot!(),
      restore: (data) => kv.restore!(data),
    };
  };
  let caught = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const result = simulateCluster({
      seed,
      steps: 1_500,
      stateMachine: forgetful,
    });
    assert.deepEqual(result.violations, []);
    if (!result.linearizable) caught++;
  }
  assert.ok(caught > 0, "no seed showed the missing delete");
});
