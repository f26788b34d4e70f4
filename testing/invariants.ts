/**
 * The safety properties of Raft (§5.2–§5.4, Figure 3 of the paper) as an
 * incremental checker a harness feeds after every step. Each hook does work
 * proportional to what changed, so checking every step stays cheap.
 *
 * A broken property throws {@linkcode InvariantViolation} naming it.
 *
 * @example
 * ```ts
 * import { InvariantChecker } from "./invariants.ts";
 * import { RaftLog } from "../kernel/log.ts";
 * const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
 * const log = new RaftLog();
 * log.appendOwn(1, "noop", null);
 * checker.observe({ id: "a", role: "Leader", term: 1, commitIndex: 0, log });
 * try {
 *   checker.observe({ id: "b", role: "Leader", term: 1, commitIndex: 0, log });
 * } catch (e) {
 *   console.log((e as Error).message); // Election Safety: ...
 * }
 * ```
 * @module
 */
import type { LogView } from "../kernel/log.ts";
import type { HardState, LogEntry, NodeId } from "../kernel/types.ts";
import { type Changed, DurableLogs } from "./_sim_durable.ts";
import { entryContent, EntryRegistry } from "./_sim_entries.ts";
import { LeaderWatch } from "./_sim_leaders.ts";
import { type InvariantName, InvariantViolation } from "./_sim_violation.ts";

export { type InvariantName, InvariantViolation } from "./_sim_violation.ts";

/** What the checker reads of a live node after a step. */
export interface NodeView {
  /** The node. */
  readonly id: NodeId;
  /** Its role name. */
  readonly role: string;
  /** Its current term. */
  readonly term: number;
  /** Its commit index. */
  readonly commitIndex: number;
  /** Its in-memory log. */
  readonly log: LogView;
  /**
   * The role's own state. When it has leader trackers (a `trackers` map of
   * objects with a `matchIndex`), their match indexes are checked.
   */
  readonly roleState?: unknown;
}

/** Options of {@linkcode InvariantChecker}. */
export interface InvariantCheckerOptions {
  /** Voting members: quorums are counted among them. */
  readonly voters: readonly NodeId[];
  /** Roles that hold leadership (default PreLeader, Leader, IsolatedLeader). */
  readonly leaderRoles?: readonly string[];
}

interface Committed {
  readonly term: number;
  readonly content: string;
  /** Lowest term in which a node was seen to hold it committed. */
  commitTerm: number;
}

/**
 * Checks Raft's safety properties incrementally. Feed it every change:
 * `observe` after each step, `appended` for entries a node queues to its
 * log, `durable*` for what reaches storage, `voteGranted`, `applied`,
 * `acknowledged`, and `restarted` when a node comes back from a crash.
 *
 * @example
 * ```ts
 * import { InvariantChecker } from "./invariants.ts";
 * const checker = new InvariantChecker({ voters: ["a", "b", "c"] });
 * checker.voteGranted("a", 2, "b");
 * try {
 *   checker.voteGranted("a", 2, "c");
 * } catch (e) {
 *   console.log((e as Error).message); // Vote Safety: ...
 * }
 * ```
 */
export class InvariantChecker {
  readonly #voters: readonly NodeId[];
  readonly #majority: number;
  readonly #leaderRoles: ReadonlySet<string>;
  readonly #leaders = new LeaderWatch();
  readonly #votes = new Map<string, NodeId>();
  readonly #entries = new EntryRegistry();
  readonly #committed: (Committed | undefined)[] = [];
  readonly #applied: (string | undefined)[] = [];
  readonly #stored = new DurableLogs();
  readonly #states: (string | undefined)[] = [];
  readonly #commitSeen = new Map<NodeId, number>();
  readonly #termSeen = new Map<NodeId, number>();
  readonly #views = new Map<NodeId, NodeView>();

  /** Creates a checker for a cluster with the given voters. */
  constructor(options: InvariantCheckerOptions) {
    this.#voters = options.voters;
    this.#majority = Math.floor(options.voters.length / 2) + 1;
    this.#leaderRoles = new Set(
      options.leaderRoles ?? ["PreLeader", "Leader", "IsolatedLeader"],
    );
  }

  /** Highest index seen committed so far. */
  get commitIndex(): number {
    return this.#committed.length - 1 < 0 ? 0 : this.#committed.length - 1;
  }

  /** The committed entry at `index` as `(term, content)`, if known. */
  committedAt(index: number): { term: number; content: string } | undefined {
    return this.#committed[index];
  }

  /** Whether `role` is one of the leadership roles. */
  isLeaderRole(role: string): boolean {
    return this.#leaderRoles.has(role);
  }

  /** A node crashed: its volatile state is gone. */
  crashed(id: NodeId): void {
    this.#views.delete(id);
    this.#leaders.notLeading(id);
    this.#commitSeen.delete(id);
    this.#termSeen.delete(id);
  }

  /** Checks a live node after a step (every step, every node). */
  observe(node: NodeView): void {
    const { id, role, term } = node;
    this.#views.set(id, node);
    const lastTerm = this.#termSeen.get(id) ?? 0;
    if (term < lastTerm) {
      this.#fail(
        "Election Safety",
        `${id} went back from term ${lastTerm} to ${term}`,
      );
    }
    this.#termSeen.set(id, term);
    if (this.#leaderRoles.has(role)) this.#observeLeader(node);
    else this.#leaders.notLeading(id);
    this.#observeCommit(node);
  }

  /**
   * A node queued `entries` (consecutive, as in a Ready) to its log, which
   * now holds them. Every `(index, term)` must always name the same command
   * after the same previous term: by induction, logs that share an entry
   * share the whole prefix before it (Log Matching, §5.3).
   */
  appended(id: NodeId, entries: readonly LogEntry[], log: LogView): void {
    this.#entries.appended(id, entries, log);
  }

  /**
   * Storage of `id` replaced its log from `entries[0].index` with `entries`.
   * A committed entry must stay durable on a majority of voters (§5.4:
   * commit means stored on a majority; with durable storage that is what
   * survives a crash), so no write may remove one from that majority.
   */
  durableEntries(id: NodeId, entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const last = this.#stored.lastIndex(id);
    if (entries[0].index > last + 1) {
      this.#fail(
        "Storage Contract",
        `${id} wrote from ${entries[0].index} but its storage ends at ${last}`,
      );
    }
    this.#recheck(this.#stored.append(id, entries), `${id} overwrote its log`);
  }

  /** Storage of `id` dropped its entries from `from` on. */
  durableTruncate(id: NodeId, from: number): void {
    this.#recheck(
      this.#stored.truncate(id, from),
      `${id} truncated its log`,
    );
  }

  /**
   * Storage of `id` saved a snapshot covering the log up to `index`, whose
   * entry has `term`. A snapshot holds applied, hence committed, state.
   */
  durableSnapshot(id: NodeId, index: number, term: number): void {
    const committed = this.#committed[index];
    if (index > 0 && committed?.term !== term) {
      this.#fail(
        "State Machine Safety",
        `${id} stored a snapshot at (${index}, t${term}) but t${committed?.term} is committed there`,
      );
    }
    this.#recheck(
      this.#stored.snapshot(id, index, term),
      `${id} stored an older snapshot`,
    );
  }

  /** Storage of `id` dropped its entries up to `upTo`. */
  durableCompact(id: NodeId, upTo: number): void {
    this.#recheck(this.#stored.compact(id, upTo), `${id} compacted its log`);
  }

  /** Storage of `id` now holds `hardState`; a stored vote counts as cast. */
  durableHardState(id: NodeId, hardState: HardState): void {
    if (hardState.votedFor !== null) {
      this.voteGranted(id, hardState.term, hardState.votedFor);
    }
  }

  /** `voter` granted its vote in `term` to `candidate` (§5.2: one per term). */
  voteGranted(voter: NodeId, term: number, candidate: NodeId): void {
    const key = `${term}:${voter}`;
    const before = this.#votes.get(key);
    if (before === undefined) this.#votes.set(key, candidate);
    else if (before !== candidate) {
      this.#fail(
        "Vote Safety",
        `${voter} voted for ${before} and for ${candidate} in term ${term}`,
      );
    }
  }

  /** `id` applied `entry` to its state machine (State Machine Safety, §5.4.3). */
  applied(id: NodeId, entry: LogEntry): void {
    const content = `${entry.term}/${entryContent(entry)}`;
    const committed = this.#committed[entry.index];
    if (!committed || committed.term !== entry.term) {
      this.#fail(
        "State Machine Safety",
        `${id} applied (${entry.index}, t${entry.term}) but t${committed?.term} is committed there`,
      );
    }
    const other = this.#applied[entry.index];
    if (other === undefined) this.#applied[entry.index] = content;
    else if (other !== content) {
      this.#fail(
        "State Machine Safety",
        `${id} applied ${content} at ${entry.index}, another node applied ${other}`,
      );
    }
  }

  /**
   * `id`'s state machine, having applied (or restored) everything up to
   * `index`, is in a state summarized by `fingerprint`. Every node must be
   * in the same state at the same index (State Machine Safety, §5.4.3),
   * also after restoring a snapshot.
   */
  stateAt(id: NodeId, index: number, fingerprint: string): void {
    const other = this.#states[index];
    if (other === undefined) this.#states[index] = fingerprint;
    else if (other !== fingerprint) {
      this.#fail(
        "State Machine Safety",
        `${id}'s state after ${index} is ${fingerprint}, another node's was ${other}`,
      );
    }
  }

  /** A client was told its proposal at `(index, term)` succeeded. */
  acknowledged(index: number, term: number): void {
    const committed = this.#committed[index];
    if (!committed || committed.term !== term) {
      this.#fail(
        "Acknowledged Write Durability",
        `a proposal at (${index}, t${term}) was acknowledged but t${committed?.term} is committed there`,
      );
    }
  }

  #observeLeader(node: NodeView): void {
    if (this.#leaders.observe(node)) {
      // A new leadership: it must hold every entry committed so far in an
      // earlier or equal term (Leader Completeness, §5.4).
      for (let i = 1; i < this.#committed.length; i++) {
        this.#checkLeaderHas(node, i, this.#committed[i]!);
      }
    }
  }

  #observeCommit(node: NodeView): void {
    const { id, commitIndex, log } = node;
    const seen = this.#commitSeen.get(id) ?? log.snapshotIndex;
    if (commitIndex < seen) {
      this.#fail(
        "Commit Monotonicity",
        `${id}'s commit index went back from ${seen} to ${commitIndex}`,
      );
    }
    this.#commitSeen.set(id, commitIndex);
    let newest = 0;
    for (let index = seen + 1; index <= commitIndex; index++) {
      const entry = log.entry(index);
      if (entry) {
        if (this.#commit(node, entry)) newest = index;
      } else if (index === log.snapshotIndex) {
        // Committed by installing a snapshot: it must be of the committed
        // prefix.
        const known = this.#committed[index];
        if (index > 0 && known?.term !== log.snapshotTerm) {
          this.#fail(
            "State Machine Safety",
            `${id} installed a snapshot at (${index}, t${log.snapshotTerm}) but t${known?.term} is committed there`,
          );
        }
      }
    }
    if (newest > 0) this.#checkElectable(newest);
  }

  /**
   * Leader Completeness, checked as soon as an entry commits rather than
   * when a leader without it finally appears: no voter lacking the entry
   * may be able to win an election. A voter grants its vote to a log at
   * least as up to date as its own (§5.4.1); a crash can roll it back to
   * what it stored, so its stored log is what counts. Committing an entry
   * of an older term by counting replicas fails this at once (Figure 8).
   */
  #checkElectable(index: number): void {
    const c = this.#committed[index]!;
    for (const candidate of this.#voters) {
      const logs: [number, number][] = [];
      if (!this.#stored.holds(candidate, index, c.term)) {
        logs.push(this.#stored.last(candidate));
      }
      const view = this.#views.get(candidate);
      if (
        view && index > view.log.snapshotIndex &&
        view.log.termAt(index) !== c.term
      ) logs.push([view.log.lastTerm, view.log.lastIndex]);
      for (const [lastTerm, lastIndex] of logs) {
        const voters = this.#voters.filter((v) => {
          if (v === candidate) return true;
          const [term, last] = this.#stored.last(v);
          return lastTerm > term || (lastTerm === term && lastIndex >= last);
        });
        if (voters.length >= this.#majority) {
          this.#fail(
            "Leader Completeness",
            `(${index}, t${c.term}) is committed, but ${candidate}, whose log ends at (${lastIndex}, t${lastTerm}) without it, could be elected by [${
              voters.join(", ")
            }] (§5.4.1)`,
          );
        }
      }
    }
  }

  /** Records a committed entry; returns whether it was newly committed. */
  #commit(node: NodeView, entry: LogEntry): boolean {
    const index = entry.index;
    const content = entryContent(entry);
    const known = this.#committed[index];
    if (known) {
      if (known.term !== entry.term || known.content !== content) {
        this.#fail(
          "State Machine Safety",
          `${node.id} holds (${index}, t${entry.term}) committed, but (${index}, t${known.term}) was committed before`,
        );
      }
      if (node.term < known.commitTerm) known.commitTerm = node.term;
      return false;
    }
    while (this.#committed.length < index) this.#committed.push(undefined);
    const committed: Committed = {
      term: entry.term,
      content,
      commitTerm: node.term,
    };
    this.#committed[index] = committed;
    this.#checkDurable(index, `when ${node.id} saw it committed`);
    for (const view of this.#views.values()) {
      if (this.#leaderRoles.has(view.role) && view.term >= node.term) {
        this.#checkLeaderHas(view, index, committed);
      }
    }
    return true;
  }

  #checkLeaderHas(leader: NodeView, index: number, c: Committed): void {
    if (c.commitTerm > leader.term || index <= leader.log.snapshotIndex) {
      return;
    }
    const term = leader.log.termAt(index);
    if (term !== c.term) {
      this.#fail(
        "Leader Completeness",
        `leader ${leader.id} of term ${leader.term} has ${
          term === undefined ? "no entry" : `t${term}`
        } at ${index}, where t${c.term} was committed in term ${c.commitTerm} (§5.4)`,
      );
    }
  }

  #checkDurable(index: number, when: string): void {
    const term = this.#committed[index]!.term;
    const holders = this.#voters.filter((v) =>
      this.#stored.holds(v, index, term)
    );
    if (holders.length < this.#majority) {
      this.#fail(
        "Commit Durability",
        `committed (${index}, t${term}) is durable only on [${
          holders.join(", ")
        }] ${when}; a majority of ${this.#majority} voters must store it`,
      );
    }
  }

  #recheck(changed: Changed, when: string): void {
    if (!changed) return;
    const last = Math.min(changed[1], this.#committed.length - 1);
    for (let i = Math.max(1, changed[0]); i <= last; i++) {
      if (this.#committed[i]) this.#checkDurable(i, `after ${when}`);
    }
  }

  #fail(invariant: InvariantName, detail: string): never {
    throw new InvariantViolation(invariant, detail);
  }
}
