/**
 * A custom behavior plugin: a Follower that never votes for the nodes in a
 * blocklist (say, a machine being drained). Everything else is the default
 * {@linkcode follower}.
 *
 * @example
 * ```ts
 * import { defaultBehaviors } from "../../mod.ts";
 * import { blocklistFollower } from "./blocklist_follower.ts";
 * const behaviors = defaultBehaviors().replace(blocklistFollower(["c"]));
 * console.log(behaviors.has("Follower")); // true
 * ```
 * @module
 */
import { type Behavior, follower } from "../../mod.ts";

/** Returns a Follower plugin that refuses (pre-)votes to `blocked` nodes. */
export function blocklistFollower(blocked: readonly string[]): Behavior {
  const base = follower as Behavior;
  const refuse = new Set(blocked);
  return {
    ...base,
    name: "Follower",
    onMessage(ctx, message, state) {
      if (message.type === "vote" && refuse.has(message.from)) {
        ctx.send({
          type: "voteReply",
          to: message.from,
          granted: false,
          preVote: message.preVote,
        });
        return;
      }
      base.onMessage(ctx, message, state);
    },
  };
}
