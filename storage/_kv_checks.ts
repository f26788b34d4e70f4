// Private helper of storage/kv.ts: checks of the caller's input that no
// encoding covers (entries are checked as they are encoded, in
// _kv_layout.ts).
import { StorageError } from "../kernel/errors.ts";
import type { HardState, Snapshot } from "../kernel/types.ts";

export function checkNumber(name: string, value: number): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new StorageError(`Cannot use ${name} ${value} as it is not a number`);
  }
}

function checkCount(what: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StorageError(
      `Cannot save the ${what} as ${name} ${value} is not a non-negative integer`,
    );
  }
}

export function checkHardState(state: HardState): HardState {
  checkCount("hard state", "term", state.term);
  if (state.votedFor !== null && typeof state.votedFor !== "string") {
    throw new StorageError(
      "Cannot save the hard state as votedFor is neither a string nor null",
    );
  }
  return { term: state.term, votedFor: state.votedFor };
}

export function checkSnapshot(snapshot: Snapshot): void {
  checkCount("snapshot", "index", snapshot.index);
  checkCount("snapshot", "term", snapshot.term);
  if (!(snapshot.data instanceof Uint8Array)) {
    throw new StorageError(
      "Cannot save the snapshot as its data is not a Uint8Array",
    );
  }
}
