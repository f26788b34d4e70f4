/**
 * Log Matching (§5.3) as a registry of every entry any log ever held: an
 * `(index, term)` must always name the same command after the same
 * previous term. By induction, logs that share an entry then share the
 * whole prefix before it, which is the property itself.
 * @module
 */
import type { LogView } from "../kernel/log.ts";
import type { LogEntry, NodeId } from "../kernel/types.ts";
import { InvariantViolation } from "./_sim_violation.ts";

const contentKeys = new WeakMap<LogEntry, string>();

/** A string equal for two entries exactly when their contents are equal. */
export function entryContent(entry: LogEntry): string {
  let key = contentKeys.get(entry);
  if (key === undefined) {
    key = `${entry.kind}:${JSON.stringify(entry.command)}`;
    contentKeys.set(entry, key);
  }
  return key;
}

/** Every `(index, term)` seen, with its command and previous term. */
export class EntryRegistry {
  readonly #entries = new Map<string, { content: string; prevTerm: number }>();

  /**
   * Node `id` queued `entries` (consecutive, as in a Ready) to `log`, which
   * now holds them.
   */
  appended(id: NodeId, entries: readonly LogEntry[], log: LogView): void {
    let prevTerm = entries.length > 0
      ? log.termAt(entries[0].index - 1) ?? -1
      : 0;
    for (const entry of entries) {
      if (log.termAt(entry.index) !== entry.term) {
        throw new InvariantViolation(
          "Storage Contract",
          `${id} queued (${entry.index}, t${entry.term}) but its log holds t${
            log.termAt(entry.index)
          } there`,
        );
      }
      if (entry.term < prevTerm) {
        throw new InvariantViolation(
          "Log Matching",
          `${id}'s log has t${entry.term} at ${entry.index} after t${prevTerm}`,
        );
      }
      const key = `${entry.index}:${entry.term}`;
      const content = entryContent(entry);
      const known = this.#entries.get(key);
      if (!known) this.#entries.set(key, { content, prevTerm });
      else if (known.content !== content || known.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          "Log Matching",
          `${id} holds (${entry.index}, t${entry.term}) = ${content} after t${prevTerm}, another log holds ${known.content} after t${known.prevTerm}`,
        );
      }
      prevTerm = entry.term;
    }
  }
}
