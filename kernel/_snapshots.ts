/**
 * Snapshot work a node does off its loop, so heartbeats keep flowing:
 * taking a local snapshot every `threshold` applied entries, and restoring
 * the state machine from a snapshot installed by the leader once it is
 * durable.
 * @module
 */
import type { RaftCore } from "./core.ts";
import { ConfigError } from "./errors.ts";
import type { StateMachine } from "./node.ts";
import type { Snapshot } from "./types.ts";
import type { LogWriter } from "./_writer.ts";

/** What the snapshot keeper needs from its node. */
export interface SnapshotHooks {
  /** The node's id, for messages. */
  readonly nodeId: string;
  /** The state machine. */
  readonly machine: StateMachine<unknown>;
  /** The node's writer (snapshot saves share its storage queue). */
  readonly writer: LogWriter;
  /** Entries applied so far. */
  lastApplied(): number;
  /** The state machine now reflects `snapshot` (restored). */
  restored(snapshot: Snapshot): void;
  /** A local snapshot is durable. */
  taken(snapshot: Snapshot): void;
  /** A failure that must stop the node. */
  fatal(error: unknown): void;
  /** A failure worth reporting that the node survives. */
  report(error: unknown): void;
  /** Whether the node stopped. */
  stopped(): boolean;
}

/** Takes and restores snapshots for one node. */
export class SnapshotKeeper {
  readonly #hooks: SnapshotHooks;
  readonly #threshold: number;
  #taking = false;
  #restoring = false;
  #installedDurable = 0;

  /** Snapshots every `threshold` applied entries (0: never). */
  constructor(hooks: SnapshotHooks, threshold: number) {
    this.#hooks = hooks;
    this.#threshold = threshold;
  }

  /** A snapshot installed from the leader is now durable. */
  installedDurable(index: number): void {
    this.#installedDurable = Math.max(this.#installedDurable, index);
  }

  /**
   * Restores the installed snapshot once it is durable; later entries are
   * applied only after that (the node checks `snapshotIndex > lastApplied`).
   */
  restoreInstalled(core: RaftCore): void {
    const h = this.#hooks;
    const snapshot = core.snapshot;
    if (
      this.#restoring || !snapshot || snapshot.index <= h.lastApplied() ||
      this.#installedDurable < snapshot.index
    ) return;
    if (!h.machine.restore) {
      h.fatal(
        new ConfigError(
          `Cannot install a snapshot on node ${h.nodeId} as the state machine has no restore()`,
        ),
      );
      return;
    }
    this.#restoring = true;
    Promise.resolve(h.machine.restore(snapshot.data)).then(() => {
      this.#restoring = false;
      h.restored(snapshot);
    }, (error) => h.fatal(error));
  }

  /** Starts a local snapshot when enough entries were applied since the last. */
  maybeTake(core: RaftCore): void {
    const h = this.#hooks;
    const machine = h.machine;
    if (!machine.snapshot || this.#threshold <= 0 || this.#taking) return;
    const index = h.lastApplied();
    if (index - (core.snapshot?.index ?? 0) < this.#threshold) return;
    const term = core.log.termAt(index);
    if (term === undefined) return;
    this.#taking = true;
    const take = async () => {
      let data: Uint8Array;
      try {
        // Captured now, at `index`; serialization may continue meanwhile.
        data = await machine.snapshot!();
      } catch (error) {
        // The state machine failed, not storage: report it and go on.
        h.report(error);
        return;
      }
      const snapshot: Snapshot = {
        index,
        term,
        voters: core.voters,
        nonVoters: core.nonVoters,
        data,
      };
      // While this snapshot was being built, the leader may have installed
      // a newer one, stored it and compacted the log up to it. Storing this
      // older snapshot over it would leave storage with a gap between the
      // snapshot and the first entry (a restart then misplaces every entry).
      // Found by the simulator (testing/sim.ts, seed 451, 5 nodes).
      const stored = await h.writer.call((storage) =>
        (core.snapshot?.index ?? 0) > index
          ? Promise.resolve(false)
          : storage.saveSnapshot(snapshot).then(() => true)
      );
      if (stored && !h.stopped()) h.taken(snapshot);
    };
    take().catch((error) => h.fatal(error)).finally(() => {
      this.#taking = false;
    });
  }
}
