// Every check a signed peer request goes through before anything reads its
// content, in order, each with its own status: missing signature, timestamp
// or nonce 401; wrong cluster id 403; timestamp outside the window or a
// malformed nonce 401; body over the limit, counted as it streams, 413; bad
// signature 401; replayed nonce 401. Shared by the Raft message endpoint
// and any other endpoint only members may call (the KV node's batched
// forwarding), so both refuse the same way and neither changes state first.
import {
  createSigner,
  HEADERS,
  newNonce,
  NonceCache,
  type SignedFields,
  type Signer,
  wellFormedNonce,
} from "./_http_auth.ts";
import { BodyTooLargeError, readBodyLimited } from "./_http_body.ts";

const MAX_NONCES = 1_000_000;

/** Options of {@linkcode createPeerAuth}. */
export interface PeerAuthOptions {
  /** Requests from another cluster are refused (403). */
  readonly clusterId: string;
  /** Shared secret of the HMAC-SHA256. */
  readonly secret: string;
  /** Largest body accepted, in bytes. */
  readonly maxBodyBytes: number;
  /** How far a request's timestamp may be from now (default 30,000 ms). */
  readonly timestampWindowMs?: number;
  /** Wall clock, ms since the epoch (default `Date.now`). */
  readonly now?: () => number;
}

/** A request that passed every check. */
export interface AuthenticPeerRequest {
  /** The body, read in full and within the limit. */
  readonly body: Uint8Array;
  /** What the signature covered besides the body. */
  readonly fields: SignedFields;
}

/** A refused request: its status and why. */
export interface PeerRefusal {
  /** The status to answer with. */
  readonly status: 400 | 401 | 403 | 413;
  /** Why, for the response body. */
  readonly error: string;
}

/** Signs requests to members and checks requests from them. */
export interface PeerAuth {
  /** Headers that sign a POST of `body` to `path`. */
  sign(path: string, body: Uint8Array): Record<string, string>;
  /** Runs every check; a refusal has read at most `maxBodyBytes`. */
  check(
    request: Request,
    path: string,
  ): Promise<AuthenticPeerRequest | PeerRefusal>;
  /** The HMAC itself, e.g. for answers signed over a request's nonce. */
  readonly signer: Signer;
}

/**
 * Creates the {@linkcode PeerAuth} of one member.
 *
 * @param options Cluster id, secret, body limit, window and clock.
 * @returns The signer and checker, with its own nonce cache.
 *
 * @example
 * ```ts
 * import { createPeerAuth } from "./_http_peer_auth.ts";
 * const auth = createPeerAuth({ clusterId: "c1", secret: "s3cret", maxBodyBytes: 1024 });
 * const body = new TextEncoder().encode("[]");
 * const request = new Request("http://b.test/raft/x", {
 *   method: "POST", body, headers: auth.sign("/raft/x", body),
 * });
 * console.log("body" in await auth.check(request, "/raft/x")); // true
 * ```
 */
export function createPeerAuth(options: PeerAuthOptions): PeerAuth {
  const signer = createSigner(options.secret);
  const windowMs = options.timestampWindowMs ?? 30_000;
  const now = options.now ?? Date.now;
  const nonces = new NonceCache(windowMs, MAX_NONCES);
  const { clusterId, maxBodyBytes } = options;
  return {
    signer,
    sign(path, body) {
      const timestamp = String(now());
      const nonce = newNonce();
      return {
        [HEADERS.cluster]: clusterId,
        [HEADERS.timestamp]: timestamp,
        [HEADERS.nonce]: nonce,
        [HEADERS.signature]: signer.sign(
          { method: "POST", path, clusterId, timestamp, nonce },
          body,
        ),
      };
    },
    async check(request, path) {
      const headers = request.headers;
      const signature = headers.get(HEADERS.signature);
      const timestamp = headers.get(HEADERS.timestamp);
      const nonce = headers.get(HEADERS.nonce);
      if (!signature || !timestamp || !nonce) {
        return { status: 401, error: "missing signature, timestamp or nonce" };
      }
      if (headers.get(HEADERS.cluster) !== clusterId) {
        return { status: 403, error: "wrong cluster id" };
      }
      const at = /^\d{1,16}$/.test(timestamp) ? Number(timestamp) : NaN;
      const receivedAt = now();
      if (!(Math.abs(receivedAt - at) <= windowMs)) {
        return { status: 401, error: "timestamp outside the accepted window" };
      }
      if (!wellFormedNonce(nonce)) {
        return { status: 401, error: "malformed nonce" };
      }
      let body: Uint8Array;
      try {
        body = await readBodyLimited(request, maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          return { status: 413, error: `body exceeds ${maxBodyBytes} bytes` };
        }
        throw error;
      }
      const fields = {
        method: request.method,
        path,
        clusterId,
        timestamp,
        nonce,
      };
      if (!signer.verify(fields, body, signature)) {
        return { status: 401, error: "bad signature" };
      }
      // Remembered only once the signature holds, so strangers cannot fill it.
      if (!nonces.remember(nonce, receivedAt)) {
        return { status: 401, error: "replayed nonce" };
      }
      return { body, fields };
    },
  };
}
