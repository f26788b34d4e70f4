/**
 * The error every broken property raises, and the names of the properties.
 * Re-exported by `invariants.ts`.
 * @module
 */

/** The properties the checker (and the simulator) enforce. */
export type InvariantName =
  | "Election Safety"
  | "Vote Safety"
  | "Log Matching"
  | "Leader Append-Only"
  | "Leader Completeness"
  | "State Machine Safety"
  | "Commit Monotonicity"
  | "Match Index Monotonicity"
  | "Commit Durability"
  | "Acknowledged Write Durability"
  | "Request Accountability"
  | "Read Freshness"
  | "Rejected Proposal Never Applied"
  | "Storage Contract"
  | "Term Durability"
  | "Liveness"
  | "Unexpected Error";

/**
 * A broken safety property.
 *
 * @example
 * ```ts
 * import { InvariantViolation } from "./invariants.ts";
 * const e = new InvariantViolation("Election Safety", "a and b lead term 3");
 * console.log(e.invariant, e.detail);
 * ```
 */
export class InvariantViolation extends Error {
  /** The property that does not hold. */
  readonly invariant: InvariantName;
  /** What was seen. */
  readonly detail: string;
  /** Creates the error. */
  constructor(invariant: InvariantName, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = "InvariantViolation";
    this.invariant = invariant;
    this.detail = detail;
  }
}
