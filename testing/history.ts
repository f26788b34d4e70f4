/**
 * Operation histories for linearizability checking, and the recorder a test
 * harness uses to build them.
 *
 * A history is a list of {@linkcode Operation}s: what a client asked for,
 * what it was told, and when it asked and was answered. Only the order of the
 * `call` and `return` times matters, so the recorder uses a logical clock by
 * default. A failed operation definitely did not happen and is left out; an
 * operation whose outcome is unknown (timed out, or never answered) keeps
 * `return: null` and may or may not have taken effect.
 *
 * @example Record two clients racing on one key
 * ```ts
 * import { HistoryRecorder } from "./history.ts";
 *
 * const recorder = new HistoryRecorder();
 * const put = recorder.invoke("c1", { kind: "put", key: "x", value: "a" });
 * const get = recorder.invoke("c2", { kind: "get", key: "x" });
 * recorder.ok(get, null);
 * recorder.ok(put);
 * const operations = recorder.operations();
 * ```
 *
 * @module
 */

/** Who issued an operation: a client or Jepsen process id. */
export type ClientId = string | number;

/** A stored value. `null` means the key is absent (the register is empty). */
export type Value = string | number | null;

/** Read one key of a key-value map. */
export interface GetInput {
  /** Operation kind. */
  readonly kind: "get";
  /** The key read. */
  readonly key: string;
}

/** Set one key of a key-value map. */
export interface PutInput {
  /** Operation kind. */
  readonly kind: "put";
  /** The key written. */
  readonly key: string;
  /** The new value; `null` makes the key absent. */
  readonly value: Value;
}

/** Make one key of a key-value map absent. */
export interface DeleteInput {
  /** Operation kind. */
  readonly kind: "delete";
  /** The key deleted. */
  readonly key: string;
}

/** Add a string to the end of a key's value (an absent key counts as `""`). */
export interface AppendInput {
  /** Operation kind. */
  readonly kind: "append";
  /** The key appended to. */
  readonly key: string;
  /** The text appended. */
  readonly value: string;
}

/** Compare-and-set: if the key holds `expect`, it becomes `value`. */
export interface CasInput {
  /** Operation kind. */
  readonly kind: "cas";
  /** The key compared and maybe set. */
  readonly key: string;
  /** The value compared with; `null` means "the key is absent". */
  readonly expect: Value;
  /** The value set when the compare matches. */
  readonly value: Value;
}

/** Read a register. */
export interface ReadInput {
  /** Operation kind. */
  readonly kind: "read";
  /** Which register. */
  readonly key: string;
}

/** Overwrite a register. */
export interface WriteInput {
  /** Operation kind. */
  readonly kind: "write";
  /** Which register. */
  readonly key: string;
  /** The new value. */
  readonly value: Value;
}

/** What a client asks for: one of the supported operation inputs. */
export type OperationInput =
  | GetInput
  | PutInput
  | DeleteInput
  | AppendInput
  | CasInput
  | ReadInput
  | WriteInput;

/** The name of an operation: `"get"`, `"put"`, `"cas"`, … */
export type OperationKind = OperationInput["kind"];

/** The input type for one operation kind. */
export type InputOf<K extends OperationKind> = Extract<
  OperationInput,
  { kind: K }
>;

/**
 * What a compare-and-set answered. `value`, when known, is the value the key
 * held right after the operation: the new value when it swapped, otherwise
 * the value that failed the compare.
 */
export interface CasOutput {
  /** Whether the compare matched and the value was swapped. */
  readonly ok: boolean;
  /** The key's value after the operation, when the store reports it. */
  readonly value?: Value;
}

/**
 * The answer each operation kind gets when it completes: reads get the value
 * read, a cas gets {@linkcode CasOutput}, writes get nothing.
 */
export type OutputByKind = {
  get: Value;
  read: Value;
  cas: CasOutput;
  put: undefined;
  delete: undefined;
  append: undefined;
  write: undefined;
};

/** The output type for one operation kind. */
export type OutputOf<K extends OperationKind> = OutputByKind[K];

/** One operation of a history, with a specific kind. */
export interface OperationOf<K extends OperationKind> {
  /** Position in invocation order; unique within a history. */
  readonly id: number;
  /** The client that issued it. */
  readonly clientId: ClientId;
  /** Same as `input.kind`, here so a union of operations narrows on it. */
  readonly kind: K;
  /** Same as `input.key`: keys are checked independently. */
  readonly key: string;
  /** What the client asked for. */
  readonly input: InputOf<K>;
  /** What the client was told; `undefined` when the outcome is unknown. */
  readonly output: OutputOf<K> | undefined;
  /** When it was invoked. */
  readonly call: number;
  /**
   * When it completed, or `null` when its outcome is unknown: it may have
   * taken effect at any instant after `call`, or never.
   */
  readonly return: number | null;
}

/** One operation of a history; narrow it with `operation.kind`. */
export type Operation = { [K in OperationKind]: OperationOf<K> }[OperationKind];

/** Names an invoked operation until it is completed. */
export interface OperationHandle<K extends OperationKind = OperationKind> {
  /** The id the operation gets in the history. */
  readonly id: number;
  /** The operation kind, so `ok` can demand the right output type. */
  readonly kind: K;
}

/**
 * The handle `invoke` returns. For a union of kinds it is a union of handles,
 * so a `switch` on `handle.kind` narrows what `ok` expects.
 */
export type HandleOf<K extends OperationKind> = K extends OperationKind
  ? OperationHandle<K>
  : never;

/** The arguments `ok` takes after the handle: an output only if the kind has one. */
export type OutputArgs<K extends OperationKind> = OutputOf<K> extends undefined
  ? []
  : [output: OutputOf<K>];

/** Options for {@linkcode HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /**
   * The clock stamped on invocations and completions. Must never go back.
   * Equal times count as overlapping. Defaults to a counter that ticks once
   * per event, which keeps the recorded order exact.
   */
  readonly now?: () => number;
}

type Status = "pending" | "ok" | "failed" | "unknown";

interface Slot {
  readonly clientId: ClientId;
  readonly input: OperationInput;
  readonly call: number;
  status: Status;
  output: OutputOf<OperationKind> | undefined;
  return: number | null;
}

/**
 * Records invocations and completions as a harness sees them, and turns them
 * into a history.
 *
 * @example
 * ```ts
 * import { HistoryRecorder } from "./history.ts";
 *
 * const recorder = new HistoryRecorder();
 * const cas = { kind: "cas", key: "x", expect: null, value: "a" } as const;
 * recorder.ok(recorder.invoke(1, cas), { ok: true, value: "a" });
 * const lost = recorder.invoke(2, { kind: "put", key: "x", value: "b" });
 * recorder.info(lost); // timed out: it may or may not have happened
 * ```
 */
export class HistoryRecorder {
  #slots: Slot[] = [];
  #now: () => number;
  #ticks = 0;
  #lastTime = -Infinity;

  /** Creates an empty recorder. */
  constructor(options: HistoryRecorderOptions = {}) {
    this.#now = options.now ?? (() => ++this.#ticks);
  }

  /**
   * Records that `clientId` invoked `input`.
   *
   * @param clientId The client issuing the operation.
   * @param input What it asks for.
   * @returns A handle to pass to {@linkcode HistoryRecorder.ok},
   * {@linkcode HistoryRecorder.fail} or {@linkcode HistoryRecorder.info}.
   */
  invoke<I extends OperationInput>(
    clientId: ClientId,
    input: I,
  ): HandleOf<I["kind"]> {
    const call = this.#time();
    const id = this.#slots.length;
    this.#slots.push({
      clientId,
      input,
      call,
      status: "pending",
      output: undefined,
      return: null,
    });
    return { id, kind: input.kind } as HandleOf<I["kind"]>;
  }

  /**
   * Records that the operation completed and took effect exactly once.
   *
   * @param handle The handle `invoke` returned.
   * @param output What the client was told, for kinds that return something.
   */
  ok<K extends OperationKind>(
    handle: OperationHandle<K>,
    ...output: OutputArgs<K>
  ): void {
    const slot = this.#complete(handle, "ok");
    slot.output = output[0];
    const needsOutput = handle.kind === "get" || handle.kind === "read" ||
      handle.kind === "cas";
    // A read without its result would silently check nothing.
    if (needsOutput && slot.output === undefined) {
      throw new TypeError(
        `Cannot complete operation #${handle.id} as ok: a ${handle.kind} needs an output`,
      );
    }
  }

  /**
   * Records that the operation definitely did not take effect. It is left out
   * of the history.
   *
   * @param handle The handle `invoke` returned.
   */
  fail(handle: OperationHandle): void {
    this.#complete(handle, "failed");
  }

  /**
   * Records that the outcome is unknown (timeout, lost connection): the
   * operation may take effect at any instant after its call, or never.
   *
   * @param handle The handle `invoke` returned.
   */
  info(handle: OperationHandle): void {
    this.#complete(handle, "unknown");
  }

  /**
   * The history so far, in invocation order. Failed operations are left out;
   * operations still pending count as having an unknown outcome.
   *
   * @returns A fresh array of operations.
   */
  operations(): Operation[] {
    const operations: Operation[] = [];
    this.#slots.forEach((slot, id) => {
      if (slot.status === "failed") return;
      const known = slot.status === "ok";
      operations.push(
        {
          id,
          clientId: slot.clientId,
          kind: slot.input.kind,
          key: slot.input.key,
          input: slot.input,
          output: known ? slot.output : undefined,
          call: slot.call,
          return: known ? slot.return : null,
        } as Operation,
      );
    });
    return operations;
  }

  #complete(handle: OperationHandle, status: Status): Slot {
    const slot = this.#slots[handle.id];
    if (slot === undefined || slot.input.kind !== handle.kind) {
      throw new RangeError(
        `Cannot complete operation #${handle.id} as this recorder never invoked it`,
      );
    }
    if (slot.status !== "pending") {
      throw new Error(
        `Cannot complete operation #${handle.id} as it already completed (${slot.status})`,
      );
    }
    slot.status = status;
    slot.return = this.#time();
    return slot;
  }

  #time(): number {
    const time = this.#now();
    if (!Number.isFinite(time) || time < this.#lastTime) {
      throw new RangeError(
        `Cannot record an event at time ${time} as the clock went back from ${this.#lastTime}`,
      );
    }
    this.#lastTime = time;
    return time;
  }
}

/**
 * A one-line description of an operation for failure reports, such as
 * `#4 client 2: get("x") -> "a" [call 7, return 9]`.
 *
 * @example
 * ```ts
 * import { describeOperation, HistoryRecorder } from "./history.ts";
 *
 * const recorder = new HistoryRecorder();
 * recorder.ok(recorder.invoke(2, { kind: "get", key: "x" }), "a");
 * const text = describeOperation(recorder.operations()[0]);
 * // text === '#0 client 2: get("x") -> "a" [call 1, return 2]'
 * ```
 *
 * @param operation The operation to describe.
 * @returns The description.
 */
export function describeOperation(operation: Operation): string {
  const show = (value: Value | undefined): string => JSON.stringify(value);
  const key = show(operation.key);
  let call: string;
  let result = "";
  switch (operation.kind) {
    case "get":
    case "read":
    case "delete":
      call = `${operation.kind}(${key})`;
      if (operation.kind !== "delete" && operation.output !== undefined) {
        result = ` -> ${show(operation.output)}`;
      }
      break;
    case "put":
    case "write":
    case "append":
      call = `${operation.kind}(${key}, ${show(operation.input.value)})`;
      break;
    case "cas": {
      const { expect, value } = operation.input;
      call = `cas(${key}, ${show(expect)} => ${show(value)})`;
      const output = operation.output;
      if (output !== undefined) {
        result = output.ok ? " -> swapped" : " -> not swapped";
        if (output.value !== undefined) result += ` (${show(output.value)})`;
      }
      break;
    }
  }
  const when = operation.return === null
    ? `[call ${operation.call}, outcome unknown]`
    : `[call ${operation.call}, return ${operation.return}]`;
  if (operation.return === null) result = " -> ?";
  return `#${operation.id} client ${operation.clientId}: ${call}${result} ${when}`;
}
