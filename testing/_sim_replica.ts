/**
 * A node's copy of the state machine for one life: built from the user's
 * factory, restored from a snapshot or fed committed commands, and
 * summarized by the values of the workload's keys so that the checker can
 * compare replicas index by index.
 * @module
 */
import type { Json, LogEntry, Snapshot } from "../kernel/types.ts";
import type { Value } from "./history.ts";
import type { KvCommand, KvStateMachine } from "./_sim_kv.ts";

/** One node's state machine. */
export class Replica {
  readonly #make: () => KvStateMachine;
  readonly #keys: readonly string[];
  #machine: KvStateMachine;

  /** Creates an empty replica; `keys` are the ones its summary covers. */
  constructor(make: () => KvStateMachine, keys: readonly string[]) {
    this.#make = make;
    this.#keys = keys;
    this.#machine = make();
  }

  /** Starts over, from `snapshot` if given. */
  reset(snapshot: Snapshot | null): void {
    const machine = this.#make();
    if (snapshot) {
      if (!machine.restore) {
        throw new TypeError(
          "Cannot restore a snapshot as the state machine has no restore()",
        );
      }
      machine.restore(snapshot.data);
    }
    this.#machine = machine;
  }

  /** Applies a committed command and returns its result. */
  apply(entry: LogEntry): Json {
    return this.#machine.apply(
      entry.command as unknown as KvCommand,
      entry.index,
    ) as Json;
  }

  /** The value of `key`. */
  get(key: string): Value {
    return this.#machine.get(key);
  }

  /** The serialized state, or `null` when the machine cannot snapshot. */
  snapshot(): Uint8Array | null {
    return this.#machine.snapshot?.() ?? null;
  }

  /** A summary equal for equal states of the workload's keys. */
  fingerprint(): string {
    return this.#keys.map((key) => JSON.stringify(this.#machine.get(key)))
      .join(",");
  }
}
