// Runs examples/kv_node.ts as a child process: used by examples/cluster.ts,
// the black-box tests and the HTTP benchmark. Every process is started and
// stopped by its own handle (its pid), never by name.

const KV_NODE = new URL("./kv_node.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Picks `count` distinct free loopback ports (bound at once, then freed). */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** How to start one node process. */
export interface NodeProcessOptions {
  readonly id: string;
  readonly port: number;
  /** Every member's base URL, this one included. */
  readonly peers: Readonly<Record<string, string>>;
  /** Data directory; omitted: state in memory. */
  readonly dataDir?: string;
  readonly secret: string;
  readonly electionMs?: number;
  readonly heartbeatMs?: number;
  readonly deadlineMs?: number;
  /** More kv_node flags, e.g. `["--isolation-ms", "600"]`. */
  readonly extraArgs?: readonly string[];
  /** Receives each output line of the process (default: kept only). */
  readonly onLine?: (line: string) => void;
}

/** One running (or exited) node process. */
export class NodeProcess {
  readonly id: string;
  readonly url: string;
  readonly options: NodeProcessOptions;
  /** The last lines the process printed, for failure reports. */
  readonly lines: string[] = [];
  #child: Deno.ChildProcess | null = null;
  #status: Promise<Deno.CommandStatus> | null = null;
  #pipes: Promise<void>[] = [];

  constructor(options: NodeProcessOptions) {
    this.options = options;
    this.id = options.id;
    this.url = `http://127.0.0.1:${options.port}`;
  }

  /** The pid of the running process. */
  get pid(): number {
    if (!this.#child) throw new Error(`Cannot get the pid of ${this.id}`);
    return this.#child.pid;
  }

  /** Whether a process was started and has not exited yet. */
  running = false;

  /** Spawns the process (again, after it exited: same data, same port). */
  start(): void {
    if (this.running) throw new Error(`Cannot start ${this.id} twice`);
    const o = this.options;
    const args = [
      "run",
      "-A",
      "--quiet",
      "--config",
      CONFIG,
      KV_NODE,
      "--id",
      o.id,
      "--listen",
      `127.0.0.1:${o.port}`,
      "--peers",
      Object.entries(o.peers).map(([id, url]) => `${id}=${url}`).join(","),
    ];
    if (o.dataDir) args.push("--data", o.dataDir);
    if (o.electionMs) args.push("--election-ms", String(o.electionMs));
    if (o.heartbeatMs) args.push("--heartbeat-ms", String(o.heartbeatMs));
    if (o.deadlineMs) args.push("--deadline-ms", String(o.deadlineMs));
    args.push(...o.extraArgs ?? []);
    const child = new Deno.Command(Deno.execPath(), {
      args,
      env: { RAFT_SECRET: o.secret, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.running = true;
    this.#pipes = [child.stdout, child.stderr].map((s) => this.#collect(s));
    this.#status = child.status.then(async (status) => {
      this.running = false;
      await Promise.all(this.#pipes);
      return status;
    });
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let rest = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const parts = (rest + value).split("\n");
        rest = parts.pop()!;
        for (const line of parts) this.#line(line);
      }
    } catch {
      // The process died mid-line; what was read is kept.
    }
    if (rest) this.#line(rest);
  }

  #line(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 300) this.lines.shift();
    this.options.onLine?.(line);
  }

  /** Sends `signal` to the process if it runs. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (!this.running || !this.#child) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Settles with the exit status once the process ended. */
  exited(): Promise<Deno.CommandStatus> {
    if (!this.#status) {
      throw new Error(`Cannot wait for ${this.id}: not started`);
    }
    return this.#status;
  }

  /** Polls `/status` until it answers (or throws after `timeoutMs`). */
  async waitReady(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (!this.running) {
        throw new Error(
          `Cannot reach ${this.id}: it exited\n${this.lines.join("\n")}`,
        );
      }
      try {
        const response = await fetch(`${this.url}/status`, {
          signal: AbortSignal.timeout(1000),
        });
        if (response.ok) return await response.json();
        await response.body?.cancel();
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Cannot reach ${this.id} within ${timeoutMs} ms`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; settles with the exit status. */
  async stop(graceMs = 6000): Promise<Deno.CommandStatus | null> {
    if (!this.#status) return null;
    this.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, graceMs);
    });
    const status = await Promise.race([
      this.#status,
      killed.then(() => this.#status!),
    ]);
    clearTimeout(timer);
    return status;
  }
}

/** Status of a node as `GET /status` reports it. */
export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  leaderId: string | null;
  commitIndex: number;
  lastApplied: number;
}

/** `GET /status` of `url`, or `null` when it does not answer. */
export async function statusOf(
  url: string,
  timeoutMs = 1000,
): Promise<NodeStatus | null> {
  try {
    const response = await fetch(`${url}/status`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return null;
    }
    return await response.json() as NodeStatus;
  } catch {
    return null;
  }
}

/** Starts `ids.length` nodes on free ports; `dataRoot` null: in memory. */
export function startNodeProcesses(
  ids: string[],
  options: {
    dataRoot: string | null;
    secret: string;
    electionMs?: number;
    heartbeatMs?: number;
    deadlineMs?: number;
    extraArgs?: readonly string[];
    onLine?: (id: string, line: string) => void;
  },
): NodeProcess[] {
  const ports = freePorts(ids.length);
  const peers = Object.fromEntries(
    ids.map((id, i) => [id, `http://127.0.0.1:${ports[i]}`]),
  );
  return ids.map((id, i) => {
    const p = new NodeProcess({
      id,
      port: ports[i],
      peers,
      dataDir: options.dataRoot === null
        ? undefined
        : `${options.dataRoot}/${id}`,
      secret: options.secret,
      electionMs: options.electionMs,
      heartbeatMs: options.heartbeatMs,
      deadlineMs: options.deadlineMs,
      extraArgs: options.extraArgs,
      onLine: options.onLine && ((line) => options.onLine!(id, line)),
    });
    p.start();
    return p;
  });
}

/** Waits until every answering node agrees on one leader; returns its id. */
export async function waitForLeader(
  nodes: readonly NodeProcess[],
  timeoutMs = 30_000,
): Promise<NodeProcess> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const live = nodes.filter((n) => n.running);
    const statuses = await Promise.all(live.map((n) => statusOf(n.url)));
    const leaders = statuses.filter((s) => s?.role === "Leader");
    if (
      leaders.length === 1 &&
      statuses.every((s) => s !== null && s.leaderId === leaders[0]!.id)
    ) {
      return live.find((n) => n.id === leaders[0]!.id)!;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Cannot see one agreed leader within ${timeoutMs} ms`);
}
