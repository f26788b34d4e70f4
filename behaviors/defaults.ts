/**
 * The registry of the five default behaviors.
 *
 * @example
 * ```ts
 * import { defaultBehaviors } from "./defaults.ts";
 * console.log(defaultBehaviors().names());
 * // ["Follower", "Candidate", "PreLeader", "Leader", "IsolatedLeader"]
 * ```
 * @module
 */
import type { Behavior } from "../kernel/behavior.ts";
import { BehaviorRegistry } from "../kernel/registry.ts";
import { candidate } from "./candidate.ts";
import { follower } from "./follower.ts";
import { isolatedLeader } from "./isolated_leader.ts";
import { leader } from "./leader.ts";
import { preLeader } from "./pre_leader.ts";

/**
 * A new registry holding Follower, Candidate, PreLeader, Leader and
 * IsolatedLeader. Each call returns a fresh registry the caller may change
 * with `register` and `replace` until a node using it starts.
 *
 * @example
 * ```ts
 * import { defaultBehaviors } from "./defaults.ts";
 * const registry = defaultBehaviors();
 * registry.register({ name: "Observer", onMessage() {}, onTick() {} });
 * console.log(registry.has("Observer")); // true
 * ```
 */
export function defaultBehaviors(): BehaviorRegistry {
  return new BehaviorRegistry([
    follower,
    candidate,
    preLeader,
    leader,
    isolatedLeader,
  ] as Behavior[]);
}
