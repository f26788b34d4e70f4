/**
 * A small key-value state machine over a `Map`: the application the
 * examples replicate. Commands are JSON objects:
 * `{op:"put",key,value}`, `{op:"delete",key}`,
 * `{op:"cas",key,expect,value}` (expect `null` = key absent).
 *
 * @example
 * ```ts
 * import { KvStateMachine } from "./kv_state_machine.ts";
 * const kv = new KvStateMachine();
 * kv.apply({ op: "put", key: "x", value: "1" });
 * console.log(kv.get("x")); // "1"
 * ```
 * @module
 */
import type { Json, StateMachine } from "../mod.ts";

/** A command of {@linkcode KvStateMachine}. */
export type KvCommand =
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string }
  | { op: "cas"; key: string; expect: string | null; value: string };

/** What applying a command returns. */
export interface KvResult {
  /** Whether the command took effect (always true but for a failed cas). */
  ok: boolean;
  /** The key's value after the command (`null` when absent). */
  value: string | null;
}

function isCommand(command: Json): command is KvCommand & Json {
  if (typeof command !== "object" || command === null) return false;
  const c = command as Record<string, Json>;
  if (typeof c.key !== "string") return false;
  switch (c.op) {
    case "put":
      return typeof c.value === "string";
    case "delete":
      return true;
    case "cas":
      return typeof c.value === "string" &&
        (c.expect === null || typeof c.expect === "string");
    default:
      return false;
  }
}

/**
 * The key-value state machine.
 *
 * @example
 * ```ts
 * import { KvStateMachine } from "./kv_state_machine.ts";
 * const kv = new KvStateMachine();
 * console.log(kv.apply({ op: "cas", key: "k", expect: null, value: "v" }).ok); // true
 * ```
 */
export class KvStateMachine implements StateMachine<KvResult> {
  readonly #map = new Map<string, string>();

  /** Applies a committed command. Unknown commands change nothing. */
  apply(command: Json): KvResult {
    if (!isCommand(command)) return { ok: false, value: null };
    const current = this.#map.get(command.key) ?? null;
    switch (command.op) {
      case "put":
        this.#map.set(command.key, command.value);
        return { ok: true, value: command.value };
      case "delete":
        this.#map.delete(command.key);
        return { ok: true, value: null };
      case "cas":
        if (current !== command.expect) return { ok: false, value: current };
        this.#map.set(command.key, command.value);
        return { ok: true, value: command.value };
    }
  }

  /**
   * Serializes the map as JSON. The entries are copied before this returns,
   * so later applies do not leak into the snapshot.
   */
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...this.#map]));
  }

  /** Replaces the map with a snapshot's. */
  restore(data: Uint8Array): void {
    const pairs = JSON.parse(new TextDecoder().decode(data)) as [
      string,
      string,
    ][];
    this.#map.clear();
    for (const [key, value] of pairs) this.#map.set(key, value);
  }

  /** The applied value of `key`, or `null`. */
  get(key: string): string | null {
    return this.#map.get(key) ?? null;
  }

  /** Number of keys. */
  get size(): number {
    return this.#map.size;
  }
}
