/**
 * Randomness behind an injectable source, so that elections are
 * reproducible from a seed in tests and the simulator.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./random.ts";
 * const a = seededRandom(42), b = seededRandom(42);
 * console.log(a.next() === b.next()); // true
 * ```
 * @module
 */

/** A source of uniformly distributed numbers in `[0, 1)`. */
export interface RandomSource {
  /** The next number in `[0, 1)`. */
  next(): number;
}

/**
 * A deterministic source from a 32-bit seed (the mulberry32 generator).
 *
 * @example
 * ```ts
 * import { seededRandom } from "./random.ts";
 * console.log(seededRandom(1).next() < 1); // true
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/**
 * The process's own randomness (`Math.random`), for production nodes.
 *
 * @example
 * ```ts
 * import { systemRandom } from "./random.ts";
 * console.log(systemRandom.next() >= 0); // true
 * ```
 */
export const systemRandom: RandomSource = { next: () => Math.random() };
