// Peer request authentication for the HTTP transport: an HMAC-SHA256 over
// a canonical string of method, path, cluster id, timestamp and nonce,
// followed by the raw body bytes, plus a replay cache of nonces seen within
// the timestamp window. The MAC is node:crypto's `createHmac`: synchronous,
// so signing costs no trip through WebCrypto's async op (measured: about
// half the CPU per request, and no extra event-loop turn on the hot path).
import { createHmac, timingSafeEqual } from "node:crypto";

/** Header names of a signed peer request. */
export const HEADERS = {
  cluster: "x-raft-cluster",
  timestamp: "x-raft-timestamp",
  nonce: "x-raft-nonce",
  signature: "x-raft-signature",
} as const;

const SIGNATURE_HEX_LENGTH = 64;
const NONCE_PATTERN = /^[0-9a-f]{16,64}$/;
const HEX_PATTERN = /^[0-9a-f]+$/i;

/** What a signature covers besides the body. */
export interface SignedFields {
  /** Request method (`ANSWER` for answers in a response). */
  readonly method: string;
  /** Request path. */
  readonly path: string;
  /** Cluster id. */
  readonly clusterId: string;
  /** Milliseconds since the epoch, as sent. */
  readonly timestamp: string;
  /** The request's random nonce. */
  readonly nonce: string;
}

/** Signs and verifies with one shared secret. */
export interface Signer {
  /** The signature of a request, as lowercase hex. */
  sign(fields: SignedFields, body: Uint8Array): string;
  /** Whether `signature` (hex) is right, compared in constant time. */
  verify(fields: SignedFields, body: Uint8Array, signature: string): boolean;
}

function head(fields: SignedFields): string {
  return `raft-v1\n${fields.method.toUpperCase()}\n${fields.path}\n${fields.clusterId}\n${fields.timestamp}\n${fields.nonce}\n`;
}

/** A {@linkcode Signer} for `secret` (UTF-8). */
export function createSigner(secret: string): Signer {
  const hmac = (fields: SignedFields, body: Uint8Array) =>
    createHmac("sha256", secret).update(head(fields)).update(body);
  return {
    sign: (fields, body) => hmac(fields, body).digest("hex"),
    verify(fields, body, signature) {
      if (
        signature.length !== SIGNATURE_HEX_LENGTH ||
        !HEX_PATTERN.test(signature)
      ) return false;
      return timingSafeEqual(hmac(fields, body).digest(), fromHex(signature));
    },
  };
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}

/** A fresh random nonce: 16 bytes as hex. */
export function newNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** Whether a nonce header has the shape this transport sends. */
export function wellFormedNonce(nonce: string): boolean {
  return NONCE_PATTERN.test(nonce);
}

/**
 * Nonces seen within the replay window. A nonce is remembered until every
 * timestamp that could carry it has left the window, so a replay is caught
 * as long as its timestamp is still accepted. Entries are kept in insertion
 * order with a monotonic expiry, so pruning pops from the front.
 */
export class NonceCache {
  readonly #expiry = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(windowMs: number, maxEntries: number) {
    this.#ttlMs = 2 * windowMs;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#expiry.size;
  }

  /**
   * Records `nonce` at time `now`; returns false when it was seen already
   * (a replay) or when the cache is full of live nonces (refusing is the
   * safe answer: the sender retries with a new nonce later).
   */
  remember(nonce: string, now: number): boolean {
    this.#prune(now);
    if (this.#expiry.has(nonce)) return false;
    if (this.#expiry.size >= this.#maxEntries) return false;
    this.#expiry.set(nonce, now + this.#ttlMs);
    return true;
  }

  #prune(now: number): void {
    for (const [nonce, expiry] of this.#expiry) {
      if (expiry > now) break;
      this.#expiry.delete(nonce);
    }
  }
}
