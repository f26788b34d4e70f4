/**
 * Parsers for recorded histories, in the three formats that
 * `shared/histories/README.md` defines:
 *
 * - `jepsen-etcd`: Jepsen's etcd register log (`read`, `write`, `cas`).
 * - `jepsen-kv`: one EDN map per line (`get`, `put`, `append`).
 * - `jsonl`: one JSON object per line (`get`, `put`, `cas`, `delete`).
 *
 * Operation times are the line numbers of the invocation and completion, so
 * failure reports point straight into the file.
 *
 * @example
 * ```ts
 * import { modelForFormat, parseHistory } from "./parse_history.ts";
 * import { checkHistory } from "./linearizability.ts";
 *
 * const text = [
 *   '{"client": 1, "type": "invoke", "f": "put", "key": "x", "value": "a"}',
 *   '{"client": 1, "type": "ok"}',
 * ].join("\n");
 * const operations = parseHistory(text, "jsonl");
 * checkHistory(operations, modelForFormat("jsonl")).linearizable; // true
 * ```
 *
 * @module
 */

import {
  type ClientId,
  type HandleOf,
  HistoryRecorder,
  type Operation,
  type OperationInput,
  type OperationKind,
  type Value,
} from "./history.ts";
import { createKvModel, kvModel, type Model, registerModel } from "./models.ts";

/**
 * The history formats this module reads.
 *
 * @example
 * ```ts
 * import { HISTORY_FORMATS } from "./parse_history.ts";
 *
 * HISTORY_FORMATS.includes("jsonl"); // true
 * ```
 */
export const HISTORY_FORMATS: readonly HistoryFormat[] = [
  "jepsen-etcd",
  "jepsen-kv",
  "jsonl",
];

/** A history format name, as `--format` takes it. */
export type HistoryFormat = "jepsen-etcd" | "jepsen-kv" | "jsonl";

/**
 * Thrown when a history file does not follow its format.
 *
 * @example
 * ```ts
 * import { HistoryParseError, parseHistory } from "./parse_history.ts";
 *
 * try {
 *   parseHistory('{"client": 1, "type": "ok"}', "jsonl");
 * } catch (error) {
 *   if (error instanceof HistoryParseError) error.line; // 1
 * }
 * ```
 */
export class HistoryParseError extends Error {
  /** The 1-based line where the problem is. */
  readonly line: number;

  /**
   * Creates the error for one line.
   *
   * @param line The 1-based line number.
   * @param message What is wrong with it.
   */
  constructor(line: number, message: string) {
    super(`Cannot parse line ${line}: ${message}`);
    this.name = "HistoryParseError";
    this.line = line;
  }
}

/**
 * The model whose semantics a format's README section describes.
 *
 * @example
 * ```ts
 * import { modelForFormat } from "./parse_history.ts";
 *
 * modelForFormat("jepsen-kv").init(); // "": unwritten keys read as ""
 * ```
 *
 * @param format The format name.
 * @returns The model to check histories of that format with.
 */
export function modelForFormat(format: HistoryFormat): Model<Value> {
  switch (format) {
    case "jepsen-etcd":
      return registerModel;
    case "jepsen-kv":
      return jepsenKvModel;
    case "jsonl":
      return kvModel;
  }
}

const jepsenKvModel = createKvModel({ absentValue: "" });

/**
 * Parses a history file.
 *
 * @example
 * ```ts
 * import { parseHistory } from "./parse_history.ts";
 *
 * const operations = parseHistory(
 *   "INFO  jepsen.util - 3\t:invoke\t:write\t4\n" +
 *     "INFO  jepsen.util - 3\t:ok\t:write\t4\n",
 *   "jepsen-etcd",
 * );
 * operations[0].kind; // "write"
 * ```
 *
 * @param text The file's contents.
 * @param format Which format it is in.
 * @returns The operations, in invocation order.
 * @throws {HistoryParseError} When a line does not follow the format.
 */
export function parseHistory(text: string, format: HistoryFormat): Operation[] {
  const lines = text.split(/\r?\n/);
  const reader = new LineReader();
  const parseLine = LINE_PARSERS[format];
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    reader.line = index + 1;
    try {
      parseLine(line, reader);
    } catch (error) {
      if (error instanceof HistoryParseError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new HistoryParseError(reader.line, reason);
    }
  });
  return reader.recorder.operations();
}

/** What a completion line says happened; `output` only matters for ok. */
interface Completion {
  readonly type: "ok" | "fail" | "info";
  readonly output?: unknown;
}

/** Pairs invocations with completions per client and records them. */
class LineReader {
  line = 0;
  readonly recorder: HistoryRecorder = new HistoryRecorder({
    now: () => this.line,
  });
  #pending = new Map<
    ClientId,
    { handle: HandleOf<OperationKind>; input: OperationInput }
  >();

  invoke(client: ClientId, input: OperationInput): void {
    if (this.#pending.has(client)) {
      throw new Error(`client ${client} invoked while its last op is pending`);
    }
    const handle = this.recorder.invoke(client, input);
    this.#pending.set(client, { handle, input });
  }

  /** The client's pending operation, or an error if there is none. */
  pending(client: ClientId): OperationInput {
    const pending = this.#pending.get(client);
    if (pending === undefined) {
      throw new Error(`client ${client} completed with nothing pending`);
    }
    return pending.input;
  }

  complete(client: ClientId, completion: Completion): void {
    const { handle } = this.#pending.get(client)!;
    this.#pending.delete(client);
    if (completion.type === "fail") return this.recorder.fail(handle);
    if (completion.type === "info") return this.recorder.info(handle);
    const output = completion.output;
    switch (handle.kind) {
      case "get":
      case "read":
        return this.recorder.ok(handle, value(output));
      case "cas": {
        if (typeof output !== "boolean") {
          throw new Error(`a completed cas needs "ok": true or false`);
        }
        return this.recorder.ok(handle, { ok: output });
      }
      default:
        return this.recorder.ok(handle);
    }
  }
}

function value(raw: unknown): Value {
  if (raw === null || typeof raw === "string" || typeof raw === "number") {
    return raw;
  }
  throw new Error(`expected a string, number or null, got ${String(raw)}`);
}

const LINE_PARSERS: Record<
  HistoryFormat,
  (line: string, reader: LineReader) => void
> = {
  "jepsen-etcd": parseEtcdLine,
  "jepsen-kv": parseKvLine,
  "jsonl": parseJsonLine,
};

/** The register all `jepsen-etcd` operations act on. */
const REGISTER = "register";

const ETCD_LINE =
  /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;

function parseEtcdLine(line: string, reader: LineReader): void {
  const match = ETCD_LINE.exec(line);
  if (match === null) throw new Error("not a jepsen.util operation line");
  const [, process, type, f, rawValue] = match;
  const client = Number(process);
  if (type === "invoke") {
    if (f === "read") {
      return reader.invoke(client, { kind: "read", key: REGISTER });
    }
    if (f === "write") {
      return reader.invoke(client, {
        kind: "write",
        key: REGISTER,
        value: etcdInteger(rawValue),
      });
    }
    const [expect, value] = etcdPair(rawValue);
    return reader.invoke(client, { kind: "cas", key: REGISTER, expect, value });
  }
  const { kind } = reader.pending(client);
  if (kind !== f) throw new Error(`completes a ${f}, but a ${kind} is pending`);
  if (type === "info") return reader.complete(client, { type: "info" });
  if (type === "fail") {
    // The README: a failed read timed out (unknown); a failed cas completed
    // without a match; a failed write did not happen.
    if (f === "read") return reader.complete(client, { type: "info" });
    if (f === "cas") {
      return reader.complete(client, { type: "ok", output: false });
    }
    return reader.complete(client, { type: "fail" });
  }
  const output = f === "read" ? etcdNullableInteger(rawValue) : f === "cas";
  reader.complete(client, { type: "ok", output });
}

function etcdNullableInteger(raw: string): number | null {
  return raw === "nil" ? null : etcdInteger(raw);
}

function etcdInteger(raw: string): number {
  if (!/^-?\d+$/.test(raw)) throw new Error(`expected an integer: ${raw}`);
  return Number(raw);
}

function etcdPair(raw: string): [number | null, number | null] {
  const match = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(raw);
  if (match === null) throw new Error(`expected [A B]: ${raw}`);
  return [etcdNullableInteger(match[1]), etcdNullableInteger(match[2])];
}

/** An EDN keyword such as `:get`, kept apart from strings. */
interface Keyword {
  readonly keyword: string;
}

type EdnScalar = string | number | boolean | null | Keyword;

const EDN_TOKEN =
  /\s*(?:([{}])|:([\w\-.?!*+/<>=]+)|"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|(nil|true|false))\s*,?/y;

/** Reads one flat EDN map, the only shape `jepsen-kv` lines have. */
function parseEdnMap(line: string): Map<string, EdnScalar> {
  const tokens: EdnScalar[] = [];
  let braces = "";
  EDN_TOKEN.lastIndex = 0;
  while (EDN_TOKEN.lastIndex < line.length) {
    const at = EDN_TOKEN.lastIndex;
    const m = EDN_TOKEN.exec(line);
    if (m === null) throw new Error(`unexpected EDN at column ${at + 1}`);
    const [, brace, keyword, string, number, word] = m;
    if (brace !== undefined) braces += brace;
    else if (keyword !== undefined) tokens.push({ keyword });
    else if (string !== undefined) tokens.push(JSON.parse(`"${string}"`));
    else if (number !== undefined) tokens.push(Number(number));
    else tokens.push(word === "nil" ? null : word === "true");
  }
  if (braces !== "{}" || !line.trim().startsWith("{") || tokens.length % 2) {
    throw new Error("expected one flat {:key value, …} map");
  }
  const map = new Map<string, EdnScalar>();
  for (let i = 0; i < tokens.length; i += 2) {
    map.set(keywordName(tokens[i], "a map key"), tokens[i + 1]);
  }
  return map;
}

function keywordName(token: EdnScalar | undefined, what: string): string {
  if (token !== null && typeof token === "object") return token.keyword;
  throw new Error(
    `expected a keyword for ${what}, got ${JSON.stringify(token)}`,
  );
}

function parseKvLine(line: string, reader: LineReader): void {
  const map = parseEdnMap(line);
  const process = map.get("process");
  if (typeof process !== "number") throw new Error("expected :process N");
  const type = keywordName(map.get("type"), ":type");
  const f = keywordName(map.get("f"), ":f");
  const key = map.get("key");
  const raw = map.get("value");
  if (typeof key !== "string") throw new Error('expected :key "…"');
  if (f !== "get" && f !== "put" && f !== "append") {
    throw new Error(`unknown :f :${f}`);
  }
  if (type === "invoke") {
    if (f === "get") return reader.invoke(process, { kind: "get", key });
    if (typeof raw !== "string") throw new Error(`:${f} needs a string :value`);
    return reader.invoke(process, { kind: f, key, value: raw });
  }
  if (type !== "ok" && type !== "fail" && type !== "info") {
    throw new Error(`unknown :type :${type}`);
  }
  const pending = reader.pending(process);
  if (pending.kind !== f || pending.key !== key) {
    throw new Error(
      `completes ${f} ${key}, but ${pending.kind} ${pending.key} is pending`,
    );
  }
  if (type === "ok" && f === "get" && typeof raw !== "string") {
    throw new Error("a completed :get needs a string :value");
  }
  reader.complete(process, type === "ok" ? { type, output: raw } : { type });
}

function parseJsonLine(line: string, reader: LineReader): void {
  const record: unknown = JSON.parse(line);
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new Error("expected a JSON object");
  }
  const fields = record as Record<string, unknown>;
  const { client, type, f, key } = fields;
  if (typeof client !== "string" && typeof client !== "number") {
    throw new Error('"client" must be a string or a number');
  }
  if (type === "invoke") {
    if (typeof key !== "string") throw new Error('"key" must be a string');
    const input = jsonInput(f, key, fields);
    return reader.invoke(client, input);
  }
  if (type !== "ok" && type !== "fail" && type !== "info") {
    throw new Error(`unknown "type": ${JSON.stringify(type)}`);
  }
  const pending = reader.pending(client);
  const kind = pending.kind;
  if (f !== undefined && f !== kind) {
    throw new Error(`"f" is ${JSON.stringify(f)} but a ${kind} is pending`);
  }
  if (key !== undefined && key !== pending.key) {
    const invoked = JSON.stringify(pending.key);
    throw new Error(
      `"key" is ${JSON.stringify(key)} but ${invoked} was invoked`,
    );
  }
  if (type !== "ok") return reader.complete(client, { type });
  if (kind === "get" && !("value" in fields)) {
    throw new Error('a completed get needs "value"');
  }
  const output = kind === "cas" ? fields.ok : fields.value;
  reader.complete(client, { type, output });
}

function jsonInput(
  f: unknown,
  key: string,
  fields: Record<string, unknown>,
): OperationInput {
  const field = (name: string): Value => {
    if (!(name in fields)) throw new Error(`a ${f} needs "${name}"`);
    const raw = fields[name];
    if (raw === null || typeof raw === "string") return raw;
    throw new Error(`"${name}" must be a string or null`);
  };
  switch (f) {
    case "get":
      return { kind: "get", key };
    case "delete":
      return { kind: "delete", key };
    case "put":
      return { kind: "put", key, value: field("value") };
    case "cas":
      return {
        kind: "cas",
        key,
        expect: field("expect"),
        value: field("value"),
      };
    default:
      throw new Error(`unknown "f": ${JSON.stringify(f)}`);
  }
}
