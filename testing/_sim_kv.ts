/**
 * The key-value state machine the simulator replicates, and the contract a
 * user's own state machine meets to be checked by `simulateCluster`:
 * commands are plain JSON, and the answers are what the linearizability
 * model (`kvModel`) expects.
 * @module
 */
import type { Value } from "./history.ts";

/** A write to one key, as it travels in the log. */
export type KvCommand =
  | { readonly op: "put"; readonly key: string; readonly value: Value }
  | { readonly op: "delete"; readonly key: string }
  | {
    readonly op: "cas";
    readonly key: string;
    readonly expect: Value;
    readonly value: Value;
  };

/**
 * What applying a command answers: `null` for put and delete; for cas,
 * whether it swapped and the key's value afterwards (`null` when absent).
 */
export type KvResult = null | { readonly ok: boolean; readonly value: Value };

/**
 * A replicated key-value store. `apply` sees every committed command once,
 * in log order (commands may carry extra fields, e.g. an operation id);
 * `get` answers a linearizable read once the node has applied up to the
 * read index. A fresh instance starts empty: a restarted node re-applies
 * its log from the start.
 */
export interface KvStateMachine {
  /** Applies a committed command at log `index`. */
  apply(command: KvCommand, index: number): KvResult;
  /** The value of `key` (`null` when absent). */
  get(key: string): Value;
  /** Serializes the whole state; without it, nodes never snapshot. */
  snapshot?(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore?(data: Uint8Array): void;
}

/**
 * An in-memory {@linkcode KvStateMachine}; the simulator's default.
 *
 * @example
 * ```ts
 * import { createKvStateMachine } from "./sim.ts";
 * const kv = createKvStateMachine();
 * kv.apply({ op: "delete", key: "x" }, 1);
 * console.log(kv.get("x")); // null
 * ```
 *
 * @returns An empty store.
 */
export function createKvStateMachine(): KvStateMachine {
  const values = new Map<string, Value>();
  const set = (key: string, value: Value): void => {
    if (value === null) values.delete(key);
    else values.set(key, value);
  };
  return {
    apply(command: KvCommand): KvResult {
      switch (command.op) {
        case "put":
          set(command.key, command.value);
          return null;
        case "delete":
          values.delete(command.key);
          return null;
        case "cas": {
          const current = values.get(command.key) ?? null;
          if (current !== command.expect) return { ok: false, value: current };
          set(command.key, command.value);
          return { ok: true, value: command.value };
        }
      }
    },
    get(key: string): Value {
      return values.get(key) ?? null;
    },
    snapshot(): Uint8Array {
      // Sorted, so equal states serialize to equal bytes.
      const pairs = [...values].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
      return new TextEncoder().encode(JSON.stringify(pairs));
    },
    restore(data: Uint8Array): void {
      values.clear();
      const pairs = JSON.parse(new TextDecoder().decode(data)) as [
        string,
        Value,
      ][];
      for (const [key, value] of pairs) values.set(key, value);
    },
  };
}
