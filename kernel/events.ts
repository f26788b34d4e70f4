/**
 * A small typed event emitter for node events: `on` returns the function
 * that unsubscribes. A listener that throws does not stop the others or
 * the node; its error is reported through the `error` event instead.
 *
 * @example
 * ```ts
 * import { Emitter } from "./events.ts";
 * const events = new Emitter<{ ping: { n: number } }>();
 * const off = events.on("ping", (e) => console.log(e.n));
 * events.emit("ping", { n: 1 });
 * off();
 * ```
 * @module
 */

/**
 * A typed emitter over the event map `E`.
 *
 * @example
 * ```ts
 * import { Emitter } from "./events.ts";
 * const events = new Emitter<{ done: null }>();
 * console.log(events.has("done")); // false
 * ```
 */
export class Emitter<E extends Record<string, unknown>> {
  #listeners = new Map<keyof E, Set<(event: never) => void>>();
  #onListenerError: (error: unknown) => void;

  /** Creates an emitter; `onListenerError` receives listener exceptions. */
  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribes `listener` to `type`; returns the unsubscribe function. */
  on<K extends keyof E>(type: K, listener: (event: E[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as (event: never) => void);
    return () => this.off(type, listener);
  }

  /** Unsubscribes `listener` from `type`. */
  off<K extends keyof E>(type: K, listener: (event: E[K]) => void): void {
    this.#listeners.get(type)?.delete(listener as (event: never) => void);
  }

  /** Whether anyone listens to `type` (to skip building unused events). */
  has(type: keyof E): boolean {
    return (this.#listeners.get(type)?.size ?? 0) > 0;
  }

  /** Calls every listener of `type` with `event`. */
  emit<K extends keyof E>(type: K, event: E[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (event: E[K]) => void)(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
