/**
 * The answer to a message of an older term (§5.1): the sender learns the
 * current term from it (the core stamps its term on every message it
 * sends) and steps down. Other stale messages are dropped.
 * @module
 */
import type { Outgoing } from "./behavior.ts";
import type { Message } from "./messages.ts";

/** The refusal a stale `message` gets, or null when it gets none. */
export function staleReply(message: Message): Outgoing | null {
  if (message.type === "append") {
    return {
      type: "appendReply",
      to: message.from,
      success: false,
      matchIndex: 0,
      rejectedIndex: message.prevLogIndex,
      hintIndex: 0,
      hintTerm: 0,
      seq: message.seq,
    };
  } else if (message.type === "snapshot") {
    return {
      type: "snapshotReply",
      to: message.from,
      lastIncludedIndex: message.lastIncludedIndex,
      offset: 0,
      done: false,
    };
  } else if (message.type === "vote") {
    return {
      type: "voteReply",
      to: message.from,
      granted: false,
      preVote: message.preVote,
    };
  }
  return null;
}
