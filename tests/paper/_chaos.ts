// A seeded fault schedule for CoreCluster: random partitions, drops,
// delays (re-delivered out of order), duplicates, crashes and restarts,
// with proposals sent to whoever leads. `check` runs after every step.
import type { CoreConfig } from "../../kernel/behavior.ts";
import type { Message } from "../../kernel/messages.ts";
import { seededRandom } from "../../kernel/random.ts";
import type { NodeId } from "../../kernel/types.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";
import { assertElectionSafety } from "./_helpers.ts";

/** Knobs of one chaos run. */
export interface ChaosOptions {
  /** Voter ids. */
  readonly voters: readonly NodeId[];
  /** Seed of both the cluster and the fault schedule. */
  readonly seed: number;
  /** Number of fault steps. */
  readonly steps: number;
  /** Propose on every leader at each step. */
  readonly propose?: boolean;
  /** Settings for every node. */
  readonly config?: Partial<CoreConfig>;
  /** Extra invariant checks after each step. */
  readonly check?: (cluster: CoreCluster) => void;
}

/** What a chaos run leaves behind. */
export interface ChaosResult {
  /** The cluster, faults still in place. */
  readonly cluster: CoreCluster;
  /** Nodes crashed at the end. */
  readonly down: ReadonlySet<NodeId>;
}

/** Runs the schedule and returns the cluster (for final checks). */
export function runChaos(options: ChaosOptions): ChaosResult {
  const { voters, seed } = options;
  const cluster = new CoreCluster({ voters, seed, config: options.config });
  const rand = seededRandom(seed ^ 0x5eed);
  const pick = <T>(list: readonly T[]): T =>
    list[Math.floor(rand.next() * list.length)];
  const down = new Set<NodeId>();
  let held: Message[] = [];
  let dropRate = 0;
  let delayRate = 0;
  let duplicateRate = 0;
  cluster.filter = (message) => {
    const r = rand.next();
    if (r < dropRate) return false;
    if (r < dropRate + delayRate) {
      held.push(message);
      return false;
    }
    if (r < dropRate + delayRate + duplicateRate) held.push(message);
    return true;
  };
  let proposals = 0;
  for (let step = 0; step < options.steps; step++) {
    const action = rand.next();
    if (action < 0.2) {
      const side = voters.filter(() => rand.next() < 0.5);
      cluster.partition(side, voters.filter((id) => !side.includes(id)));
    } else if (action < 0.35) {
      cluster.heal();
    } else if (action < 0.45) {
      const up = voters.filter((id) => !down.has(id));
      if (up.length > 1) {
        const id = pick(up);
        cluster.crash(id);
        down.add(id);
      }
    } else if (action < 0.6 && down.size > 0) {
      const id = pick([...down]);
      cluster.restart(id);
      down.delete(id);
    } else if (action < 0.75) {
      dropRate = rand.next() * 0.3;
      delayRate = rand.next() * 0.2;
      duplicateRate = rand.next() * 0.1;
    } else if (action < 0.85) {
      dropRate = delayRate = duplicateRate = 0;
    }
    if (options.propose) {
      for (const id of voters) {
        if (!down.has(id) && cluster.core(id).role === "Leader") {
          cluster.propose(id, `p${++proposals}`);
        }
      }
    }
    // Delayed and duplicated messages come back, in shuffled order.
    const late = held;
    held = [];
    for (let i = late.length - 1; i > 0; i--) {
      const j = Math.floor(rand.next() * (i + 1));
      [late[i], late[j]] = [late[j], late[i]];
    }
    cluster.inFlight.push(...late);
    cluster.advance(20 + Math.floor(rand.next() * 150));
    assertElectionSafety(cluster);
    options.check?.(cluster);
  }
  return { cluster, down };
}
