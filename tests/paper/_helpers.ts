// Helpers shared by the paper-scenario tests: crafted node states, forced
// campaigns, message builders and the invariant checks of Fig. 3.
import assert from "node:assert/strict";
import type {
  CoreCluster,
  RequestOutcome,
} from "../../testing/core_cluster.ts";
import type { RaftError } from "../../kernel/errors.ts";
import {
  type AppendEntries,
  type Message,
  MESSAGE_VERSION,
  type RequestVote,
} from "../../kernel/messages.ts";
import type { LogEntry, NodeId } from "../../kernel/types.ts";

/** The roles that hold leadership of a term. */
export const LEADER_ROLES: ReadonlySet<string> = new Set([
  "PreLeader",
  "Leader",
  "IsolatedLeader",
]);

/** A command that names its slot, so equal (index, term) means equal entry. */
export function commandAt(index: number, term: number): string {
  return `i${index}t${term}`;
}

/** Log entries with the given terms, from index 1. */
export function entriesWithTerms(terms: readonly number[]): LogEntry[] {
  return terms.map((term, i) => ({
    index: i + 1,
    term,
    kind: "command",
    command: commandAt(i + 1, term),
  }));
}

/**
 * Crashes `id`, replaces what it persisted with a log of `terms` and the
 * hard state `(term, votedFor)`, and restarts it from there.
 */
export function craftNode(
  cluster: CoreCluster,
  id: NodeId,
  terms: readonly number[],
  term: number,
  votedFor: NodeId | null = null,
): void {
  cluster.crash(id);
  const durable = cluster.durable(id);
  durable.hardState = { term, votedFor };
  durable.entries = entriesWithTerms(terms);
  cluster.restart(id);
}

/** The terms of the entries in `id`'s in-memory log. */
export function logTerms(cluster: CoreCluster, id: NodeId): number[] {
  const log = cluster.core(id).log;
  return log.slice(log.firstIndex, log.lastIndex + 1).map((e) => e.term);
}

/** The terms of the entries `id` has persisted. */
export function durableTerms(cluster: CoreCluster, id: NodeId): number[] {
  return cluster.durable(id).entries.map((e) => e.term);
}

/**
 * Makes `id` campaign at once, as etcd's tests do with MsgHup: a TimeoutNow
 * in its current term starts a real election (no PreVote, leases ignored).
 */
export function campaign(cluster: CoreCluster, id: NodeId): void {
  const from = cluster.ids.find((other) => other !== id)!;
  cluster.deliver({
    v: MESSAGE_VERSION,
    type: "timeoutNow",
    term: cluster.core(id).term,
    from,
    to: id,
  });
}

/** A RequestVote as `from` would send it. */
export function voteRequest(
  from: NodeId,
  to: NodeId,
  fields: Partial<Omit<RequestVote, "type" | "v" | "from" | "to">> = {},
): RequestVote {
  return {
    v: MESSAGE_VERSION,
    type: "vote",
    from,
    to,
    term: 1,
    lastLogIndex: 0,
    lastLogTerm: 0,
    preVote: false,
    transfer: false,
    ...fields,
  };
}

/** An AppendEntries as a (possibly fake) leader `from` would send it. */
export function appendEntries(
  from: NodeId,
  to: NodeId,
  fields: Partial<Omit<AppendEntries, "type" | "v" | "from" | "to">> = {},
): AppendEntries {
  return {
    v: MESSAGE_VERSION,
    type: "append",
    from,
    to,
    term: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [],
    leaderCommit: 0,
    seq: 0,
    ...fields,
  };
}

/** Which nodes held a leader role in each term, from the role log. */
export function leadersByTerm(cluster: CoreCluster): Map<number, Set<NodeId>> {
  const byTerm = new Map<number, Set<NodeId>>();
  for (const change of cluster.roleChanges) {
    if (!LEADER_ROLES.has(change.to)) continue;
    let ids = byTerm.get(change.term);
    if (!ids) byTerm.set(change.term, ids = new Set());
    ids.add(change.id);
  }
  return byTerm;
}

/** §5.2 Election Safety: at most one leader per term, ever. */
export function assertElectionSafety(cluster: CoreCluster): void {
  for (const [term, ids] of leadersByTerm(cluster)) {
    assert.ok(
      ids.size <= 1,
      `election safety: term ${term} had leaders ${[...ids].join(", ")}`,
    );
  }
}

/**
 * §5.3 Log Matching: if two logs hold an entry with the same index and
 * term, they are identical up to that index.
 */
export function assertLogMatching(cluster: CoreCluster): void {
  const ids = cluster.ids;
  for (let x = 0; x < ids.length; x++) {
    for (let y = x + 1; y < ids.length; y++) {
      const a = cluster.core(ids[x]).log;
      const b = cluster.core(ids[y]).log;
      let i = Math.min(a.lastIndex, b.lastIndex);
      while (i > 0 && a.termAt(i) !== b.termAt(i)) i--;
      assert.deepEqual(
        a.slice(1, i + 1),
        b.slice(1, i + 1),
        `log matching: ${ids[x]} and ${
          ids[y]
        } agree on index ${i} but differ before`,
      );
    }
  }
}

/** §5.4.3 State Machine Safety: applied sequences are prefixes of each other. */
export function assertStateMachineSafety(cluster: CoreCluster): void {
  const longest = cluster.ids.map((id) => cluster.applied(id)).reduce((
    a,
    b,
  ) => (a.length >= b.length ? a : b));
  for (const id of cluster.ids) {
    const applied = cluster.applied(id);
    assert.deepEqual(
      applied,
      longest.slice(0, applied.length),
      `state machine safety: ${id} applied a different entry`,
    );
  }
}

/** The error of a failed request (fails the test otherwise). */
export function failure(outcome: RequestOutcome): RaftError {
  assert.equal(
    outcome.status,
    "failed",
    `expected a failure, got ${outcome.status}`,
  );
  return (outcome as { error: RaftError }).error;
}

/** Messages of `type` in `list`, narrowed. */
export function ofType<T extends Message["type"]>(
  list: readonly Message[],
  type: T,
): Extract<Message, { type: T }>[] {
  return list.filter((m): m is Extract<Message, { type: T }> =>
    m.type === type
  );
}

/**
 * The seed to replay from the environment (`RAFT_SEED=n`), if any. Every
 * randomized test prints the failing seed in its assertion message.
 */
export function replaySeed(): number | undefined {
  try {
    const text = Deno.env.get("RAFT_SEED");
    return text === undefined ? undefined : Number(text);
  } catch {
    return undefined; // no --allow-env: run every seed
  }
}

/** Runs `check(seed)` for each seed (or only the replayed one), naming it on failure. */
export function forEachSeed(
  seeds: number,
  check: (seed: number) => void,
  first = 1,
): void {
  const only = replaySeed();
  const list = only === undefined
    ? Array.from({ length: seeds }, (_, i) => first + i)
    : [only];
  for (const seed of list) {
    try {
      check(seed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `seed ${seed} failed (replay: RAFT_SEED=${seed} deno test -A <this file>): ${message}`,
        { cause: error },
      );
    }
  }
}
