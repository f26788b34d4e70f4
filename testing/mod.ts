/**
 * Test kit for deno-raft users: a cluster of pure cores on virtual time
 * ({@linkcode CoreCluster}) and a linearizability checker for recorded
 * histories ({@linkcode checkHistory}).
 *
 * @example
 * ```ts
 * import { CoreCluster } from "./mod.ts";
 * const cluster = new CoreCluster({ voters: ["a", "b", "c"], seed: 1 });
 * console.log(cluster.electLeader());
 * ```
 * @module
 */
export {
  CoreCluster,
  type CoreClusterOptions,
  type DurableState,
  type RequestOutcome,
} from "./core_cluster.ts";
export { checkHistory, type CheckResult } from "./linearizability.ts";
export { HistoryRecorder, type Operation } from "./history.ts";
export { createKvModel, kvModel, type Model, registerModel } from "./models.ts";
export { type HistoryFormat, parseHistory } from "./parse_history.ts";
