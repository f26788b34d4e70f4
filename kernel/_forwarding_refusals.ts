// Why a forwarded request was refused, both ways across the wire: the
// leader turns its role's error into a `ForwardRefusal`, and the member that
// forwarded the request turns that back into the error its client sees.
import {
  IsolatedLeaderError,
  NotLeaderError,
  OutcomeUnknownError,
  type RaftError,
  TransferInProgressError,
} from "./errors.ts";
import type { ForwardRefusal } from "./messages.ts";
import type { NodeId } from "./types.ts";

/** The refusal a leader sends for an error its role failed a request with. */
export function refusalOf(error: RaftError): ForwardRefusal {
  if (error instanceof IsolatedLeaderError) return "isolated";
  if (error instanceof TransferInProgressError) return "transfer";
  // Anything else a role refuses with before appending (not leader,
  // stopped) means: ask the leader, if there is one.
  return "not-leader";
}

/** The error a member's client sees for a refusal from `from`. */
export function refusalError(
  refused: ForwardRefusal,
  leaderId: NodeId | null,
  from: NodeId,
): RaftError {
  switch (refused) {
    case "isolated":
      return new IsolatedLeaderError(
        `Cannot propose as leader ${from} cannot reach a majority (never proposed)`,
      );
    case "transfer":
      return new TransferInProgressError(leaderId ?? "another member");
    case "unknown":
      return new OutcomeUnknownError(
        0,
        `${from} cannot tell whether an earlier copy of it was appended`,
      );
    case "not-leader":
      // The hint may be the refusing node itself: it leads a newer term
      // than the one the proposal was sent in.
      return new NotLeaderError(leaderId);
  }
}
