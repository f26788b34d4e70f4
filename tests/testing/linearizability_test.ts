import assert from "node:assert/strict";
import { HistoryRecorder, type Value } from "../../testing/history.ts";
import { checkHistory } from "../../testing/linearizability.ts";
import {
  createKvModel,
  kvModel,
  type Model,
  registerModel,
} from "../../testing/models.ts";
import {
  type HistoryFormat,
  modelForFormat,
  parseHistory,
} from "../../testing/parse_history.ts";
import { append, cas, del, done, get, put, read, write } from "./_ops.ts";

const HISTORIES = new URL("../../shared/histories/", import.meta.url);
const FORMAT_OF_FOLDER: Record<string, HistoryFormat> = {
  "jepsen-etcd": "jepsen-etcd",
  "kv": "jepsen-kv",
  "jsonl": "jsonl",
};
const NOT_HISTORIES = new Set(["VERDICTS", "LICENSE-data.md", "README.md"]);
const DECIDE_WITHIN_MS = 5_000;

function readVerdicts(text: string): Map<string, boolean> {
  const verdicts = new Map<string, boolean>();
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const [file, verdict] = line.split(/\s+/);
    assert.ok(/^(not-)?linearizable$/.test(verdict), `bad verdict: ${line}`);
    verdicts.set(file, verdict === "linearizable");
  }
  return verdicts;
}

async function listNames(dir: URL, want: "file" | "dir"): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (want === "dir" ? entry.isDirectory : entry.isFile) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

Deno.test("checker agrees with VERDICTS on every recorded history, deciding each in under 5 s", async (t) => {
  assert.deepEqual(
    await listNames(HISTORIES, "dir"),
    Object.keys(FORMAT_OF_FOLDER).sort(),
    "every history folder has a known format",
  );
  const timings: { name: string; ms: number }[] = [];
  for (const [folder, format] of Object.entries(FORMAT_OF_FOLDER)) {
    const dir = new URL(`${folder}/`, HISTORIES);
    const verdicts = readVerdicts(
      await Deno.readTextFile(new URL("VERDICTS", dir)),
    );
    const files = await listNames(dir, "file");
    assert.deepEqual(
      files.filter((name) => !NOT_HISTORIES.has(name)),
      [...verdicts.keys()].sort(),
      `${folder}: VERDICTS lists exactly the histories in the folder`,
    );
    for (const [name, expected] of verdicts) {
      const verdict = expected ? "linearizable" : "not linearizable";
      await t.step(`${folder}/${name} is ${verdict}`, async () => {
        const text = await Deno.readTextFile(new URL(name, dir));
        const operations = parseHistory(text, format);
        const model = modelForFormat(format);
        const started = performance.now();
        const result = checkHistory(operations, model, {
          timeoutMs: DECIDE_WITHIN_MS,
        });
        const ms = performance.now() - started;
        timings.push({ name: `${folder}/${name}`, ms });
        assert.equal(result.timedOut, undefined, "decided in time");
        assert.ok(ms < DECIDE_WITHIN_MS, `took ${ms.toFixed(0)} ms`);
        assert.equal(result.linearizable, expected);
        if (!result.linearizable) {
          // The report is a counterexample on its own.
          assert.ok(result.stuckOn && result.stuckPrefix);
          assert.equal(
            checkHistory(result.stuckPrefix, model).linearizable,
            false,
          );
        }
      });
    }
  }
  timings.sort((a, b) => b.ms - a.ms);
  const slowest = timings.slice(0, 3).map(({ name, ms }) =>
    `${name} ${ms.toFixed(0)} ms`
  );
  console.log(`slowest histories: ${slowest.join(", ")}`);
});

// Hand-made histories.
function linearizable(
  build: (recorder: HistoryRecorder) => void,
  model: Model<Value> = kvModel,
): boolean {
  const recorder = new HistoryRecorder();
  build(recorder);
  return checkHistory(recorder.operations(), model).linearizable;
}

Deno.test("checker rejects a stale read after an acknowledged write", () => {
  const recorder = new HistoryRecorder();
  done(recorder, 1, put("x", "a"));
  done(recorder, 1, put("x", "b"));
  done(recorder, 2, get("x"), "a");
  const result = checkHistory(recorder.operations(), kvModel);
  assert.equal(result.linearizable, false);
  assert.equal(result.key, "x");
  assert.equal(result.stuckOn?.id, 2);
  assert.deepEqual(result.linearizedBefore?.map((op) => op.id), [0, 1]);
});

Deno.test("checker accepts a read overlapping a write whether it sees the old or new value", () => {
  for (const seen of [null, "a"]) {
    assert.ok(linearizable((r) => {
      const writing = r.invoke(1, put("x", "a"));
      done(r, 2, get("x"), seen);
      r.ok(writing);
    }));
  }
  assert.equal(
    linearizable((r) => {
      const writing = r.invoke(1, put("x", "a"));
      done(r, 2, get("x"), "a");
      done(r, 3, get("x"), null); // the new value was already visible
      r.ok(writing);
    }),
    false,
  );
});

Deno.test("checker rejects a read of a value before its write was invoked", () => {
  assert.equal(
    linearizable((r) => {
      done(r, 2, get("x"), "a");
      done(r, 1, put("x", "a"));
    }),
    false,
  );
});

Deno.test("an operation with an unknown outcome may take effect late or never, but only once", () => {
  const lost = (then: (r: HistoryRecorder) => void) =>
    linearizable((r) => {
      r.info(r.invoke(1, put("x", "a")));
      then(r);
    });
  assert.ok(lost((r) => done(r, 2, get("x"), null)));
  assert.ok(lost((r) => done(r, 2, get("x"), "a")));
  assert.ok(lost((r) => {
    done(r, 2, get("x"), null);
    done(r, 2, get("x"), "a");
  }));
  assert.equal(
    lost((r) => {
      done(r, 2, get("x"), "a");
      done(r, 2, get("x"), null);
    }),
    false,
  );
  // It cannot take effect before it was invoked.
  assert.equal(
    linearizable((r) => {
      done(r, 2, get("x"), "a");
      r.info(r.invoke(1, put("x", "a")));
    }),
    false,
  );
});

Deno.test("operations never completed count as having an unknown outcome", () => {
  const recorder = new HistoryRecorder();
  recorder.invoke(1, put("x", "a"));
  done(recorder, 2, get("x"), "a");
  const [pending] = recorder.operations();
  assert.equal(pending.return, null);
  assert.ok(checkHistory(recorder.operations(), kvModel).linearizable);
});

Deno.test("checker ignores a failed operation", () => {
  assert.ok(linearizable((r) => {
    r.fail(r.invoke(1, put("x", "a")));
    done(r, 2, get("x"), null);
  }));
  assert.equal(
    linearizable((r) => {
      r.fail(r.invoke(1, put("x", "a")));
      done(r, 2, get("x"), "a");
    }),
    false,
  );
});

Deno.test("compare-and-set swaps exactly when the key holds the expected value", () => {
  assert.ok(linearizable((r) => {
    done(r, 1, cas("x", null, "a"), { ok: true, value: "a" });
    done(r, 1, cas("x", "b", "c"), { ok: false, value: "a" });
    done(r, 2, get("x"), "a");
  }));
  assert.equal(
    linearizable((r) => done(r, 1, cas("x", "a", "b"), { ok: true })),
    false,
  );
  assert.equal(
    linearizable((r) => done(r, 1, cas("x", null, "b"), { ok: false })),
    false,
  );
  assert.equal(
    linearizable((r) =>
      done(r, 1, cas("x", "z", "b"), { ok: false, value: "z" })
    ),
    false,
  );
  // A cas that did not match still happened at one instant.
  assert.equal(
    linearizable((r) => {
      done(r, 1, put("x", "a"));
      done(r, 2, cas("x", "a", "b"), { ok: false });
    }),
    false,
  );
});

Deno.test("a delete makes the key absent again", () => {
  assert.ok(linearizable((r) => {
    done(r, 1, put("x", "a"));
    done(r, 1, del("x"));
    done(r, 2, get("x"), null);
    done(r, 2, cas("x", null, "b"), { ok: true });
  }));
  assert.equal(
    linearizable((r) => {
      done(r, 1, put("x", "a"));
      done(r, 1, del("x"));
      done(r, 2, get("x"), "a");
    }),
    false,
  );
});

Deno.test("appends take effect once each, concurrent ones in either order", () => {
  const twoAppends = (seen: string) =>
    linearizable((r) => {
      const first = r.invoke(1, append("x", "a"));
      done(r, 2, append("x", "b"));
      r.ok(first);
      done(r, 3, get("x"), seen);
    });
  assert.ok(twoAppends("ab"));
  assert.ok(twoAppends("ba"));
  assert.equal(twoAppends("a"), false);
  assert.equal(twoAppends("abb"), false);
});

Deno.test("checker checks every key on its own", () => {
  assert.ok(linearizable((r) => {
    done(r, 1, put("x", "a"));
    done(r, 1, put("y", "b"));
    done(r, 2, get("y"), "b");
    done(r, 2, get("x"), "a");
  }));
  const recorder = new HistoryRecorder();
  done(recorder, 1, put("x", "a"));
  done(recorder, 2, get("y"), "a");
  const result = checkHistory(recorder.operations(), kvModel);
  assert.equal(result.linearizable, false);
  assert.equal(result.key, "y");
});

Deno.test("register model rejects a stale read and follows compare-and-set", () => {
  assert.equal(
    linearizable((r) => {
      done(r, 1, write("r", 1));
      done(r, 1, write("r", 2));
      done(r, 2, read("r"), 1);
    }, registerModel),
    false,
  );
  assert.ok(linearizable((r) => {
    done(r, 1, write("r", 1));
    done(r, 2, cas("r", 1, 3), { ok: true });
    done(r, 1, cas("r", 1, 4), { ok: false });
    done(r, 2, read("r"), 3);
  }, registerModel));
  assert.throws(
    () => linearizable((r) => done(r, 1, get("r"), null), registerModel),
    /Cannot step the register model with a "get" operation/,
  );
});

Deno.test("key-value model can read absent keys as the empty string", () => {
  const model = createKvModel({ absentValue: "" });
  assert.ok(linearizable((r) => {
    done(r, 1, get("x"), "");
    done(r, 1, append("x", "a"));
    done(r, 1, get("x"), "a");
    done(r, 1, del("x"));
    done(r, 1, get("x"), "");
  }, model));
});

Deno.test("events at equal times overlap", () => {
  let now = 0;
  const recorder = new HistoryRecorder({ now: () => now });
  const writing = recorder.invoke(1, put("x", "a"));
  now = 1;
  recorder.ok(writing);
  const reading = recorder.invoke(2, get("x")); // same instant as the ack
  now = 2;
  recorder.ok(reading, null);
  assert.ok(checkHistory(recorder.operations(), kvModel).linearizable);
});

Deno.test("checker reports a timeout instead of a verdict when time runs out", () => {
  const recorder = new HistoryRecorder();
  done(recorder, 1, put("x", "a"));
  const result = checkHistory(recorder.operations(), kvModel, { timeoutMs: 0 });
  assert.deepEqual(result, { linearizable: false, timedOut: true });
});

Deno.test("recorder refuses to complete an operation twice", () => {
  const recorder = new HistoryRecorder();
  const handle = recorder.invoke(1, put("x", "a"));
  recorder.ok(handle);
  assert.throws(() => recorder.fail(handle), /already completed/);
});
