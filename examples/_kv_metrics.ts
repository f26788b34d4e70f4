// Prometheus metrics of a KV node: Raft progress (commits, elections, role
// changes, role, term) from node events, request counts and latency
// histograms from the client API, storage write and peer round-trip
// histograms, and transport counters. Rendered in the Prometheus text
// exposition format (version 0.0.4).
import type { RaftNode } from "../kernel/node.ts";
import { ROLE_NAMES } from "../kernel/behavior.ts";
import type { Storage } from "../storage/storage.ts";
import type { HttpTransportStats } from "../transports/http.ts";

/** Upper bounds (seconds) of client request latency buckets. */
const REQUEST_BUCKETS_S = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  1.5,
  2.5,
  5,
];

/** Finer buckets for a storage write or a peer round trip (an fsync or two). */
const IO_BUCKETS_S = [
  0.0001,
  0.00025,
  0.0005,
  ...REQUEST_BUCKETS_S.filter((le) => le <= 1),
];

/** A label value as the text format wants it: `\`, `"` and newline escaped. */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** One Prometheus histogram family, one series per label value. */
class Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #label: string;
  readonly #buckets: readonly number[];
  readonly #series = new Map<
    string,
    { counts: number[]; sum: number; count: number }
  >();

  constructor(
    name: string,
    help: string,
    label: string,
    buckets: readonly number[],
  ) {
    this.#name = name;
    this.#help = help;
    this.#label = label;
    this.#buckets = buckets;
  }

  observe(labelValue: string, seconds: number): void {
    let h = this.#series.get(labelValue);
    if (!h) {
      h = { counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(labelValue, h);
    }
    for (let i = 0; i < this.#buckets.length; i++) {
      if (seconds <= this.#buckets[i]) h.counts[i]++;
    }
    h.sum += seconds;
    h.count++;
  }

  render(lines: string[]): void {
    const name = this.#name;
    lines.push(`# HELP ${name} ${this.#help}`, `# TYPE ${name} histogram`);
    for (const [value, h] of this.#series) {
      const label = `${this.#label}="${escapeLabel(value)}"`;
      this.#buckets.forEach((le, i) =>
        lines.push(`${name}_bucket{${label},le="${le}"} ${h.counts[i]}`)
      );
      lines.push(`${name}_bucket{${label},le="+Inf"} ${h.count}`);
      lines.push(`${name}_sum{${label}} ${h.sum}`);
      lines.push(`${name}_count{${label}} ${h.count}`);
    }
  }
}

/**
 * `storage` with the duration of every write reported to `observe` (in
 * seconds, by method name, failed calls too); reads and `close` pass
 * through, and errors are rethrown unchanged.
 */
export function timedStorage(
  storage: Storage,
  observe: (method: string, seconds: number) => void,
): Storage {
  const timed = async (method: string, write: () => Promise<void>) => {
    const started = performance.now();
    try {
      await write();
    } finally {
      observe(method, (performance.now() - started) / 1000);
    }
  };
  return {
    load: () => storage.load(),
    entries: (from, to) => storage.entries(from, to),
    lastIndex: () => storage.lastIndex(),
    loadSnapshot: () => storage.loadSnapshot(),
    saveHardState: (state) =>
      timed("saveHardState", () => storage.saveHardState(state)),
    append: (entries) => timed("append", () => storage.append(entries)),
    truncateSuffix: (from) =>
      timed("truncateSuffix", () => storage.truncateSuffix(from)),
    saveSnapshot: (snapshot) =>
      timed("saveSnapshot", () => storage.saveSnapshot(snapshot)),
    compactPrefix: (upTo) =>
      timed("compactPrefix", () => storage.compactPrefix(upTo)),
    close: storage.close ? () => storage.close!() : undefined,
  };
}

/** Counters and histograms of one KV node. */
export class KvMetrics {
  #committed = 0;
  #lastCommit = 0;
  #roleChanges = 0;
  #elections = 0;
  #leaderships = 0;
  #requests = new Map<string, number>();
  readonly #latency = new Histogram(
    "kv_request_duration_seconds",
    "Client request latency.",
    "op",
    REQUEST_BUCKETS_S,
  );
  readonly #storageWrites = new Histogram(
    "raft_storage_write_duration_seconds",
    "Storage writes (append, saveHardState, ...) from call to durable.",
    "method",
    IO_BUCKETS_S,
  );
  readonly #roundTrips = new Histogram(
    "raft_transport_round_trip_seconds",
    "Peer requests from sending to handling the answers in the response (an AppendEntries includes the peer's write).",
    "peer",
    IO_BUCKETS_S,
  );
  #node: RaftNode<unknown> | null = null;
  #transport: HttpTransportStats | null = null;
  #unsubscribe: (() => void)[] = [];

  /** Follows `node`'s events and reads `transport`'s counters. */
  observe(node: RaftNode<unknown>, transport?: HttpTransportStats): void {
    this.#node = node;
    this.#transport = transport ?? null;
    this.#lastCommit = node.commitIndex;
    this.#unsubscribe.push(
      node.on("commit", (e) => {
        if (e.commitIndex > this.#lastCommit) {
          this.#committed += e.commitIndex - this.#lastCommit;
          this.#lastCommit = e.commitIndex;
        }
      }),
      node.on("roleChange", (e) => {
        this.#roleChanges++;
        if (e.to === "Candidate") this.#elections++;
        if (e.to === "Leader") this.#leaderships++;
      }),
    );
  }

  /** Stops following node events. */
  close(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
  }

  /** Records one answered client request. */
  request(op: string, status: number, seconds: number): void {
    const key = `op="${op}",code="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    this.#latency.observe(op, seconds);
  }

  /** Records one storage write (see {@linkcode timedStorage}). */
  storageWrite(method: string, seconds: number): void {
    this.#storageWrites.observe(method, seconds);
  }

  /** Records one peer request's round trip (transport `onRoundTrip`). */
  roundTrip(peer: string, seconds: number): void {
    this.#roundTrips.observe(peer, seconds);
  }

  /** The metrics in Prometheus text format. */
  render(): string {
    const lines: string[] = [];
    const metric = (
      name: string,
      type: "counter" | "gauge" | "histogram",
      help: string,
      samples: [string, number][],
    ) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        lines.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
      }
    };
    const node = this.#node;
    if (node) {
      metric("raft_term", "gauge", "Current term.", [["", node.term]]);
      metric("raft_commit_index", "gauge", "Highest index known committed.", [[
        "",
        node.commitIndex,
      ]]);
      metric("raft_last_applied", "gauge", "Highest index applied.", [[
        "",
        node.lastApplied,
      ]]);
      metric(
        "raft_role",
        "gauge",
        "1 for the role this node is in, 0 for the others.",
        ROLE_NAMES.map((r) => [`role="${r}"`, node.role === r ? 1 : 0]),
      );
    }
    metric(
      "raft_committed_entries_total",
      "counter",
      "Entries this node saw committed since it started.",
      [["", this.#committed]],
    );
    metric(
      "raft_role_changes_total",
      "counter",
      "Role changes since start.",
      [["", this.#roleChanges]],
    );
    metric(
      "raft_elections_total",
      "counter",
      "Elections this node started (became Candidate).",
      [["", this.#elections]],
    );
    metric(
      "raft_leaderships_total",
      "counter",
      "Times this node became Leader.",
      [["", this.#leaderships]],
    );
    metric(
      "kv_requests_total",
      "counter",
      "Client requests answered, by operation and status code.",
      [...this.#requests],
    );
    this.#latency.render(lines);
    this.#storageWrites.render(lines);
    this.#roundTrips.render(lines);
    const t = this.#transport;
    if (t) {
      metric(
        "raft_transport_sent_messages_total",
        "counter",
        "Peer messages delivered.",
        [["", t.sentMessages]],
      );
      metric(
        "raft_transport_sent_requests_total",
        "counter",
        "Peer requests sent.",
        [["", t.sentRequests]],
      );
      metric(
        "raft_transport_failed_requests_total",
        "counter",
        "Peer requests that failed.",
        [["", t.failedRequests]],
      );
      metric(
        "raft_transport_dropped_messages_total",
        "counter",
        "Peer messages lost.",
        [["", t.droppedMessages]],
      );
      metric(
        "raft_transport_received_messages_total",
        "counter",
        "Peer messages received.",
        [["", t.receivedMessages]],
      );
      metric(
        "raft_transport_rejected_requests_total",
        "counter",
        "Peer requests refused, by status code.",
        Object.entries(t.rejectedRequests).map((
          [code, n],
        ) => [`code="${code}"`, n]),
      );
    }
    return lines.join("\n") + "\n";
  }
}
