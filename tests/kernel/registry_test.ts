// The behavior registry: plugin shape checks, the five kernel roles, and
// freezing once a node uses it.
import assert from "node:assert/strict";
import type { Behavior } from "../../kernel/behavior.ts";
import { ROLE_NAMES } from "../../kernel/behavior.ts";
import { RaftCore } from "../../kernel/core.ts";
import { ConfigError } from "../../kernel/errors.ts";
import { BehaviorRegistry } from "../../kernel/registry.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { follower } from "../../behaviors/follower.ts";

const noop = (): void => {};

function throwsConfig(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `ConfigError, got ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("defaultBehaviors has the five kernel roles, in order, and validates", () => {
  const registry = defaultBehaviors();
  assert.deepEqual(registry.names(), [
    "Follower",
    "Candidate",
    "PreLeader",
    "Leader",
    "IsolatedLeader",
  ]);
  assert.deepEqual(registry.names(), [...ROLE_NAMES]);
  for (const name of ROLE_NAMES) assert.equal(registry.get(name)?.name, name);
  registry.validate();
  assert.equal(registry.frozen, false);
  assert.notEqual(defaultBehaviors(), registry, "a fresh registry per call");
});

Deno.test("register rejects a duplicate name and replace an unknown one", () => {
  const registry = defaultBehaviors();
  throwsConfig(
    () => registry.register({ ...follower }),
    /Cannot register behavior "Follower" as the registry already has one by that name \(use replace\(\)\)/,
  );
  throwsConfig(
    () => registry.replace({ name: "Witness", onMessage: noop, onTick: noop }),
    /Cannot replace behavior "Witness" as the registry has none by that name \(use register\(\)\)/,
  );
  assert.equal(registry.has("Witness"), false);
  registry.register({ name: "Witness", onMessage: noop, onTick: noop });
  assert.equal(registry.names().at(-1), "Witness");
  const replacement = { ...follower, onTick: noop };
  registry.replace(replacement);
  assert.equal(registry.get("Follower"), replacement);
});

Deno.test("register rejects a malformed plugin with a message naming the problem", () => {
  const registry = new BehaviorRegistry();
  const bad = (plugin: unknown) => () => registry.register(plugin as Behavior);
  throwsConfig(bad(null), /as it is not an object/);
  throwsConfig(bad("Follower"), /as it is not an object/);
  throwsConfig(
    bad({ onMessage: noop, onTick: noop }),
    /as its name undefined is not a word/,
  );
  for (const name of ["", "has space", "9lives", "x".repeat(65), "a.b"]) {
    throwsConfig(
      bad({ name, onMessage: noop, onTick: noop }),
      new RegExp(`as its name ${RegExp.escape(JSON.stringify(name))} is not`),
    );
  }
  throwsConfig(
    bad({ name: "Witness", onTick: noop }),
    /Cannot register behavior "Witness" as it has no onMessage\(\) hook/,
  );
  throwsConfig(
    bad({ name: "Witness", onMessage: noop }),
    /Cannot register behavior "Witness" as it has no onTick\(\) hook/,
  );
  for (const hook of ["enter", "exit", "onClientRequest", "onFlush"]) {
    throwsConfig(
      bad({ name: "Witness", onMessage: noop, onTick: noop, [hook]: 42 }),
      new RegExp(
        `Cannot register behavior "Witness" as its ${hook} is not a function`,
      ),
    );
  }
  assert.deepEqual(registry.names(), [], "nothing was added");
  // The limits themselves are fine.
  registry.register({ name: "x".repeat(64), onMessage: noop, onTick: noop });
  registry.register({ name: "A_b-9", onMessage: noop, onTick: noop });
});

Deno.test("RaftCore refuses a registry that lacks a kernel role, naming it", () => {
  const missing = new BehaviorRegistry(
    defaultBehaviors().names().filter((n) => n !== "Leader").map((n) =>
      defaultBehaviors().get(n)!
    ),
  );
  throwsConfig(
    () => new RaftCore({ id: "a", voters: ["a"], behaviors: missing }),
    /^Cannot use the behavior registry as it lacks the role Leader$/,
  );
  assert.equal(missing.frozen, false, "a failed start freezes nothing");
  const two = new BehaviorRegistry([follower as Behavior]);
  throwsConfig(
    () => two.validate(),
    /lacks the roles Candidate, PreLeader, Leader, IsolatedLeader$/,
  );
});

Deno.test("the registry is frozen once a core is created with it", () => {
  const registry = defaultBehaviors();
  const core = new RaftCore({
    id: "a",
    voters: ["a", "b"],
    behaviors: registry,
  });
  assert.equal(core.role, "Follower");
  assert.equal(registry.frozen, true);
  const frozen =
    /Cannot change the behavior registry as a node using it has started/;
  throwsConfig(
    () => registry.register({ name: "Witness", onMessage: noop, onTick: noop }),
    frozen,
  );
  throwsConfig(() => registry.replace({ ...follower }), frozen);
  assert.deepEqual(registry.names(), [...ROLE_NAMES]);
  // Another core may share the frozen registry.
  const other = new RaftCore({
    id: "b",
    voters: ["a", "b"],
    behaviors: registry,
  });
  assert.equal(other.role, "Follower");
});

Deno.test("RaftCore rejects a bad membership with ConfigError", () => {
  const behaviors = defaultBehaviors();
  throwsConfig(
    () => new RaftCore({ id: "z", voters: ["a"], behaviors }),
    /Cannot create node z as it is neither a voter nor a non-voter/,
  );
  throwsConfig(
    () => new RaftCore({ id: "a", voters: ["a"], nonVoters: ["a"], behaviors }),
    /listed as both voter and non-voter/,
  );
  throwsConfig(
    () => new RaftCore({ id: "a", voters: [], nonVoters: ["a"], behaviors }),
    /voters is empty/,
  );
});

Deno.test("register rejects a holdsLease that is not a boolean", () => {
  const registry = new BehaviorRegistry();
  throwsConfig(
    () =>
      registry.register(
        {
          name: "W",
          onMessage: noop,
          onTick: noop,
          holdsLease: "yes",
        } as unknown as Behavior,
      ),
    /Cannot register behavior "W" as its holdsLease is not a boolean/,
  );
});

Deno.test("register refuses holdsLease on a role that must let others elect", () => {
  for (const name of ["Follower", "Candidate", "PreLeader", "IsolatedLeader"]) {
    throwsConfig(
      () =>
        new BehaviorRegistry().register({
          name,
          onMessage: noop,
          onTick: noop,
          holdsLease: true,
        }),
      new RegExp(`"${name}" with holdsLease`),
    );
  }
});
