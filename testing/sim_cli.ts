/**
 * Runs the cluster simulator over many seeds and reports.
 *
 * ```sh
 * deno task sim --seeds 200 --steps 2000          # seeds 1..200
 * deno task sim --seed 17 --steps 2000            # replay one seed, with its trace
 * deno task sim --seeds 50 --nodes 5 --non-voters 1 --verbose
 * ```
 *
 * Without `--nodes`, odd seeds run 3 nodes and even seeds 5, so a replay
 * with the same flags rebuilds the same cluster. The last line is always
 * `sim: N seeds, V violations, L/N linearizable`; the exit code is 1 when
 * anything failed.
 *
 * @example
 * ```ts ignore
 * // deno run -A testing/sim_cli.ts --seeds 10 --steps 500
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { describeOperation } from "./history.ts";
import { type SimResult, simulateCluster } from "./sim.ts";

interface Settings {
  readonly seeds: number[];
  readonly steps: number;
  readonly nodes: number | null;
  readonly nonVoters: number;
  readonly verbose: boolean;
  readonly replay: boolean;
}

const USAGE =
  "usage: deno task sim [--seeds N | --seed S] [--steps M] [--nodes 3|5] [--non-voters K] [--verbose]";

function positive(name: string, text: string | undefined, fallback: number) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`--${name} must be a non-negative integer: ${text}`);
  }
  return value;
}

function settings(args: string[]): Settings {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: "string" },
      seed: { type: "string" },
      steps: { type: "string" },
      nodes: { type: "string" },
      "non-voters": { type: "string" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const replay = values.seed !== undefined;
  const count = positive("seeds", values.seeds, 100);
  return {
    seeds: replay
      ? [positive("seed", values.seed, 1)]
      : Array.from({ length: count }, (_, i) => i + 1),
    steps: positive("steps", values.steps, 2000),
    nodes: values.nodes === undefined
      ? null
      : positive("nodes", values.nodes, 3),
    nonVoters: positive("non-voters", values["non-voters"], 0),
    verbose: values.verbose ?? false,
    replay,
  };
}

/** What a failing seed prints; with the trace when asked. */
function report(result: SimResult, s: Settings, nodes: number): string[] {
  const lines: string[] = [];
  const where = `seed ${result.seed} (${nodes} nodes${
    s.nonVoters ? `, ${s.nonVoters} non-voting` : ""
  })`;
  for (const v of result.violations) {
    lines.push(
      `${where}: ${v.invariant} at step ${v.step} (${
        v.time.toFixed(1)
      } ms): ${v.detail}`,
    );
  }
  const check = result.check;
  if (!check.linearizable) {
    lines.push(
      check.timedOut
        ? `${where}: linearizability check timed out`
        : `${where}: history not linearizable on key ${
          JSON.stringify(check.key)
        }: ${check.stuckOn ? describeOperation(check.stuckOn) : "?"}`,
    );
  }
  lines.push(
    `  replay: deno task sim --seed ${result.seed} --steps ${s.steps} --nodes ${nodes}${
      s.nonVoters ? ` --non-voters ${s.nonVoters}` : ""
    }`,
  );
  if (s.replay || s.verbose) {
    lines.push(`  faults: ${JSON.stringify(result.faults)}`);
    lines.push(`  config: ${JSON.stringify(result.config)}`);
    lines.push(`  trace (last ${result.trace.length} events):`);
    for (const line of result.trace) lines.push(`    ${line}`);
  }
  return lines;
}

function main(args: string[]): number {
  let s: Settings;
  try {
    s = settings(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  let violations = 0;
  let linearizable = 0;
  let steps = 0;
  const started = performance.now();
  for (const seed of s.seeds) {
    const nodes = s.nodes ?? (seed % 2 === 1 ? 3 : 5);
    let result: SimResult;
    try {
      result = simulateCluster({
        seed,
        steps: s.steps,
        nodes,
        nonVoters: s.nonVoters,
      });
    } catch (error) {
      console.error(`${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    steps += result.stats.steps;
    violations += result.violations.length;
    if (result.linearizable) linearizable++;
    if (!result.ok) {
      for (const line of report(result, s, nodes)) console.log(line);
    } else if (s.verbose || s.replay) {
      const st = result.stats;
      console.log(
        `seed ${seed}: ok, ${st.steps} steps, ${
          st.virtualMs.toFixed(0)
        } virtual ms, ${st.operations.ok} ops ok, commit ${st.commitIndex}, ${st.crashes} crashes, term ${st.maxTerm}, digest ${result.digest}`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const n = s.seeds.length;
  console.log(
    `throughput: ${(n / seconds).toFixed(1)} seeds/s, ${
      Math.round(steps / seconds)
    } steps/s (${seconds.toFixed(2)} s)`,
  );
  console.log(
    `sim: ${n} seeds, ${violations} violations, ${linearizable}/${n} linearizable`,
  );
  return violations > 0 || linearizable < n ? 1 : 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
