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
import { yieldNow } from "../kernel/async.ts";

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

/** Shards of the key space (see {@linkcode KvStateMachine}). */
const SHARDS = 1024;
/** Key-value pairs per line of a snapshot (default). */
const PAIRS_PER_LINE = 1_000;
/** Serializing or restoring yields once this much time went by (default). */
const SLICE_MS = 4;
/** First line of a snapshot in the line format; older ones are one array. */
const HEADER = "kv-snapshot 2\n";
const HEADER_BYTES = new TextEncoder().encode(HEADER);

/** FNV-1a over the UTF-16 code units of `key`, to a shard number. */
function shardOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  }
  return (hash >>> 0) % SHARDS;
}

/** Whether `data` starts with the line format's header. */
function hasHeader(data: Uint8Array): boolean {
  if (data.length < HEADER_BYTES.length) return false;
  return HEADER_BYTES.every((byte, i) => data[i] === byte);
}

/** Yields when the current slice of work ran `sliceMs` or longer. */
class Slicer {
  readonly #sliceMs: number;
  #since = performance.now();
  constructor(sliceMs: number) {
    this.#sliceMs = sliceMs;
  }
  async maybeYield(): Promise<void> {
    if (performance.now() - this.#since < this.#sliceMs) return;
    await yieldNow();
    this.#since = performance.now();
  }
}

/**
 * The key-value state machine.
 *
 * Snapshots do not stop the node: `snapshot()` captures the state at once
 * and serializes it in slices, yielding to the event loop between them, and
 * `restore()` parses in slices too, so heartbeats keep flowing while a large
 * state (a million keys take over a second to serialize) is written or read.
 * The keys live in 1,024 maps by hash; a snapshot pins the maps it captured,
 * and the first write to a pinned map copies it (1/1,024 of the state), so a
 * capture costs next to nothing and later applies never touch a snapshot
 * being written. A snapshot is a header line, then lines of JSON arrays of
 * `[key, value]` pairs; `restore()` also reads the older format, one JSON
 * array of all pairs.
 *
 * @example
 * ```ts
 * import { KvStateMachine } from "./kv_state_machine.ts";
 * const kv = new KvStateMachine();
 * console.log(kv.apply({ op: "cas", key: "k", expect: null, value: "v" }).ok); // true
 * ```
 */
export class KvStateMachine implements StateMachine<KvResult> {
  readonly #sliceMs: number;
  readonly #pairsPerLine: number;
  #shards: Map<string, string>[] = Array.from(
    { length: SHARDS },
    () => new Map(),
  );
  /** Maps that snapshots being serialized still read, and how many do. */
  readonly #pinned = new Map<Map<string, string>, number>();

  /**
   * `sliceMs` (default 4): how long serializing or restoring runs before it
   * yields to the event loop; `pairsPerLine` (default 1,000): pairs per
   * line of a snapshot, the unit between yields.
   */
  constructor(options: { sliceMs?: number; pairsPerLine?: number } = {}) {
    this.#sliceMs = options.sliceMs ?? SLICE_MS;
    this.#pairsPerLine = Math.max(1, options.pairsPerLine ?? PAIRS_PER_LINE);
  }

  /** Applies a committed command. Unknown commands change nothing. */
  apply(command: Json): KvResult {
    if (!isCommand(command)) return { ok: false, value: null };
    const shard = shardOf(command.key);
    switch (command.op) {
      case "put":
        this.#writable(shard).set(command.key, command.value);
        return { ok: true, value: command.value };
      case "delete":
        this.#writable(shard).delete(command.key);
        return { ok: true, value: null };
      case "cas": {
        const current = this.#shards[shard].get(command.key) ?? null;
        if (current !== command.expect) return { ok: false, value: current };
        this.#writable(shard).set(command.key, command.value);
        return { ok: true, value: command.value };
      }
    }
  }

  /** Shard `index`, copied first if a snapshot still reads it. */
  #writable(index: number): Map<string, string> {
    let map = this.#shards[index];
    if (this.#pinned.has(map)) {
      map = new Map(map);
      this.#shards[index] = map;
    }
    return map;
  }

  /**
   * Serializes the state as of this call; applies made while the returned
   * promise is pending do not leak into it.
   */
  async snapshot(): Promise<Uint8Array> {
    const captured = [...this.#shards];
    for (const map of captured) {
      this.#pinned.set(map, (this.#pinned.get(map) ?? 0) + 1);
    }
    try {
      const encoder = new TextEncoder();
      const parts: Uint8Array[] = [HEADER_BYTES];
      const slicer = new Slicer(this.#sliceMs);
      let line: [string, string][] = [];
      const flush = () => {
        parts.push(encoder.encode(JSON.stringify(line) + "\n"));
        line = [];
      };
      for (const map of captured) {
        for (const pair of map) {
          line.push(pair);
          if (line.length === this.#pairsPerLine) {
            flush();
            await slicer.maybeYield();
          }
        }
      }
      if (line.length > 0) flush();
      return concat(parts);
    } finally {
      for (const map of captured) {
        const count = this.#pinned.get(map)! - 1;
        if (count === 0) this.#pinned.delete(map);
        else this.#pinned.set(map, count);
      }
    }
  }

  /**
   * Replaces the state with a snapshot's (either format). Malformed data
   * throws (SyntaxError, TypeError) and leaves the state as it was.
   */
  async restore(data: Uint8Array): Promise<void> {
    const shards: Map<string, string>[] = Array.from(
      { length: SHARDS },
      () => new Map(),
    );
    const take = (pairs: unknown) => {
      if (!Array.isArray(pairs)) throw new TypeError("snapshot: not an array");
      for (const pair of pairs) {
        if (
          !Array.isArray(pair) || pair.length !== 2 ||
          typeof pair[0] !== "string" || typeof pair[1] !== "string"
        ) {
          throw new TypeError("snapshot: a pair is not [key, value] strings");
        }
        shards[shardOf(pair[0])].set(pair[0], pair[1]);
      }
    };
    const decoder = new TextDecoder();
    if (hasHeader(data)) {
      const slicer = new Slicer(this.#sliceMs);
      let start = HEADER_BYTES.length;
      while (start < data.length) {
        let end = data.indexOf(0x0a, start);
        if (end < 0) end = data.length;
        // JSON escapes every newline inside a string: a raw 0x0a ends a line.
        take(JSON.parse(decoder.decode(data.subarray(start, end))));
        start = end + 1;
        await slicer.maybeYield();
      }
    } else {
      take(JSON.parse(decoder.decode(data)));
    }
    this.#shards = shards;
  }

  /** The applied value of `key`, or `null`. */
  get(key: string): string | null {
    return this.#shards[shardOf(key)].get(key) ?? null;
  }

  /** Number of keys. */
  get size(): number {
    return this.#shards.reduce((n, map) => n + map.size, 0);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
