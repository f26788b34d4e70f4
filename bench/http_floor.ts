/**
 * `deno task bench:floor`: what Deno itself allows for a replicated write on
 * this machine, with no Raft at all, so the numbers of `bench:http` and of
 * the etcd side-by-side can be read against a floor.
 *
 * Three processes on loopback, each with a file-backed Deno KV. One is the
 * "leader": `PUT /kv/:key` commits the value to its own KV while it POSTs it
 * to the two others, which commit it to theirs and answer; the PUT answers
 * 200 `{"index"}` after the local commit and one of the two. Writes that
 * arrive while a POST to a peer is in flight go together in the next one
 * (one request in flight per peer, as in transports/http.ts), and the same
 * holds for the local commits: group commit. With `--spread`, client i
 * talks to process i mod 3 and the two others relay its PUT to the leader
 * over HTTP (one hop, batched the same way), as the shared loadgen's
 * `http-kv` mode spreads its clients. No signatures, no validation, no
 * log, no state machine: every real system does more per write.
 *
 * ```sh
 * deno task bench:floor                       # points 1,16,64,256, 4 s each
 * deno task bench:floor --points 1,64 --spread
 * deno task bench:floor --serve-only          # prints 3 URLs; runs until killed
 * ```
 * (`--serve-only` is what bench/etcd_side_by_side.sh drives with loadgen.)
 * Every loop is bounded in count and time; every process is stopped by pid.
 * @module
 */
import { parseArgs } from "node:util";
import { freePorts } from "../examples/_kv_process.ts";
import { fmt, printTable } from "./_harness.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    role: { type: "string" },
    port: { type: "string" },
    data: { type: "string" },
    peer: { type: "string", multiple: true, default: [] },
    points: { type: "string", default: "1,16,64,256" },
    seconds: { type: "string", default: "4" },
    spread: { type: "boolean", default: false },
    "serve-only": { type: "boolean", default: false },
  },
});

/** Sends batches to one URL, one request in flight; settles each item. */
function batcher<T>(
  post: (items: T[]) => Promise<unknown[]>,
): (item: T) => Promise<unknown> {
  type Waiting = {
    item: T;
    done: (answer: unknown) => void;
    fail: (error: unknown) => void;
  };
  let queue: Waiting[] = [];
  let busy = false;
  async function pump() {
    busy = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        const answers = await post(batch.map((q) => q.item));
        batch.forEach((q, i) => q.done(answers[i]));
      } catch (error) {
        for (const q of batch) q.fail(error);
      }
    }
    busy = false;
  }
  return (item) =>
    new Promise((done, fail) => {
      queue.push({ item, done, fail });
      if (!busy) pump();
    });
}

async function postJson(url: string, body: unknown): Promise<unknown[]> {
  const response = await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return await response.json();
}

async function serveRole(): Promise<void> {
  const kv = await Deno.openKv(`${values.data}/floor.kv`);
  let index = 0;
  const persist = async (values: string[]) => {
    index += values.length;
    await kv.atomic().set(["log", index], values).set(["last"], index)
      .commit();
    return values.map(() => index);
  };
  const port = Number(values.port);
  const serve = (handler: (request: Request) => Promise<Response>) =>
    Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
  if (values.role === "follower") {
    // A replica: commit the batch, answer; or relay client PUTs.
    const relay = batcher<string>((items) =>
      postJson(`${values.peer![0]}/relay`, items)
    );
    serve(async (request) => {
      if (request.method !== "PUT") {
        return Response.json(await persist(await request.json()));
      }
      try {
        return Response.json({ index: await relay(await request.text()) });
      } catch {
        return new Response("leader unreachable", { status: 503 });
      }
    });
    return;
  }
  const local = batcher<string>(persist);
  const peers = values.peer!.map((url) =>
    batcher<string>((items) => postJson(`${url}/append`, items))
  );
  const replicate = (value: string) =>
    Promise.all([local(value), Promise.any(peers.map((p) => p(value)))])
      .then(([index]) => index);
  serve(async (request) => {
    try {
      if (request.method === "PUT") {
        return Response.json({ index: await replicate(await request.text()) });
      }
      const relayed: string[] = await request.json();
      return Response.json(await Promise.all(relayed.map(replicate)));
    } catch {
      return new Response("replica unreachable", { status: 503 });
    }
  });
}

async function measure(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "raft-floor-" });
  const ports = freePorts(3);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const children = ports.map((port, i) => {
    const args = [
      "run",
      "-A",
      "--quiet",
      "--unstable-kv",
      import.meta.filename!,
      "--role",
      i === 0 ? "leader" : "follower",
      "--port",
      String(port),
      "--data",
      `${root}/${i}`,
      ...(i === 0 ? urls.slice(1) : [urls[0]]).flatMap((u) => ["--peer", u]),
    ];
    Deno.mkdirSync(`${root}/${i}`);
    // stdin stays open while this process lives: a child exits at its EOF,
    // so none outlives its parent, however the parent ends.
    return new Deno.Command(Deno.execPath(), { args, stdin: "piped" }).spawn();
  });
  try {
    await waitForPut(urls, 30_000);
    if (values["serve-only"]) {
      console.log(urls.join(","));
      await new Promise<void>((resolve) => {
        for (const signal of ["SIGTERM", "SIGINT"] as const) {
          Deno.addSignalListener(signal, resolve);
        }
        Promise.any(children.map((c) => c.status)).then(() => resolve());
      });
      return;
    }
    const rows: string[][] = [];
    for (const clients of values.points.split(",").map(Number)) {
      const r = await load(urls, clients, Number(values.seconds));
      rows.push([
        String(clients),
        fmt(r.ok / r.seconds),
        r.p50.toFixed(2),
        r.p99.toFixed(2),
      ]);
    }
    console.log(
      `platform floor (no Raft; ${
        values.spread ? "clients on all 3, relayed" : "clients on the leader"
      })`,
    );
    printTable(["clients", "writes/s", "p50 ms", "p99 ms"], rows);
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await Promise.all(children.map((c) => c.status));
    await Deno.remove(root, { recursive: true });
  }
}

async function waitForPut(urls: string[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await Promise.all(urls.map(async (url) => {
      try {
        const r = await fetch(`${url}/kv/ready`, { method: "PUT", body: "x" });
        await r.body?.cancel();
        return r.ok;
      } catch {
        return false;
      }
    }));
    if (ok.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Cannot reach the floor processes within ${timeoutMs} ms`);
}

async function load(urls: string[], clients: number, seconds: number) {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let issued = 0;
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    const url = values.spread ? urls[i % 3] : urls[0];
    while (performance.now() < end && issued++ < 5_000_000) {
      const t0 = performance.now();
      const response = await fetch(`${url}/kv/k${i}`, {
        method: "PUT",
        body: "v".repeat(100),
      });
      await response.arrayBuffer();
      if (response.ok) latencies.push(performance.now() - t0);
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    ok: latencies.length,
    seconds: (performance.now() - start) / 1000,
    p50: at(0.5),
    p99: at(0.99),
  };
}

if (values.role) {
  await serveRole();
  // Ends with the parent: its end of stdin closes.
  for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
  Deno.exit(0);
}
await measure();
