/**
 * The Transport contract: fire-and-forget sends and one inbound handler.
 * Inbound messages are `unknown` on purpose: the node validates every one
 * at the boundary before the kernel sees it.
 *
 * @example
 * ```ts
 * import type { Transport } from "./transport.ts";
 * const loopback: Transport = {
 *   send(_to, message) { handler?.(message); },
 *   setHandler(h) { handler = h; },
 * };
 * let handler: ((message: unknown) => void) | undefined;
 * ```
 * @module
 */
import type { Message } from "./messages.ts";
import type { NodeId } from "./types.ts";

/** How a node talks to its peers. */
export interface Transport {
  /** Sends `message` to `to`; it may be lost, delayed or duplicated. */
  send(to: NodeId, message: Message): void;
  /** Sets the function that receives every inbound message. */
  setHandler(handler: (message: unknown) => void): void;
  /** Stops delivery to and from this endpoint. */
  close?(): void | Promise<void>;
}
