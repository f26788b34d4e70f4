/**
 * The storage calls `kernel/_writer.ts` makes for the Readies queued while
 * its previous write ran: the last hard state, one merged append (a later
 * Ready's entries replace the suffix they overwrite), a snapshot install
 * in its place in the order, then compaction. A crash keeps a
 * prefix of these calls.
 * @module
 */
import type { Ready } from "../kernel/core.ts";
import type { HardState, LogEntry } from "../kernel/types.ts";
import type { StorageOp } from "./_sim_storage.ts";

/** One group-commit batch of storage calls. */
export interface StorageBatch {
  /** The calls, in order. */
  readonly ops: StorageOp[];
  /** Index of the snapshot the batch installs (0: none). */
  readonly installs: number;
  /** The last entry stored, for `persisted` (`null`: none to report). */
  readonly last: LogEntry | null;
}

/** The storage calls that persist `jobs`, as the writer makes them. */
export function storageBatch(jobs: readonly Ready[]): StorageBatch {
  const ops: StorageOp[] = [];
  let entries: LogEntry[] = [];
  let hardState: HardState | null = null;
  let installs = 0;
  const persist = () => {
    // Term and vote first, as the writer does.
    if (hardState) ops.push({ op: "hardState", hardState });
    if (entries.length > 0) ops.push({ op: "append", entries });
    entries = [];
    hardState = null;
  };
  let keptBeforeInstall: LogEntry | null = null;
  for (const job of jobs) {
    if (job.snapshot) {
      // Entries queued before a snapshot install go first, in order; when
      // the install keeps the log they stay stored and are reported too.
      keptBeforeInstall = job.snapshotKeptLog && entries.length > 0
        ? entries[entries.length - 1]
        : null;
      persist();
      const s = job.snapshot;
      if (!job.snapshotKeptLog) ops.push({ op: "truncate", from: s.index + 1 });
      ops.push({ op: "snapshot", snapshot: s });
      ops.push({ op: "compact", upTo: s.index });
      installs = Math.max(installs, s.index);
    }
    if (job.hardState) hardState = job.hardState;
    if (job.entries.length > 0) {
      const first = job.entries[0].index;
      if (entries.length > 0 && first <= entries[entries.length - 1].index) {
        entries.length = Math.max(0, first - entries[0].index);
      }
      for (const e of job.entries) entries.push(e);
    }
  }
  const last = entries.length > 0
    ? entries[entries.length - 1]
    : keptBeforeInstall;
  persist();
  let compactTo = 0;
  for (const job of jobs) compactTo = Math.max(compactTo, job.compactTo);
  if (compactTo > 0) ops.push({ op: "compact", upTo: compactTo });
  return { ops, installs, last };
}
