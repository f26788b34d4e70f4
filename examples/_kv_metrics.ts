// Prometheus metrics of a KV node: Raft progress (commits, elections, role
// changes, role, term) from node events, request counts and latency
// histograms from the client API, and transport counters. Rendered in the
// Prometheus text exposition format (version 0.0.4).
import type { RaftNode } from "../kernel/node.ts";
import { ROLE_NAMES } from "../kernel/behavior.ts";
import type { HttpTransportStats } from "../transports/http.ts";

const BUCKETS_S = [
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

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** Counters and histograms of one KV node. */
export class KvMetrics {
  #committed = 0;
  #lastCommit = 0;
  #roleChanges = 0;
  #elections = 0;
  #leaderships = 0;
  #requests = new Map<string, number>();
  #latency = new Map<string, Histogram>();
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
    let h = this.#latency.get(op);
    if (!h) {
      h = { counts: BUCKETS_S.map(() => 0), sum: 0, count: 0 };
      this.#latency.set(op, h);
    }
    for (let i = 0; i < BUCKETS_S.length; i++) {
      if (seconds <= BUCKETS_S[i]) h.counts[i]++;
    }
    h.sum += seconds;
    h.count++;
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
    const histogram: [string, number][] = [];
    for (const [op, h] of this.#latency) {
      BUCKETS_S.forEach((le, i) =>
        histogram.push([`op="${op}",le="${le}"`, h.counts[i]])
      );
      histogram.push([`op="${op}",le="+Inf"`, h.count]);
    }
    lines.push(
      "# HELP kv_request_duration_seconds Client request latency.",
      "# TYPE kv_request_duration_seconds histogram",
    );
    for (const [labels, value] of histogram) {
      lines.push(`kv_request_duration_seconds_bucket{${labels}} ${value}`);
    }
    for (const [op, h] of this.#latency) {
      lines.push(`kv_request_duration_seconds_sum{op="${op}"} ${h.sum}`);
      lines.push(`kv_request_duration_seconds_count{op="${op}"} ${h.count}`);
    }
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
