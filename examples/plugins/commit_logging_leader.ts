/**
 * A custom behavior plugin: a Leader that reports every commit index it
 * reaches. It wraps the default {@linkcode leader} and delegates all
 * protocol work to it, so safety is unchanged.
 *
 * @example
 * ```ts
 * import { defaultBehaviors } from "../../mod.ts";
 * import { commitLoggingLeader } from "./commit_logging_leader.ts";
 * const seen: number[] = [];
 * const behaviors = defaultBehaviors().replace(
 *   commitLoggingLeader((index) => seen.push(index)),
 * );
 * console.log(behaviors.has("Leader")); // true
 * ```
 * @module
 */
import { type Behavior, leader } from "../../mod.ts";

/**
 * Returns a Leader plugin that calls `onCommit(commitIndex, term)` each
 * time the commit index moves while this node leads.
 */
export function commitLoggingLeader(
  onCommit: (commitIndex: number, term: number) => void,
): Behavior {
  let last = 0;
  const base = leader as Behavior;
  return {
    ...base,
    name: "Leader",
    onFlush(ctx, state) {
      base.onFlush?.(ctx, state);
      if (ctx.commitIndex > last) {
        last = ctx.commitIndex;
        onCommit(ctx.commitIndex, ctx.term);
      }
    },
  };
}
