/**
 * When a run has settled after its faults stopped: one Leader, everything
 * it holds committed and applied on every node, and no request left
 * unanswered.
 * @module
 */
import type { SimNode } from "./_sim_node.ts";

/** Why the cluster has not settled yet, or `null` once it has. */
export function unsettled(nodes: readonly SimNode[]): string | null {
  const leaders = nodes.filter((n) => n.core.role === "Leader");
  if (leaders.length !== 1) {
    const roles = nodes.map((n) => `${n.id}=${n.core.role}/t${n.core.term}`);
    return `${leaders.length} nodes are Leader (${roles.join(" ")})`;
  }
  const leader = leaders[0].core;
  if (leader.commitIndex < leader.log.lastIndex) {
    return `leader ${leader.id} committed ${leader.commitIndex} of ${leader.log.lastIndex}`;
  }
  for (const node of nodes) {
    if (node.lastApplied !== leader.commitIndex) {
      return `${node.id} applied ${node.lastApplied} of ${leader.commitIndex}`;
    }
    const request = node.requests.unanswered();
    if (request) return `${node.id} never answered ${request}`;
  }
  return null;
}
