import assert from "node:assert/strict";

const CHILD = new URL("./_crash_child.ts", import.meta.url).pathname;

function child(mode: string, dir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", CHILD, mode, dir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

Deno.test({
  name:
    "every acknowledged write survives SIGKILL of a 3-node process on KvStorage, and logs match after restart",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "raft-crash-" });
    try {
      const acked = new Map<number, { index: number; term: number }>();
      const writer = child("write", dir);
      const reader = writer.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let buffer = "";
      const started = Date.now();
      // Kill mid-load: after at least 1,500 acks (several snapshots) or 20 s.
      while (acked.size < 1_500 && Date.now() - started < 20_000) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const line of lines) {
          const [tag, n, index, term] = line.split(" ");
          if (tag === "ack") {
            acked.set(Number(n), { index: Number(index), term: Number(term) });
          }
        }
      }
      writer.kill("SIGKILL");
      await writer.status;
      reader.releaseLock();
      await writer.stdout.cancel().catch(() => {});
      assert.ok(acked.size >= 100, `only ${acked.size} writes acknowledged`);

      const verifier = child("verify", dir);
      const { stdout, success } = await verifier.output();
      assert.ok(success, "the restarted cluster did not recover");
      const report = JSON.parse(new TextDecoder().decode(stdout).trim()) as {
        nodes: Record<string, { index: number; command: { n: number } }[]>;
      };
      const logs = Object.values(report.nodes);
      // State machine safety: every node applied the same commands in order.
      for (const log of logs) assert.deepEqual(log, logs[0]);
      const byIndex = new Map(logs[0].map((e) => [e.index, e.command.n]));
      for (const [n, { index }] of acked) {
        assert.equal(byIndex.get(index), n, `acknowledged write ${n} lost`);
      }
      console.log(
        `acked ${acked.size} writes before SIGKILL; ${
          logs[0].length
        } entries recovered on every node`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
