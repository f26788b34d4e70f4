/**
 * {@linkcode MemoryNetwork}: an in-process network for tests, demos and
 * benchmarks. Endpoints come from `connect(id)`; the network can partition
 * members into groups, drop or delay messages per link, and, given a seed,
 * deliver each batch of messages in a reproducible shuffled order.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "./memory.ts";
 * const net = new MemoryNetwork({ seed: 1 });
 * const a = net.connect("a");
 * net.partition(["a"], ["b", "c"]);
 * net.heal();
 * a.close?.();
 * ```
 * @module
 */
import { soon } from "../kernel/async.ts";
import { type Clock, systemClock } from "../kernel/clock.ts";
import { ConfigError } from "../kernel/errors.ts";
import type { Message } from "../kernel/messages.ts";
import {
  type RandomSource,
  seededRandom,
  systemRandom,
} from "../kernel/random.ts";
import type { Transport } from "../kernel/transport.ts";
import type { NodeId } from "../kernel/types.ts";

/** Fault settings of a directed link (or of every link). */
export interface LinkFaults {
  /** Probability in `[0, 1]` that a message is lost. */
  readonly dropRate?: number;
  /** Delay before delivery, in milliseconds of the network's clock. */
  readonly delayMs?: number;
}

/** Options of {@linkcode MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Seed for drops and delivery order; without one, order is FIFO. */
  readonly seed?: number;
  /** Clock for delayed deliveries (default: real time). */
  readonly clock?: Clock;
  /** Faults on every link unless a link has its own. */
  readonly faults?: LinkFaults;
}

/** Counters of what the network did. */
export interface NetworkStats {
  /** Messages handed to `send`. */
  sent: number;
  /** Messages handed to a receiver. */
  delivered: number;
  /** Messages lost to a partition, a drop or a closed endpoint. */
  dropped: number;
}

/**
 * An in-process network of {@linkcode Transport} endpoints.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "./memory.ts";
 * const net = new MemoryNetwork();
 * net.setLinkFaults("a", "b", { dropRate: 0.5, delayMs: 10 });
 * console.log(net.stats.sent); // 0
 * ```
 */
export class MemoryNetwork {
  /** Counters. */
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0 };
  readonly #handlers = new Map<NodeId, (message: unknown) => void>();
  readonly #links = new Map<string, LinkFaults>();
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #shuffle: boolean;
  #faults: LinkFaults;
  #groups: NodeId[][] | null = null;
  #queue: Message[] = [];
  #flushScheduled = false;

  /** Creates a network with no endpoints. */
  constructor(options: MemoryNetworkOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#shuffle = options.seed !== undefined;
    this.#random = options.seed !== undefined
      ? seededRandom(options.seed)
      : systemRandom;
    this.#faults = options.faults ?? {};
  }

  /** Creates the endpoint of member `id`. */
  connect(id: NodeId): Transport {
    if (this.#handlers.has(id)) {
      throw new ConfigError(`Cannot connect ${id} twice to the network`);
    }
    this.#handlers.set(id, () => {});
    let open = true;
    return {
      send: (to, message) => {
        if (open) this.#send(id, to, message);
      },
      setHandler: (handler) => {
        if (open) this.#handlers.set(id, handler);
      },
      close: () => {
        open = false;
        this.#handlers.delete(id);
      },
    };
  }

  /** Lets only members of the same group talk to each other. */
  partition(...groups: NodeId[][]): void {
    this.#groups = groups.map((g) => [...g]);
  }

  /** Removes every partition. */
  heal(): void {
    this.#groups = null;
  }

  /** Sets faults for every link without faults of its own. */
  setFaults(faults: LinkFaults): void {
    this.#faults = faults;
  }

  /** Sets faults of the directed link `from → to` (`{}` clears them). */
  setLinkFaults(from: NodeId, to: NodeId, faults: LinkFaults): void {
    this.#links.set(`${from}\u0000${to}`, faults);
  }

  /** Whether `from` can reach `to` under the current partition. */
  connected(from: NodeId, to: NodeId): boolean {
    const groups = this.#groups;
    if (!groups) return true;
    for (const group of groups) {
      if (group.includes(from)) return group.includes(to);
    }
    return false;
  }

  #send(from: NodeId, to: NodeId, message: Message): void {
    this.stats.sent++;
    if (!this.connected(from, to)) {
      this.stats.dropped++;
      return;
    }
    const faults = this.#links.get(`${from}\u0000${to}`) ?? this.#faults;
    if (faults.dropRate && this.#random.next() < faults.dropRate) {
      this.stats.dropped++;
      return;
    }
    if (faults.delayMs && faults.delayMs > 0) {
      this.#clock.setTimeout(() => this.#enqueue(message), faults.delayMs);
    } else this.#enqueue(message);
  }

  #enqueue(message: Message): void {
    this.#queue.push(message);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      soon(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (this.#shuffle) {
      for (let i = batch.length - 1; i > 0; i--) {
        const j = Math.floor(this.#random.next() * (i + 1));
        [batch[i], batch[j]] = [batch[j], batch[i]];
      }
    }
    for (const message of batch) {
      const handler = this.#handlers.get(message.to);
      // A partition that started while the message was in flight loses it.
      if (!handler || !this.connected(message.from, message.to)) {
        this.stats.dropped++;
        continue;
      }
      this.stats.delivered++;
      handler(message);
    }
  }
}
