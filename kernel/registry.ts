/**
 * The behavior registry: the set of role plugins a node loads by name. It
 * validates each plugin's name and hook shapes when it is added, checks that
 * every role the kernel needs is present, and is frozen once a node starts.
 *
 * @example
 * ```ts
 * import { BehaviorRegistry } from "./registry.ts";
 * const registry = new BehaviorRegistry();
 * registry.register({ name: "Witness", onMessage() {}, onTick() {} });
 * console.log(registry.names()); // ["Witness"]
 * ```
 * @module
 */
import { type Behavior, ROLE_NAMES } from "./behavior.ts";
import { ConfigError } from "./errors.ts";

const REQUIRED_HOOKS = ["onMessage", "onTick"] as const;
const OPTIONAL_HOOKS = [
  "enter",
  "exit",
  "onClientRequest",
  "onFlush",
  "retainFrom",
] as const;
const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Kernel roles that never hold a leader lease. */
const NO_LEASE_ROLES: readonly string[] = [
  "Follower",
  "Candidate",
  "PreLeader",
  "IsolatedLeader",
];

function checkPlugin(plugin: unknown): Behavior {
  if (typeof plugin !== "object" || plugin === null) {
    throw new ConfigError(
      "Cannot register the behavior as it is not an object",
    );
  }
  const p = plugin as Record<string, unknown>;
  if (typeof p.name !== "string" || !NAME_PATTERN.test(p.name)) {
    throw new ConfigError(
      `Cannot register the behavior as its name ${
        JSON.stringify(p.name)
      } is not a word of letters, digits, "_" or "-" (at most 64)`,
    );
  }
  for (const hook of REQUIRED_HOOKS) {
    if (typeof p[hook] !== "function") {
      throw new ConfigError(
        `Cannot register behavior "${p.name}" as it has no ${hook}() hook`,
      );
    }
  }
  for (const hook of OPTIONAL_HOOKS) {
    if (p[hook] !== undefined && typeof p[hook] !== "function") {
      throw new ConfigError(
        `Cannot register behavior "${p.name}" as its ${hook} is not a function`,
      );
    }
  }
  if (p.holdsLease !== undefined && typeof p.holdsLease !== "boolean") {
    throw new ConfigError(
      `Cannot register behavior "${p.name}" as its holdsLease is not a boolean`,
    );
  }
  if (p.holdsLease === true && NO_LEASE_ROLES.includes(p.name)) {
    throw new ConfigError(
      `Cannot register behavior "${p.name}" with holdsLease: that role must let others elect a leader`,
    );
  }
  return plugin as Behavior;
}

/**
 * A named set of behavior plugins. `register` adds a new role,
 * `replace` swaps the plugin of an existing one; both validate the plugin.
 *
 * @example
 * ```ts
 * import { defaultBehaviors } from "../behaviors/defaults.ts";
 * const registry = defaultBehaviors();
 * const follower = registry.get("Follower")!;
 * registry.replace({ ...follower, name: "Follower" });
 * registry.validate();
 * ```
 */
export class BehaviorRegistry {
  #plugins = new Map<string, Behavior>();
  #frozen = false;

  /** Creates a registry holding `plugins` (validated; names must be unique). */
  constructor(plugins: Iterable<Behavior> = []) {
    for (const plugin of plugins) this.register(plugin);
  }

  /** Adds a plugin for a role not yet registered. */
  register<S>(plugin: Behavior<S>): this {
    this.#checkOpen();
    const checked = checkPlugin(plugin);
    if (this.#plugins.has(checked.name)) {
      throw new ConfigError(
        `Cannot register behavior "${checked.name}" as the registry already has one by that name (use replace())`,
      );
    }
    this.#plugins.set(checked.name, checked);
    return this;
  }

  /** Replaces the plugin of an already registered role. */
  replace<S>(plugin: Behavior<S>): this {
    this.#checkOpen();
    const checked = checkPlugin(plugin);
    if (!this.#plugins.has(checked.name)) {
      throw new ConfigError(
        `Cannot replace behavior "${checked.name}" as the registry has none by that name (use register())`,
      );
    }
    this.#plugins.set(checked.name, checked);
    return this;
  }

  /** The plugin for `name`, or `undefined`. */
  get(name: string): Behavior | undefined {
    return this.#plugins.get(name);
  }

  /** Whether a plugin for `name` is registered. */
  has(name: string): boolean {
    return this.#plugins.has(name);
  }

  /** The registered role names, in registration order. */
  names(): string[] {
    return [...this.#plugins.keys()];
  }

  /** Whether the registry can no longer change. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Throws {@linkcode ConfigError} unless every kernel role is present. */
  validate(): void {
    const missing = ROLE_NAMES.filter((name) => !this.#plugins.has(name));
    if (missing.length > 0) {
      throw new ConfigError(
        `Cannot use the behavior registry as it lacks the role${
          missing.length > 1 ? "s" : ""
        } ${missing.join(", ")}`,
      );
    }
  }

  /** Validates, then forbids further changes (a node does this on start). */
  freeze(): this {
    this.validate();
    this.#frozen = true;
    return this;
  }

  #checkOpen(): void {
    if (this.#frozen) {
      throw new ConfigError(
        "Cannot change the behavior registry as a node using it has started",
      );
    }
  }
}
