// The message schema: validateMessage rejects every malformed field, and
// nothing that is malformed, misaddressed or from a stranger changes a
// node's state.
import assert from "node:assert/strict";
import { InvalidMessageError } from "../../kernel/errors.ts";
import { RaftCore } from "../../kernel/core.ts";
import {
  encodeChunk,
  type Message,
  MESSAGE_VERSION,
  validateMessage,
} from "../../kernel/messages.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { CoreCluster } from "../../testing/core_cluster.ts";

type Raw = Record<string, unknown>;

const HEADER = { v: MESSAGE_VERSION, term: 3, from: "a", to: "b" };
const entry = (index: number, term: number): Raw => ({
  index,
  term,
  kind: "command",
  command: { op: "put" },
});

/** One well-formed message of every type. */
const VALID: Record<Message["type"], Raw> = {
  append: {
    ...HEADER,
    type: "append",
    prevLogIndex: 4,
    prevLogTerm: 2,
    entries: [entry(5, 2), entry(6, 3)],
    leaderCommit: 4,
    seq: 1,
  },
  appendReply: {
    ...HEADER,
    type: "appendReply",
    success: false,
    matchIndex: 0,
    rejectedIndex: 4,
    hintIndex: 2,
    hintTerm: 1,
    seq: 1,
  },
  vote: {
    ...HEADER,
    type: "vote",
    lastLogIndex: 6,
    lastLogTerm: 3,
    preVote: true,
    transfer: false,
  },
  voteReply: { ...HEADER, type: "voteReply", granted: true, preVote: false },
  timeoutNow: { ...HEADER, type: "timeoutNow" },
  snapshot: {
    ...HEADER,
    type: "snapshot",
    lastIncludedIndex: 9,
    lastIncludedTerm: 2,
    offset: 0,
    total: 3,
    data: encodeChunk(new Uint8Array([1, 2, 3])),
    done: true,
    voters: ["a", "b", "c"],
    nonVoters: [],
  },
  snapshotReply: {
    ...HEADER,
    type: "snapshotReply",
    lastIncludedIndex: 9,
    offset: 3,
    done: true,
  },
  propose: {
    ...HEADER,
    type: "propose",
    session: "s1",
    requestId: 7,
    command: { op: "put" },
  },
  readIndex: { ...HEADER, type: "readIndex", session: "s1", requestId: 8 },
  readIndexReply: {
    ...HEADER,
    type: "readIndexReply",
    session: "s1",
    requestId: 8,
    index: 12,
    refused: null,
    leaderId: null,
  },
  proposeReply: {
    ...HEADER,
    type: "proposeReply",
    session: "s1",
    requestId: 7,
    index: 12,
    entryTerm: 3,
    refused: null,
    leaderId: null,
  },
};

const NOT_COUNTERS: [unknown, string][] = [
  [-1, "negative"],
  [1.5, "fraction"],
  ["3", "string"],
  [Number.NaN, "NaN"],
  [Infinity, "Infinity"],
  [Number.MAX_SAFE_INTEGER + 2, "too large"],
  [undefined, "missing"],
  [null, "null"],
];

const NOT_FLAGS: unknown[] = ["true", 1, null, undefined];

/** Every counter and flag field by message type. */
const FIELDS: Record<Message["type"], { counters: string[]; flags: string[] }> =
  {
    append: {
      counters: ["term", "prevLogIndex", "prevLogTerm", "leaderCommit", "seq"],
      flags: [],
    },
    appendReply: {
      counters: [
        "term",
        "matchIndex",
        "rejectedIndex",
        "hintIndex",
        "hintTerm",
        "seq",
      ],
      flags: ["success"],
    },
    vote: {
      counters: ["term", "lastLogIndex", "lastLogTerm"],
      flags: ["preVote", "transfer"],
    },
    voteReply: { counters: ["term"], flags: ["granted", "preVote"] },
    timeoutNow: { counters: ["term"], flags: [] },
    snapshot: {
      counters: [
        "term",
        "lastIncludedIndex",
        "lastIncludedTerm",
        "offset",
        "total",
      ],
      flags: ["done"],
    },
    snapshotReply: {
      counters: ["term", "lastIncludedIndex", "offset"],
      flags: ["done"],
    },
    propose: { counters: ["term", "requestId"], flags: [] },
    readIndex: { counters: ["term", "requestId"], flags: [] },
    readIndexReply: { counters: ["term", "requestId", "index"], flags: [] },
    proposeReply: {
      counters: ["term", "requestId", "index", "entryTerm"],
      flags: [],
    },
  };

function rejects(raw: unknown, pattern: RegExp, label: string): void {
  assert.throws(
    () => validateMessage(raw),
    (error: unknown) => {
      assert.ok(error instanceof InvalidMessageError, `${label}: ${error}`);
      assert.match(error.message, /^Cannot accept the message: /, label);
      assert.match(error.message, pattern, label);
      return true;
    },
    label,
  );
}

Deno.test("validateMessage accepts one well-formed message of every type and returns it", () => {
  for (const [type, raw] of Object.entries(VALID)) {
    assert.equal(validateMessage(raw), raw, type);
  }
});

Deno.test("validateMessage rejects a non-object, a wrong version and an unknown type", () => {
  for (const raw of [null, undefined, 7, "append", [VALID.vote]]) {
    rejects(raw, /not an object/, JSON.stringify(raw) ?? "undefined");
  }
  rejects({ ...VALID.vote, v: 2 }, /unknown version 2/, "v 2");
  rejects({ ...VALID.vote, v: undefined }, /unknown version/, "no v");
  rejects({ ...VALID.vote, type: "bogus" }, /unknown type "bogus"/, "type");
  rejects({ ...VALID.vote, type: undefined }, /unknown type/, "no type");
});

Deno.test("validateMessage rejects each malformed counter, flag and id of every type", () => {
  let cases = 0;
  for (const [type, { counters, flags }] of Object.entries(FIELDS)) {
    const base = VALID[type as Message["type"]];
    for (const field of counters) {
      for (const [bad, what] of NOT_COUNTERS) {
        rejects(
          { ...base, [field]: bad },
          new RegExp(`${field} must be a non-negative integer`),
          `${type}.${field} ${what}`,
        );
        cases++;
      }
    }
    for (const field of flags) {
      for (const bad of NOT_FLAGS) {
        rejects(
          { ...base, [field]: bad },
          new RegExp(`${field} must be a boolean`),
          `${type}.${field} ${String(bad)}`,
        );
        cases++;
      }
    }
    for (const field of ["from", "to"]) {
      for (const bad of ["", 7, null, "x".repeat(257)]) {
        rejects(
          { ...base, [field]: bad },
          new RegExp(`${field} must be a non-empty string`),
          `${type}.${field}`,
        );
        cases++;
      }
    }
  }
  assert.ok(cases > 250, `${cases} cases`);
});

Deno.test("validateMessage checks the entries of an AppendEntries", () => {
  const base = VALID.append;
  const bad = (entries: unknown, pattern: RegExp, label: string) =>
    rejects({ ...base, entries }, pattern, label);
  bad("[]", /entries must be an array/, "not an array");
  bad(undefined, /entries must be an array/, "missing");
  bad([null], /each entry must be an object/, "null entry");
  bad([entry(6, 2)], /entry index must be 5, got 6/, "gap after prev");
  bad([entry(5, 2), entry(7, 2)], /entry index must be 6, got 7/, "gap");
  bad([{ ...entry(5, 2), term: -1 }], /entry term must be/, "entry term");
  bad([{ ...entry(5, 2), kind: "config" }], /entry kind must be/, "kind");
  bad(
    [{ ...entry(5, 2), command: undefined }],
    /command must be present/,
    "cmd",
  );
  bad(
    [entry(5, 2), entry(6, 4)],
    /entry terms must not decrease nor exceed the message term/,
    "newer than the leader",
  );
  bad([entry(5, 3), entry(6, 2)], /must not decrease/, "decreasing");
  bad([entry(5, 1)], /must not decrease/, "older than prevLogTerm");
  rejects(
    { ...base, prevLogTerm: 4 },
    /prevLogTerm must not exceed term/,
    "prevLogTerm > term",
  );
  // A noop with a null command is fine.
  validateMessage({
    ...base,
    entries: [{ index: 5, term: 3, kind: "noop", command: null }],
  });
});

Deno.test("validateMessage checks the chunk of an InstallSnapshot", () => {
  const base = VALID.snapshot;
  rejects({ ...base, data: 42 }, /data must be a base64 string/, "number");
  rejects({ ...base, data: "@@@@" }, /data must be a base64 string/, "chars");
  rejects({ ...base, data: "AQI" }, /padded base64/, "padding");
  rejects({ ...base, total: 2 }, /chunk must end within total/, "overflow");
  rejects({ ...base, total: 9 }, /last chunk must end at total/, "short");
  rejects({ ...base, lastIncludedTerm: 4 }, /must not exceed term/, "term");
  rejects({ ...base, voters: "a" }, /voters must be an array/, "voters");
  rejects({ ...base, nonVoters: [""] }, /nonVoters must be a non-empty/, "id");
  validateMessage({ ...base, total: 9, done: false });
});

// What the kernel keeps that a message could change.
function stateOf(core: RaftCore): unknown {
  return {
    term: core.term,
    votedFor: core.votedFor,
    role: core.role,
    leaderId: core.leaderId,
    commitIndex: core.commitIndex,
    log: core.log.slice(core.log.firstIndex, core.log.lastIndex + 1),
  };
}

/** Messages that would change a node's state if it were their recipient. */
function disruptive(to: string, from: string, term: number): Message[] {
  return [
    {
      v: MESSAGE_VERSION,
      type: "append",
      term,
      from,
      to,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ index: 1, term, kind: "command", command: "evil" }],
      leaderCommit: 1,
      seq: 0,
    },
    {
      v: MESSAGE_VERSION,
      type: "vote",
      term,
      from,
      to,
      lastLogIndex: 99,
      lastLogTerm: term,
      preVote: false,
      transfer: true,
    },
    { v: MESSAGE_VERSION, type: "timeoutNow", term, from, to },
  ];
}

Deno.test("a message addressed to another node or from a non-member changes nothing in the core", () => {
  const core = new RaftCore({
    id: "a",
    voters: ["a", "b", "c"],
    nonVoters: ["d"],
    behaviors: defaultBehaviors(),
  });
  core.takeReady();
  const before = stateOf(core);
  const strays = [
    ...disruptive("b", "c", 50), // for someone else
    ...disruptive("z", "c", 50), // for nobody we know
    ...disruptive("a", "mallory", 50), // from a stranger
  ];
  for (const message of strays) {
    core.step({ type: "message", message }, 10);
    core.flush();
    assert.deepEqual(stateOf(core), before, JSON.stringify(message));
    assert.equal(core.hasReady, false, "nothing to persist or send");
  }
  // The same messages addressed properly do change it (the test can fail).
  core.step({ type: "message", message: disruptive("a", "c", 50)[0] }, 10);
  assert.equal(core.term, 50);
  assert.equal(core.log.lastIndex, 1);
});

Deno.test("through CoreCluster, garbage, misaddressed and stranger messages change no node's state", () => {
  const ids = ["a", "b", "c"];
  const cluster = new CoreCluster({ voters: ids, seed: 61 });
  const leader = cluster.electLeader();
  cluster.propose(leader, "x");
  cluster.advance(60);
  cluster.filter = () => false; // freeze the cluster: only our messages move
  const snapshot = () => ids.map((id) => [id, stateOf(cluster.core(id))]);
  const durable = () => JSON.stringify(ids.map((id) => cluster.durable(id)));
  const before = snapshot();
  const onDisk = durable();
  const delivered = cluster.delivered.length;
  const follower = ids.find((id) => id !== leader)!;
  const garbage: unknown[] = [
    { v: 1, type: "bogus", term: 99, from: leader, to: follower },
    { ...VALID.append, term: "7", from: leader, to: follower },
    { ...VALID.vote, term: Number.NaN, from: leader, to: follower },
    { ...VALID.append, term: 99, from: leader, to: follower, entries: "x" },
    {
      ...VALID.append,
      term: 99,
      from: leader,
      to: follower,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ index: 1, term: 100, kind: "command", command: 1 }],
    },
    { ...VALID.timeoutNow, v: 0, from: leader, to: follower },
    { type: "vote", term: 1e9 },
  ];
  for (const raw of garbage) {
    cluster.deliver(raw as Message);
  }
  assert.equal(cluster.delivered.length, delivered, "garbage is not delivered");
  for (const to of ids) {
    for (
      const message of [
        ...disruptive("zz", to, 99),
        ...disruptive(to, "mallory", 99),
      ]
    ) {
      cluster.deliver(message);
    }
  }
  assert.deepEqual(snapshot(), before);
  assert.equal(durable(), onDisk);
  assert.equal(cluster.inFlight.length, 0, "nobody answered");
});

Deno.test("validateMessage checks the session, command and refusal of forwarded proposals", () => {
  for (
    const type of [
      "propose",
      "proposeReply",
      "readIndex",
      "readIndexReply",
    ] as const
  ) {
    for (const session of ["", 7, null, "s".repeat(65)]) {
      rejects(
        { ...VALID[type], session },
        /session must be a non-empty string/,
        `${type}.session ${String(session)}`,
      );
    }
  }
  rejects(
    { ...VALID.propose, command: undefined },
    /command must be present/,
    "no command",
  );
  const reply = VALID.proposeReply;
  rejects({ ...reply, index: 0 }, /must have an index/, "accepted at 0");
  rejects({ ...reply, refused: "busy" }, /refused must be null or one of/, "?");
  rejects({ ...reply, refused: undefined }, /refused must be null/, "missing");
  rejects({ ...reply, leaderId: "" }, /leaderId must be a non-empty/, "id");
  validateMessage({
    ...reply,
    index: 0,
    entryTerm: 0,
    refused: "not-leader",
    leaderId: "b",
  });
});
