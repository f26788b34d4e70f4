import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CasOutput,
  type HandleOf,
  HistoryRecorder,
  type Operation,
  type OperationInput,
  type OperationKind,
  type Value,
} from "../../testing/history.ts";
import { checkHistory } from "../../testing/linearizability.ts";
import { kvModel, type Model } from "../../testing/models.ts";
import { append, cas, del, get, put } from "./_ops.ts";

// Property tests: histories produced by a real map must pass; a read of a
// value nobody wrote must not. fast-check prints the seed when one fails.
type Output = Value | CasOutput | undefined;

function applyToMap(map: Map<string, Value>, input: OperationInput): Output {
  const current = map.get(input.key) ?? null;
  const set = (value: Value) =>
    value === null ? map.delete(input.key) : map.set(input.key, value);
  switch (input.kind) {
    case "get":
    case "read":
      return current;
    case "put":
    case "write":
      set(input.value);
      return undefined;
    case "delete":
      set(null);
      return undefined;
    case "append":
      set(`${current ?? ""}${input.value}`);
      return undefined;
    case "cas": {
      const ok = current === input.expect;
      if (ok) set(input.value);
      return { ok, value: ok ? input.value : current };
    }
  }
}

function completeOk(
  recorder: HistoryRecorder,
  handle: HandleOf<OperationKind>,
  output: Output,
): void {
  switch (handle.kind) {
    case "get":
    case "read":
      return recorder.ok(handle, output as Value);
    case "cas":
      return recorder.ok(handle, output as CasOutput);
    default:
      return recorder.ok(handle);
  }
}

const keyArb = fc.constantFrom("x", "y");
const valueArb = fc.constantFrom("a", "b", "c");
const commandArb: fc.Arbitrary<OperationInput> = fc.oneof(
  keyArb.map(get),
  fc.tuple(keyArb, valueArb).map(([k, v]) => put(k, v)),
  keyArb.map(del),
  fc.tuple(keyArb, valueArb).map(([k, v]) => append(k, v)),
  fc.tuple(keyArb, fc.option(valueArb, { nil: null }), valueArb)
    .map(([k, e, v]) => cas(k, e, v)),
);

/** Replaces one completed read's result with a value no command writes. */
function withImpossibleRead(
  ops: Operation[],
  pick: number,
): Operation[] | null {
  const reads = ops.filter((op) => op.kind === "get" && op.return !== null);
  if (reads.length === 0) return null;
  const victim = reads[pick % reads.length];
  return ops.map((op) =>
    op === victim ? { ...op, output: "never written" } as Operation : op
  );
}

Deno.test("checker accepts any sequential history of a real map and rejects a read of a value never written", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(3), commandArb), { maxLength: 40, size: "max" }),
      fc.nat(),
      (commands, pick) => {
        const map = new Map<string, Value>();
        const recorder = new HistoryRecorder();
        for (const [client, input] of commands) {
          const handle = recorder.invoke(client, input);
          completeOk(recorder, handle, applyToMap(map, input));
        }
        const ops = recorder.operations();
        assert.ok(checkHistory(ops, kvModel).linearizable);
        const mutated = withImpossibleRead(ops, pick);
        if (mutated) {
          assert.equal(checkHistory(mutated, kvModel).linearizable, false);
        }
      },
    ),
  );
});

type Fate = "ok" | "fail" | "lost-after-effect" | "lost-before-effect";
const fateArb = fc.constantFrom<Fate>(
  "ok",
  "ok",
  "ok",
  "fail",
  "lost-after-effect",
  "lost-before-effect",
);

/**
 * Runs client scripts against one atomic map, interleaved by `schedule`.
 * Each turn moves one client a step: invoke, take effect, complete.
 */
function concurrentHistory(
  scripts: { input: OperationInput; fate: Fate }[][],
  schedule: number[],
): Operation[] {
  const map = new Map<string, Value>();
  const recorder = new HistoryRecorder();
  const clients = scripts.map((script) => ({
    script,
    next: 0,
    running: null as null | {
      handle: HandleOf<OperationKind>;
      input: OperationInput;
      fate: Fate;
      effect?: { output: Output };
    },
  }));
  for (const turn of schedule) {
    const client = clients[turn % clients.length];
    const running = client.running;
    if (running === null) {
      const step = client.script[client.next++];
      if (step === undefined) continue;
      const handle = recorder.invoke(turn % clients.length, step.input);
      client.running = { handle, ...step };
    } else if (
      running.effect === undefined &&
      (running.fate === "ok" || running.fate === "lost-after-effect")
    ) {
      running.effect = { output: applyToMap(map, running.input) };
    } else {
      if (running.fate === "ok") {
        completeOk(recorder, running.handle, running.effect?.output);
      } else if (running.fate === "fail") recorder.fail(running.handle);
      else recorder.info(running.handle);
      client.running = null;
    }
  }
  return recorder.operations();
}

Deno.test("checker accepts concurrent histories of an atomic map, with failed and lost operations", () => {
  const scriptArb = fc.array(fc.record({ input: commandArb, fate: fateArb }), {
    minLength: 1,
    maxLength: 12,
  });
  fc.assert(
    fc.property(
      fc.array(scriptArb, { minLength: 1, maxLength: 4 }),
      // Long enough that most scripted commands complete.
      fc.array(fc.nat(3), { minLength: 40, maxLength: 200, size: "max" }),
      fc.nat(),
      (scripts, schedule, pick) => {
        const ops = concurrentHistory(scripts, schedule);
        assert.ok(checkHistory(ops, kvModel).linearizable);
        const mutated = withImpossibleRead(ops, pick);
        if (mutated) {
          assert.equal(checkHistory(mutated, kvModel).linearizable, false);
        }
      },
    ),
  );
});

/** Tries every order of every subset that contains all completed ops. */
function bruteForce(ops: readonly Operation[], model: Model<Value>): boolean {
  const search = (state: Value, rest: readonly Operation[]): boolean =>
    rest.every((op) => op.return === null) ||
    rest.some((op) => {
      const mustWait = rest.some((other) =>
        other.return !== null && other.return < op.call
      );
      if (mustWait) return false;
      const next = model.step(state, op);
      return next.ok && search(next.state, rest.filter((o) => o !== op));
    });
  return search(model.init(), ops);
}

Deno.test("checker agrees with a brute-force search on small random histories", () => {
  const opArb = fc.record({
    input: fc.oneof(
      fc.constant(get("x")),
      valueArb.map((v) => put("x", v)),
      fc.constant(del("x")),
      fc.tuple(fc.option(valueArb, { nil: null }), valueArb)
        .map(([e, v]) => cas("x", e, v)),
    ),
    call: fc.nat(12),
    length: fc.nat(6),
    known: fc.constantFrom(true, true, true, false),
    read: fc.option(valueArb, { nil: null }),
    swapped: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 6 }), (specs) => {
      const ops = specs.map(
        ({ input, call, length, known, read, swapped }, id) => {
          const output = input.kind === "get"
            ? read
            : input.kind === "cas"
            ? { ok: swapped }
            : undefined;
          return {
            id,
            clientId: id,
            kind: input.kind,
            key: input.key,
            input,
            output: known ? output : undefined,
            call,
            return: known ? call + length : null,
          } as Operation;
        },
      );
      const result = checkHistory(ops, kvModel);
      assert.equal(result.linearizable, bruteForce(ops, kvModel));
      if (!result.linearizable) {
        const prefix = result.stuckPrefix ?? [];
        assert.equal(bruteForce(prefix, kvModel), false);
        assert.ok(result.linearizedBefore, "the prefix minus its end passes");
      }
    }),
    { numRuns: 500 },
  );
});
