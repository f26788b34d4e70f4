/**
 * Quorum math as pure functions: how many voters make a majority, the
 * highest index a majority has reached, and the result of a vote.
 * Non-voters never appear here; callers pass voters only.
 *
 * @example
 * ```ts
 * import { quorumIndex } from "./quorum.ts";
 * console.log(quorumIndex([5, 3, 9])); // 5
 * ```
 * @module
 */

/**
 * The number of voters that make a majority of `voterCount`.
 *
 * @example
 * ```ts
 * import { majority } from "./quorum.ts";
 * console.log(majority(3), majority(4)); // 2 3
 * ```
 */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value `v` such that a majority of `values` are `>= v`
 * (0 for no values). Used for the commit index from match indexes and for
 * the read round a majority has confirmed.
 *
 * @example
 * ```ts
 * import { quorumIndex } from "./quorum.ts";
 * console.log(quorumIndex([1, 7, 7, 2, 9])); // 7
 * ```
 */
export function quorumIndex(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort((a, b) => b - a);
  return sorted[majority(values.length) - 1];
}

/** The state of an election. */
export type VoteResult = "won" | "lost" | "pending";

/**
 * The result of an election among `voters` given who granted and who
 * refused. Answers from non-voters are ignored.
 *
 * @example
 * ```ts
 * import { voteResult } from "./quorum.ts";
 * console.log(voteResult(["a", "b", "c"], new Set(["a", "c"]), new Set())); // "won"
 * ```
 */
export function voteResult(
  voters: readonly string[],
  granted: ReadonlySet<string>,
  refused: ReadonlySet<string>,
): VoteResult {
  let yes = 0;
  let no = 0;
  for (const voter of voters) {
    if (granted.has(voter)) yes++;
    else if (refused.has(voter)) no++;
  }
  const needed = majority(voters.length);
  if (yes >= needed) return "won";
  if (voters.length - no < needed) return "lost";
  return "pending";
}
