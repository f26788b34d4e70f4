// Black-box test of examples/kv_node.ts: three node processes on loopback
// with KvStorage on files, concurrent clients doing put/get/cas/delete for
// a bounded time, the leader SIGKILLed mid-run and restarted on the same
// data. The recorded history must be linearizable (testing/ checker), no
// acknowledged write may be lost, and every node must exit 0 on SIGTERM
// within 5 s.
import assert from "node:assert/strict";
import { HistoryRecorder } from "../../testing/history.ts";
import { checkHistory } from "../../testing/linearizability.ts";
import { describeOperation } from "../../testing/history.ts";
import { kvModel } from "../../testing/models.ts";
import { seededRandom } from "../../kernel/random.ts";
import {
  type NodeProcess,
  startNodeProcesses,
  statusOf,
  waitForLeader,
} from "../../examples/_kv_process.ts";
import { runClients } from "./_kv_clients.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "KV nodes stay linearizable when the leader is SIGKILLed and restarts",
  fn: async () => {
    const seed = Number(Deno.env.get("SEED") ?? Date.now() % 1_000_000);
    console.log(`seed ${seed} (SEED=${seed} reproduces the client choices)`);
    const random = seededRandom(seed);
    const dataRoot = await Deno.makeTempDir({ prefix: "kv-blackbox-" });
    const nodes: NodeProcess[] = startNodeProcesses(["a", "b", "c"], {
      dataRoot,
      secret: "black box secret 0123456789",
      electionMs: 300,
      heartbeatMs: 60,
    });
    const report = () =>
      nodes.map((n) => `--- ${n.id}\n${n.lines.slice(-40).join("\n")}`)
        .join("\n");
    try {
      await Promise.all(nodes.map((n) => n.waitReady(60_000)));
      const first = await waitForLeader(nodes, 60_000);

      const recorder = new HistoryRecorder();
      const started = Date.now();
      const runMs = 8_000;
      const clients = runClients({
        recorder,
        urls: () => nodes.map((n) => n.url),
        keys: ["k0", "k1", "k2", "k3", "k4"],
        clients: 6,
        until: started + runMs,
        maxOpsPerClient: 3_000,
        requestTimeoutMs: 3_000,
        random: () => random.next(),
      });

      await sleep(2_500);
      const victim = nodes.find((n) => n.id === first.id)!;
      const killedAt = Date.now();
      victim.kill("SIGKILL");
      await victim.exited();
      await sleep(2_000);
      victim.start();
      const tally = await clients;
      console.log(
        `ops ok ${tally.ok}, failed ${tally.failed}, unknown ${tally.unknown}` +
          ` in ${
            ((Date.now() - started) / 1000).toFixed(1)
          } s; leader ${first.id} killed`,
      );
      assert.deepEqual(tally.unexpected, [], report());
      assert.ok(tally.ok >= 30, `too few operations succeeded\n${report()}`);
      assert.ok(
        tally.ackedWriteTimes.some((t) => t > killedAt),
        `no write was acknowledged after the kill\n${report()}`,
      );

      // Every node catches up, the restarted one included.
      await victim.waitReady(60_000);
      await waitForLeader(nodes, 30_000);
      const end = Date.now() + 30_000;
      let statuses = await Promise.all(nodes.map((n) => statusOf(n.url)));
      while (Date.now() < end) {
        statuses = await Promise.all(nodes.map((n) => statusOf(n.url)));
        const applied = statuses.map((s) => s?.lastApplied ?? -1);
        if (applied.every((a) => a === applied[0] && a > 0)) break;
        await sleep(100);
      }
      const applied = statuses.map((s) => s?.lastApplied ?? -1);
      assert.ok(
        applied.every((a) => a === applied[0]),
        `nodes did not converge: ${applied}\n${report()}`,
      );

      // No acknowledged write is lost: each got its own log index, and
      // every index is committed on every node.
      assert.equal(
        new Set(tally.ackedIndexes).size,
        tally.ackedIndexes.length,
        "two acknowledged writes share a log index",
      );
      const maxAcked = Math.max(0, ...tally.ackedIndexes);
      for (const s of statuses) assert.ok(s!.commitIndex >= maxAcked);

      // Final reads: linearizable through a node, and replicas agree.
      for (const key of ["k0", "k1", "k2", "k3", "k4"]) {
        const handle = recorder.invoke("final", { kind: "get", key });
        const response = await fetch(`${nodes[0].url}/kv/${key}`);
        const body = await response.json();
        assert.ok([200, 404].includes(response.status), JSON.stringify(body));
        recorder.ok(handle, response.status === 404 ? null : body.value);
        const replicas = await Promise.all(nodes.map(async (n) => {
          const r = await fetch(`${n.url}/kv/${key}?stale=true`);
          const b = await r.json();
          return r.status === 404 ? null : b.value;
        }));
        assert.ok(
          replicas.every((v) => v === replicas[0]),
          `replicas differ on ${key}: ${JSON.stringify(replicas)}`,
        );
      }

      const operations = recorder.operations();
      const checkStarted = performance.now();
      const result = checkHistory(operations, kvModel, { timeoutMs: 120_000 });
      console.log(
        `checked ${operations.length} operations in ${
          (performance.now() - checkStarted).toFixed(0)
        } ms: ${result.linearizable ? "linearizable" : "NOT linearizable"}`,
      );
      if (!result.linearizable) {
        const file = await Deno.makeTempFile({ prefix: "kv-blackbox-trace-" });
        await Deno.writeTextFile(
          file,
          tally.trace.join("\n") + "\n" + report(),
        );
        console.log(`trace of every request: ${file}`);
      }
      assert.ok(!result.timedOut, "the linearizability check timed out");
      assert.ok(
        result.linearizable,
        `not linearizable on key ${result.key} (seed ${seed}):\n` +
          (result.stuckPrefix ?? []).slice(-30).map(describeOperation).join(
            "\n",
          ),
      );
    } finally {
      // Graceful shutdown: SIGTERM, exit 0 within 5 s.
      const stops = await Promise.all(nodes.map(async (n) => {
        const t0 = performance.now();
        const status = await n.stop(8_000);
        return { id: n.id, code: status?.code, ms: performance.now() - t0 };
      }));
      await Deno.remove(dataRoot, { recursive: true }).catch(() => {});
      console.log(
        `shutdown: ${
          stops.map((s) => `${s.id} ${s.code} in ${s.ms.toFixed(0)} ms`).join(
            ", ",
          )
        }`,
      );
      for (const s of stops) {
        assert.equal(s.code, 0, `${s.id} exit code\n${report()}`);
        assert.ok(s.ms < 5_000, `${s.id} took ${s.ms} ms to stop`);
      }
    }
  },
});
