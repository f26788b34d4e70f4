/**
 * Command line linearizability checker for recorded histories.
 *
 * ```sh
 * deno run -A testing/check_history.ts FILE --format jepsen-etcd|jepsen-kv|jsonl [--timeout-ms N]
 * ```
 *
 * Prints `linearizable` (exit code 0) or `not linearizable` followed by a
 * short report of the shortest failing prefix found (exit code 1). Bad
 * arguments or an unparseable file exit with code 2; running out of time
 * (`--timeout-ms`) exits with code 3.
 *
 * @example Check a history from code, as the CLI does
 * ```ts
 * import { main } from "./check_history.ts";
 *
 * const exitCode = await main(["history.jsonl", "--format", "jsonl"]);
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { describeOperation, type Operation } from "./history.ts";
import { checkHistory, type CheckResult } from "./linearizability.ts";
import type { Model } from "./models.ts";
import {
  HISTORY_FORMATS,
  type HistoryFormat,
  modelForFormat,
  parseHistory,
} from "./parse_history.ts";

const USAGE = `Usage: check_history FILE --format ${
  HISTORY_FORMATS.join("|")
} [--timeout-ms N]`;

/** How many operations of the valid order the report shows. */
const REPORT_TAIL = 8;

/**
 * Runs the checker on the file named in `args` and prints the verdict.
 *
 * @example
 * ```ts
 * import { main } from "./check_history.ts";
 *
 * if (import.meta.main) Deno.exit(await main(Deno.args));
 * ```
 *
 * @param args Command line arguments, without the program name.
 * @returns The process exit code: 0 linearizable, 1 not linearizable,
 * 2 bad arguments or input, 3 timed out.
 */
export async function main(args: string[]): Promise<number> {
  let file: string;
  let format: HistoryFormat;
  let timeoutMs: number | undefined;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  try {
    ({ file, format, timeoutMs } = readArgs(args));
  } catch (error) {
    console.error(`${message(error)}\n${USAGE}`);
    return 2;
  }
  let operations: Operation[];
  try {
    operations = parseHistory(await Deno.readTextFile(file), format);
  } catch (error) {
    console.error(`Cannot check ${file} as ${format}: ${message(error)}`);
    return 2;
  }
  const model = modelForFormat(format);
  const result = checkHistory(operations, model, { timeoutMs });
  if (result.linearizable) {
    console.log("linearizable");
    return 0;
  }
  if (result.timedOut) {
    console.log(`unknown: no verdict within ${timeoutMs} ms`);
    return 3;
  }
  console.log(`not linearizable\n${report(result, model)}`);
  return 1;
}

function readArgs(
  args: string[],
): { file: string; format: HistoryFormat; timeoutMs?: number } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: "string" },
      "timeout-ms": { type: "string" },
    },
  });
  if (positionals.length !== 1) {
    throw new Error(`Expected one history file, got ${positionals.length}`);
  }
  const format = values.format as HistoryFormat | undefined;
  if (format === undefined || !HISTORY_FORMATS.includes(format)) {
    throw new Error(`Expected --format ${HISTORY_FORMATS.join(", or ")}`);
  }
  const rawTimeout = values["timeout-ms"];
  const timeoutMs = rawTimeout === undefined ? undefined : Number(rawTimeout);
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new Error(`Expected --timeout-ms to be a number >= 0`);
  }
  return { file: positionals[0], format, timeoutMs };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Describes where the search got stuck: the operation whose result no order
 * explains, a valid order just before it, and the state that order leaves.
 * Times are line numbers of the file.
 */
function report<S>(result: CheckResult, model: Model<S>): string {
  const { key, stuckOn, stuckPrefix = [], linearizedBefore } = result;
  if (stuckOn === undefined) return `key ${JSON.stringify(key)}`;
  const lines = [
    `key ${
      JSON.stringify(key)
    }: the shortest failing prefix has ${stuckPrefix.length} operations ` +
    `and ends at line ${stuckOn.return}, where this operation completes:`,
    `  ${describeOperation(stuckOn)}`,
  ];
  if (linearizedBefore !== undefined) {
    let state = model.init();
    const steps = linearizedBefore.map((op) => {
      state = model.step(state, op).state;
      return `  ${describeOperation(op)}  => ${model.stateKey(state)}`;
    });
    const shown = steps.slice(-REPORT_TAIL);
    lines.push(
      `a valid order of the operations before that line ` +
        `(last ${shown.length} of ${steps.length}, with the state after each):`,
      ...shown,
      `no order of the prefix explains the result above (this one leaves ` +
        `${model.stateKey(state)}).`,
    );
  }
  const running = stuckPrefix.filter((op) =>
    op.return === null && op.id !== stuckOn.id
  );
  if (running.length > 0) {
    lines.push(
      "operations still running then or never answered (outcome unknown):",
      ...running.slice(-REPORT_TAIL).map((op) => `  ${describeOperation(op)}`),
    );
  }
  return lines.join("\n");
}

if (import.meta.main) Deno.exit(await main(Deno.args));
