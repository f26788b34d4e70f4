// Quorum math against naive definitions, with fast-check (seeded; a failure
// prints the seed and the shrunk counterexample).
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  majority,
  quorumIndex,
  type VoteResult,
  voteResult,
} from "../../kernel/quorum.ts";

const SEED = 20240601;
const RUNS = 2_000;

/** The largest v (0 if none) that at least a majority of values reach. */
function naiveQuorumIndex(values: readonly number[]): number {
  let best = 0;
  for (const v of values) {
    const reached = values.filter((x) => x >= v).length;
    if (reached > values.length / 2 && v > best) best = v;
  }
  return best;
}

function naiveVoteResult(
  voters: readonly string[],
  granted: ReadonlySet<string>,
  refused: ReadonlySet<string>,
): VoteResult {
  const yes = voters.filter((v) => granted.has(v)).length;
  const no = voters.filter((v) => !granted.has(v) && refused.has(v)).length;
  const undecided = voters.length - yes - no;
  if (2 * yes > voters.length) return "won";
  if (2 * (yes + undecided) <= voters.length) return "lost";
  return "pending";
}

Deno.test("majority is the smallest count above half", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(majority), [1, 2, 2, 3, 3, 4, 4]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), (n) => {
      const m = majority(n);
      return 2 * m > n && 2 * (m - 1) <= n;
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("quorumIndex: examples", () => {
  assert.equal(quorumIndex([]), 0);
  assert.equal(quorumIndex([4]), 4);
  assert.equal(quorumIndex([5, 3, 9]), 5);
  assert.equal(quorumIndex([1, 7, 7, 2, 9]), 7);
  assert.equal(quorumIndex([9, 9, 0, 0]), 0, "2 of 4 is no majority");
  assert.equal(quorumIndex([9, 9, 5, 0]), 5);
});

Deno.test("quorumIndex agrees with the naive definition and does not depend on order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }),
      (values) => {
        const result = quorumIndex(values);
        assert.equal(result, naiveQuorumIndex(values));
        assert.equal(quorumIndex([...values].reverse()), result);
        assert.deepEqual(values, values.slice(), "input untouched");
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("quorumIndex never decreases when one voter's index grows", () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }),
      fc.nat(),
      fc.nat({ max: 20 }),
      (values, at, by) => {
        const grown = values.slice();
        grown[at % grown.length] += by;
        return quorumIndex(grown) >= quorumIndex(values);
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("voteResult: examples", () => {
  const voters = ["a", "b", "c"];
  const s = (...ids: string[]) => new Set(ids);
  assert.equal(voteResult(voters, s("a", "c"), s()), "won");
  assert.equal(voteResult(voters, s("a"), s()), "pending");
  assert.equal(voteResult(voters, s("a"), s("b", "c")), "lost");
  assert.equal(voteResult(voters, s("a"), s("b")), "pending");
  assert.equal(
    voteResult(["a", "b", "c", "d"], s("a", "b"), s("c", "d")),
    "lost",
  );
  // Answers of non-voters are ignored.
  assert.equal(voteResult(voters, s("a", "x", "y"), s()), "pending");
  assert.equal(voteResult(voters, s("a"), s("x", "y", "z")), "pending");
});

Deno.test("voteResult agrees with the naive count, ignoring non-voters", () => {
  const ids = ["a", "b", "c", "d", "e", "f", "g", "x", "y"];
  fc.assert(
    fc.property(
      fc.subarray(ids.slice(0, 7), { minLength: 1 }),
      fc.subarray(ids),
      fc.subarray(ids),
      (voters, grantedList, refusedList) => {
        const granted = new Set(grantedList);
        // A voter answers once: a refusal never overlaps a grant.
        const refused = new Set(refusedList.filter((id) => !granted.has(id)));
        assert.equal(
          voteResult(voters, granted, refused),
          naiveVoteResult(voters, granted, refused),
        );
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("voteResult: won and lost are final as more answers arrive", () => {
  const voters = ["a", "b", "c", "d", "e"];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...voters), fc.boolean()), {
        maxLength: 12,
      }),
      (answers) => {
        const granted = new Set<string>();
        const refused = new Set<string>();
        let decided: VoteResult | null = null;
        for (const [from, yes] of answers) {
          if (granted.has(from) || refused.has(from)) continue;
          (yes ? granted : refused).add(from);
          const result = voteResult(voters, granted, refused);
          if (decided) assert.equal(result, decided);
          else if (result !== "pending") decided = result;
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});
