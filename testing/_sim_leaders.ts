/**
 * The checks that follow one leader at a time: at most one leader per term
 * (Election Safety, §5.2), a leader never overwrites or deletes its own
 * entries (Leader Append-Only, §5.3), and its matchIndex for a follower
 * never goes back within its term (Figure 2).
 * @module
 */
import type { NodeId } from "../kernel/types.ts";
import type { NodeView } from "./invariants.ts";
import { InvariantViolation } from "./_sim_violation.ts";

interface Leading {
  term: number;
  lastIndex: number;
  lastTerm: number;
  /** Highest matchIndex seen per follower in `term`. */
  matches: Map<NodeId, number>;
}

/** Follows the nodes holding a leader role. */
export class LeaderWatch {
  readonly #leaderOfTerm = new Map<number, NodeId>();
  readonly #leading = new Map<NodeId, Leading>();

  /**
   * Checks `node`, which holds a leader role now. Returns whether this is a
   * new leadership (a term in which it was not seen leading just before).
   */
  observe(node: NodeView): boolean {
    const { id, term, log } = node;
    const owner = this.#leaderOfTerm.get(term);
    if (owner === undefined) this.#leaderOfTerm.set(term, id);
    else if (owner !== id) {
      throw new InvariantViolation(
        "Election Safety",
        `${owner} and ${id} both lead term ${term} (§5.2)`,
      );
    }
    let leading = this.#leading.get(id);
    const fresh = !leading || leading.term !== term;
    if (!leading || fresh) {
      leading = { term, lastIndex: 0, lastTerm: 0, matches: new Map() };
      this.#leading.set(id, leading);
    } else if (
      log.lastIndex < leading.lastIndex ||
      log.termAt(leading.lastIndex) !== leading.lastTerm
    ) {
      throw new InvariantViolation(
        "Leader Append-Only",
        `leader ${id} of term ${term} held (${leading.lastIndex}, t${leading.lastTerm}) and now has t${
          log.termAt(leading.lastIndex)
        } there, last index ${log.lastIndex} (§5.3)`,
      );
    }
    leading.lastIndex = log.lastIndex;
    leading.lastTerm = log.lastTerm;
    this.#checkMatches(node, leading.matches);
    return fresh;
  }

  /** `id` holds no leader role (or crashed). */
  notLeading(id: NodeId): void {
    this.#leading.delete(id);
  }

  /**
   * A leader's matchIndex for a follower only grows within its term
   * (Figure 2). A leader role that drops its trackers on a role switch
   * (Leader → IsolatedLeader → Leader) forgets it: ODL Bug 6587. Checked
   * when the role state has `trackers` with a `matchIndex` each.
   */
  #checkMatches(node: NodeView, seen: Map<NodeId, number>): void {
    const trackers = (node.roleState as { trackers?: unknown } | undefined)
      ?.trackers;
    if (!(trackers instanceof Map)) return;
    for (const [peer, tracker] of trackers) {
      const match = (tracker as { matchIndex?: unknown }).matchIndex;
      if (typeof match !== "number") continue;
      const before = seen.get(peer) ?? 0;
      if (match < before) {
        throw new InvariantViolation(
          "Match Index Monotonicity",
          `leader ${node.id} of term ${node.term} lowered its matchIndex for ${peer} from ${before} to ${match} as ${node.role} (Figure 2)`,
        );
      }
      seen.set(peer, match);
    }
  }
}
