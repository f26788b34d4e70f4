import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  HistoryParseError,
  parseHistory,
} from "../../testing/parse_history.ts";

const jsonl = (...records: object[]): string =>
  records.map((record) => JSON.stringify(record)).join("\n");

Deno.test("jsonl parser pairs each completion with its client's invocation", () => {
  const text = jsonl(
    { client: 1, type: "invoke", f: "put", key: "x", value: "a" },
    { client: "b", type: "invoke", f: "get", key: "x" },
    { client: "b", type: "ok", f: "get", value: "a" },
    { client: 1, type: "ok" },
    { client: 2, type: "invoke", f: "cas", key: "x", expect: "a", value: null },
    { client: 2, type: "ok", ok: false },
    { client: 3, type: "invoke", f: "delete", key: "y" },
    { client: 3, type: "fail" },
    { client: 4, type: "invoke", f: "put", key: "y", value: "z" },
  );
  const ops = parseHistory(`\n${text}\n`, "jsonl");
  assert.deepEqual(
    ops.map((op) => [op.clientId, op.kind, op.output, op.call, op.return]),
    [
      [1, "put", undefined, 2, 5],
      ["b", "get", "a", 3, 4],
      [2, "cas", { ok: false }, 6, 7],
      [4, "put", undefined, 10, null], // never completed: unknown outcome
    ],
  );
});

Deno.test("jsonl parser names the line of a completion nobody invoked", () => {
  const text = jsonl(
    { client: 1, type: "invoke", f: "get", key: "x" },
    { client: 2, type: "ok", value: null },
  );
  assert.throws(
    () => parseHistory(text, "jsonl"),
    (error) =>
      error instanceof HistoryParseError && error.line === 2 &&
      /client 2 completed with nothing pending/.test(error.message),
  );
});

Deno.test("jsonl parser rejects a completion that names another key or kind", () => {
  const invoke = { client: 1, type: "invoke", f: "get", key: "x" };
  for (
    const completion of [
      { client: 1, type: "ok", key: "y", value: null },
      { client: 1, type: "ok", f: "put" },
      { client: 1, type: "ok" }, // a get must say what it read
    ]
  ) {
    assert.throws(
      () => parseHistory(jsonl(invoke, completion), "jsonl"),
      HistoryParseError,
    );
  }
});

Deno.test("jepsen-etcd parser reads a failed cas as not swapped and a failed read as unknown", () => {
  const line = (process: number, rest: string) =>
    `INFO  jepsen.util - ${process}\t${rest.replaceAll(" ", "\t")}`;
  const ops = parseHistory(
    [
      line(1, ":invoke :cas [1 4]"),
      line(1, ":fail :cas [1 4]"),
      line(2, ":invoke :read nil"),
      line(2, ":fail :read :timed-out"),
      line(3, ":invoke :write 2"),
      line(3, ":info :write :timed-out"),
      line(4, ":invoke :read nil"),
      line(4, ":ok :read nil"),
    ].join("\n"),
    "jepsen-etcd",
  );
  assert.deepEqual(
    ops.map((op) => [op.kind, op.input, op.output, op.return]),
    [
      ["cas", { kind: "cas", key: "register", expect: 1, value: 4 }, {
        ok: false,
      }, 2],
      ["read", { kind: "read", key: "register" }, undefined, null],
      ["write", { kind: "write", key: "register", value: 2 }, undefined, null],
      ["read", { kind: "read", key: "register" }, null, 8],
    ],
  );
});

Deno.test("jepsen-kv parser reads one EDN map per line", () => {
  const ops = parseHistory(
    [
      '{:process 2, :type :invoke, :f :append, :key "9", :value "x 2 0 y"}',
      '{:process 1, :type :invoke, :f :get, :key "9", :value nil}',
      '{:process 2, :type :ok, :f :append, :key "9", :value "x 2 0 y"}',
      '{:process 1, :type :ok, :f :get, :key "9", :value "x \\"q\\""}',
    ].join("\n"),
    "jepsen-kv",
  );
  assert.deepEqual(
    ops.map((op) => [op.clientId, op.kind, op.key, op.output]),
    [[2, "append", "9", undefined], [1, "get", "9", 'x "q"']],
  );
  assert.throws(
    () => parseHistory("{:process 1, :type :invoke :f}", "jepsen-kv"),
    HistoryParseError,
  );
});

// The command line, as `deno task check-history` runs it.
const CLI = fileURLToPath(
  new URL("../../testing/check_history.ts", import.meta.url),
);
const HISTORIES = new URL("../../shared/histories/", import.meta.url);

async function checkHistoryCli(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

const history = (name: string): string =>
  fileURLToPath(new URL(name, HISTORIES));

Deno.test("check-history prints linearizable and exits 0", async () => {
  const file = history("jsonl/concurrent-put-get.jsonl");
  const { code, stdout } = await checkHistoryCli(file, "--format", "jsonl");
  assert.equal(stdout, "linearizable\n");
  assert.equal(code, 0);
});

Deno.test("check-history explains where a history gets stuck and exits 1", async () => {
  const file = history("jsonl/stale-read.jsonl");
  const { code, stdout } = await checkHistoryCli(file, "--format", "jsonl");
  assert.match(stdout, /^not linearizable\n/);
  assert.match(stdout, /ends at line 6/);
  assert.match(stdout, /client 2: get\("x"\) -> "a"/);
  assert.equal(code, 1);
});

Deno.test("check-history exits 2 with a message on bad arguments or input", async () => {
  const file = history("kv/c01-ok.txt");
  for (
    const [args, message] of [
      [[file], /Expected --format/],
      [[file, "--format", "xml"], /Expected --format/],
      [["--format", "jsonl"], /Expected one history file/],
      [["missing.jsonl", "--format", "jsonl"], /Cannot check missing.jsonl/],
      [[file, "--format", "jsonl"], /Cannot parse line 1/],
    ] as const
  ) {
    const { code, stderr } = await checkHistoryCli(...args);
    assert.match(stderr, message);
    assert.equal(code, 2, `exit code for ${args.join(" ")}`);
  }
});
