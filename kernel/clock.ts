/**
 * The one timer abstraction: every timer in deno-raft goes through a
 * {@linkcode Clock}, so tests and the simulator run on virtual time with
 * {@linkcode ManualClock} and production uses {@linkcode systemClock}.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock();
 * let fired = false;
 * clock.setTimeout(() => fired = true, 10);
 * clock.advance(10);
 * console.log(fired); // true
 * ```
 * @module
 */

/** An opaque timer handle. */
export type TimerId = unknown;

/** Time and timers. */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown ids are ignored. */
  clearTimeout(id: TimerId): void;
}

/**
 * Real time: `performance.now()` and the platform's timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * console.log(systemClock.now() >= 0); // true
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/**
 * Virtual time that moves only when told to. Timers due at the same instant
 * fire in the order they were set.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(1000);
 * clock.advance(5);
 * console.log(clock.now()); // 1005
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<unknown, { at: number; callback: () => void }>();

  /** Starts virtual time at `start` milliseconds. */
  constructor(start = 0) {
    this.#now = start;
  }

  /** {@inheritDoc Clock.now} */
  now(): number {
    return this.#now;
  }

  /** {@inheritDoc Clock.setTimeout} */
  setTimeout(callback: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  /** {@inheritDoc Clock.clearTimeout} */
  clearTimeout(id: TimerId): void {
    this.#timers.delete(id);
  }

  /** The time of the earliest pending timer, or `undefined`. */
  nextTimerAt(): number | undefined {
    let at: number | undefined;
    for (const timer of this.#timers.values()) {
      if (at === undefined || timer.at < at) at = timer.at;
    }
    return at;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the
   * way, in time order (timers set by callbacks fire too if they fall due).
   */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let dueId: TimerId | undefined;
      let dueAt = Infinity;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= end && timer.at < dueAt) {
          dueAt = timer.at;
          dueId = id;
        }
      }
      if (dueId === undefined) break;
      const timer = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      this.#now = Math.max(this.#now, timer.at);
      timer.callback();
    }
    this.#now = end;
  }
}
