/**
 * Sequential specifications for the linearizability checker: what a single,
 * atomic copy of the store would answer.
 *
 * The checker splits a history by key (keys are independent), so a model's
 * state is the value of one key, not a whole map. Every model is pure: `step`
 * never mutates, and `stateKey` gives equal strings for equal states so the
 * checker can remember configurations it has already ruled out.
 *
 * @example
 * ```ts
 * import { kvModel } from "./models.ts";
 * import { HistoryRecorder } from "./history.ts";
 *
 * const recorder = new HistoryRecorder();
 * recorder.ok(recorder.invoke(1, { kind: "get", key: "x" }), "a");
 * const [get] = recorder.operations();
 * kvModel.step(kvModel.init(), get).ok; // false: an absent key reads null
 * ```
 *
 * @module
 */

import type { Operation, Value } from "./history.ts";

/** Whether an operation is allowed from a state, and the state it leads to. */
export interface StepResult<S> {
  /** Whether the operation's recorded output matches the model. */
  readonly ok: boolean;
  /** The state after the operation (unchanged when `ok` is false). */
  readonly state: S;
}

/**
 * A sequential specification of one key's behavior.
 *
 * @example A counter key that only supports `put` of numbers and `get`
 * ```ts
 * import type { Model } from "./models.ts";
 *
 * const counter: Model<number> = {
 *   name: "counter",
 *   init: () => 0,
 *   step(state, operation) {
 *     if (operation.kind === "put") {
 *       return { ok: true, state: Number(operation.input.value) };
 *     }
 *     const ok = operation.kind === "get" &&
 *       (operation.output === undefined || operation.output === state);
 *     return { ok, state };
 *   },
 *   stateKey: String,
 * };
 * ```
 */
export interface Model<S> {
  /** A short name for reports. */
  readonly name: string;
  /** The state of a key nobody has touched. */
  init(): S;
  /**
   * Applies `operation` to `state`. An operation with an unknown outcome has
   * `output === undefined`; its output then constrains nothing.
   */
  step(state: S, operation: Operation): StepResult<S>;
  /** A string that is equal for two states exactly when they are equal. */
  stateKey(state: S): string;
  /**
   * True when `operation` never changes the state. The checker drops such
   * operations when their outcome is unknown, since they then prove nothing.
   */
  readOnly?(operation: Operation): boolean;
}

/** Options for {@linkcode createKvModel}. */
export interface KvModelOptions {
  /**
   * What a read of an absent key returns. Defaults to `null`. Jepsen's
   * key-value tests read never-written keys as `""`.
   */
  readonly absentValue?: Value;
}

const stateKey = (state: Value): string => JSON.stringify(state);

function unsupported(model: string, operation: Operation): never {
  throw new TypeError(
    `Cannot step the ${model} model with a "${operation.kind}" operation`,
  );
}

/** Compare-and-set, shared by both models. */
function stepCas(state: Value, operation: Operation): StepResult<Value> {
  if (operation.kind !== "cas") throw new TypeError("Expected a cas");
  const { expect, value } = operation.input;
  const matches = state === expect;
  const next = matches ? value : state;
  const output = operation.output;
  if (output === undefined) return { ok: true, state: next };
  const ok = output.ok === matches &&
    (output.value === undefined || output.value === next);
  return ok ? { ok, state: next } : { ok, state };
}

function reads(state: Value, output: Value | undefined): StepResult<Value> {
  return { ok: output === undefined || output === state, state };
}

/**
 * Creates a key-value model with `get`, `put`, `delete`, `cas` and `append`.
 * The state is the key's visible value, so a deleted key holds `absentValue`.
 *
 * @example
 * ```ts
 * import { createKvModel } from "./models.ts";
 *
 * // Jepsen's key-value histories read keys never written as "".
 * const jepsenKv = createKvModel({ absentValue: "" });
 * jepsenKv.init(); // ""
 * ```
 *
 * @param options How absent keys read.
 * @returns The model.
 */
export function createKvModel(options: KvModelOptions = {}): Model<Value> {
  const absent = options.absentValue ?? null;
  return {
    name: "key-value",
    init: () => absent,
    step(state: Value, operation: Operation): StepResult<Value> {
      switch (operation.kind) {
        case "get":
          return reads(state, operation.output);
        case "put":
          return { ok: true, state: operation.input.value };
        case "delete":
          return { ok: true, state: absent };
        case "append":
          return {
            ok: true,
            state: `${state ?? ""}${operation.input.value}`,
          };
        case "cas":
          return stepCas(state, operation);
        default:
          return unsupported("key-value", operation);
      }
    },
    stateKey,
    readOnly: (operation: Operation): boolean => operation.kind === "get",
  };
}

/**
 * The key-value model where an absent key reads as `null`.
 *
 * @example
 * ```ts
 * import { kvModel } from "./models.ts";
 * import { HistoryRecorder } from "./history.ts";
 *
 * const recorder = new HistoryRecorder();
 * recorder.ok(recorder.invoke(1, { kind: "put", key: "x", value: "a" }));
 * recorder.ok(recorder.invoke(1, { kind: "get", key: "x" }), "a");
 * const [put, get] = recorder.operations();
 * const afterPut = kvModel.step(kvModel.init(), put).state;
 * kvModel.step(afterPut, get).ok; // true
 * ```
 */
export const kvModel: Model<Value> = createKvModel();

/**
 * A register with `read`, `write` and `cas`, initially empty (`null`), as in
 * Jepsen's etcd test.
 *
 * @example
 * ```ts
 * import { registerModel } from "./models.ts";
 * import { HistoryRecorder } from "./history.ts";
 *
 * const recorder = new HistoryRecorder();
 * recorder.ok(
 *   recorder.invoke(1, { kind: "cas", key: "r", expect: 1, value: 2 }),
 *   { ok: true },
 * );
 * const [cas] = recorder.operations();
 * registerModel.step(registerModel.init(), cas).ok; // false: it held null
 * ```
 */
export const registerModel: Model<Value> = {
  name: "register",
  init: () => null,
  step(state: Value, operation: Operation): StepResult<Value> {
    switch (operation.kind) {
      case "read":
        return reads(state, operation.output);
      case "write":
        return { ok: true, state: operation.input.value };
      case "cas":
        return stepCas(state, operation);
      default:
        return unsupported("register", operation);
    }
  },
  stateKey,
  readOnly: (operation: Operation): boolean => operation.kind === "read",
};
