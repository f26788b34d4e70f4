/**
 * The one module of small async helpers: {@linkcode delay},
 * {@linkcode deadline}, {@linkcode retry}, and {@linkcode soon} /
 * {@linkcode yieldNow} for running work on the next turn of the event loop
 * without starving timers (a `setImmediate`, far cheaper than
 * `setTimeout(0)` and unlike a microtask it lets heartbeats fire).
 *
 * @example
 * ```ts
 * import { deadline, delay } from "./async.ts";
 * await deadline(delay(1), 1000);
 * ```
 * @module
 */
import { setImmediate } from "node:timers";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";

/**
 * Runs `callback` on the next turn of the event loop.
 *
 * @example
 * ```ts
 * import { soon } from "./async.ts";
 * soon(() => console.log("later"));
 * ```
 */
export function soon(callback: () => void): void {
  setImmediate(callback);
}

/**
 * Resolves on the next turn of the event loop, letting timers and I/O run.
 *
 * @example
 * ```ts
 * import { yieldNow } from "./async.ts";
 * await yieldNow();
 * ```
 */
export function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves after `ms` milliseconds of `clock` time.
 *
 * @example
 * ```ts
 * import { delay } from "./async.ts";
 * await delay(5);
 * ```
 */
export function delay(ms: number, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Thrown by {@linkcode deadline} when time runs out. */
export class DeadlineError extends Error {
  /** Creates the error for a deadline of `ms` milliseconds. */
  constructor(ms: number) {
    super(`Cannot finish the operation as its deadline of ${ms} ms passed`);
    this.name = "DeadlineError";
  }
}

/**
 * Settles like `promise`, or rejects with {@linkcode DeadlineError} (or
 * `onTimeout()`'s error) if `ms` pass first.
 *
 * @example
 * ```ts
 * import { deadline, delay } from "./async.ts";
 * try {
 *   await deadline(delay(50), 1);
 * } catch (e) {
 *   console.log((e as Error).name); // "DeadlineError"
 * }
 * ```
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  options: { clock?: Clock; onTimeout?: () => Error } = {},
): Promise<T> {
  const clock = options.clock ?? systemClock;
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(
      () => reject(options.onTimeout?.() ?? new DeadlineError(ms)),
      ms,
    );
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Options of {@linkcode retry}. */
export interface RetryOptions {
  /** Most attempts in all (default 5). */
  readonly attempts?: number;
  /** Wait before the second attempt; doubles each time (default 10 ms). */
  readonly initialDelayMs?: number;
  /** Longest wait between attempts (default 1000 ms). */
  readonly maxDelayMs?: number;
  /** Whether an error is worth another attempt (default: every error). */
  readonly retryIf?: (error: unknown) => boolean;
  /** Clock for the waits. */
  readonly clock?: Clock;
}

/**
 * Calls `operation` until it succeeds, waiting with exponential back-off
 * between attempts; rethrows the last error.
 *
 * @example
 * ```ts
 * import { retry } from "./async.ts";
 * let calls = 0;
 * const value = await retry(() => {
 *   if (++calls < 3) throw new Error("not yet");
 *   return Promise.resolve(calls);
 * }, { initialDelayMs: 1 });
 * console.log(value); // 3
 * ```
 */
export async function retry<T>(
  operation: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  let wait = options.initialDelayMs ?? 10;
  for (let attempt = 1;; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !(options.retryIf?.(error) ?? true)) {
        throw error;
      }
      await delay(wait, options.clock);
      wait = Math.min(wait * 2, options.maxDelayMs ?? 1000);
    }
  }
}

/**
 * Polls `predicate` every `intervalMs` until it returns a truthy value,
 * which it resolves with; rejects with {@linkcode DeadlineError} after
 * `timeoutMs`.
 *
 * @example
 * ```ts
 * import { until } from "./async.ts";
 * const start = Date.now();
 * await until(() => Date.now() - start >= 5, { timeoutMs: 1000 });
 * ```
 */
export async function until<T>(
  predicate: () => T,
  options: { timeoutMs?: number; intervalMs?: number; clock?: Clock } = {},
): Promise<NonNullable<T>> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? 5000;
  const end = clock.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value as NonNullable<T>;
    if (clock.now() >= end) throw new DeadlineError(timeoutMs);
    await delay(options.intervalMs ?? 5, clock);
  }
}
