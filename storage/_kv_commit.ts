// Private helper of storage/kv.ts: the mutations of one commit and their
// packing into as few commits as Deno KV's limits allow. The limits and why
// a large batch takes several commits are in the module doc of
// storage/kv.ts.
import { StorageError } from "../kernel/errors.ts";

/** Deno KV limits per atomic commit, measured on Deno 2 (see kv.ts). */
export const KV_LIMITS = {
  mutations: 1000,
  /** Keys plus values; the real limit is 819,200 bytes, this leaves margin. */
  totalBytes: 760_000,
  /** The real limit is 81,920 bytes of keys per commit. */
  keyBytes: 76_000,
  key: 2048,
  value: 65_536,
} as const;

/** One write (`value` set) or delete (`value` undefined) of a commit. */
export interface Mutation {
  readonly key: Deno.KvKey;
  readonly value?: unknown;
  /** Key plus value bytes, as counted against `KV_LIMITS.totalBytes`. */
  readonly size: number;
  readonly keySize: number;
}

const encoder = new TextEncoder();

/** Encoded size of a key; mirrors Deno KV's tuple encoding closely enough. */
export function keySize(key: Deno.KvKey): number {
  let size = 0;
  for (const part of key) {
    if (typeof part === "number") size += 9;
    else if (typeof part === "string") size += encoder.encode(part).length + 2;
    else if (part instanceof Uint8Array) size += part.length + 2;
    else size += 24;
  }
  return size;
}

/** Upper bound of the V8-serialized size of a plain JSON-like object. */
function objectSize(value: unknown): number {
  return 2 * encoder.encode(JSON.stringify(value)).length + 64;
}

export function setOf(key: Deno.KvKey, value: unknown): Mutation {
  const valueSize = value instanceof Uint8Array
    ? value.length
    : objectSize(value);
  if (valueSize > KV_LIMITS.value) {
    throw new StorageError(
      `Cannot write key ${
        JSON.stringify(key)
      } as its value takes ${valueSize} bytes (limit ${KV_LIMITS.value})`,
    );
  }
  const size = keySize(key);
  return { key, value, size: size + valueSize, keySize: size };
}

export function deleteOf(key: Deno.KvKey): Mutation {
  const size = keySize(key);
  return { key, size, keySize: size };
}

/**
 * Packs mutations, in order, into as few commits as the limits allow while
 * leaving room in every commit for `reserve` (the meta record).
 */
export function packCommits(
  mutations: readonly Mutation[],
  reserve: Mutation,
): Mutation[][] {
  const maxCount = KV_LIMITS.mutations - 1;
  const maxBytes = KV_LIMITS.totalBytes - reserve.size;
  const maxKeys = KV_LIMITS.keyBytes - reserve.keySize;
  const commits: Mutation[][] = [];
  let current: Mutation[] = [];
  let bytes = 0;
  let keys = 0;
  for (const mutation of mutations) {
    if (
      current.length > 0 &&
      (current.length >= maxCount || bytes + mutation.size > maxBytes ||
        keys + mutation.keySize > maxKeys)
    ) {
      commits.push(current);
      current = [];
      bytes = 0;
      keys = 0;
    }
    current.push(mutation);
    bytes += mutation.size;
    keys += mutation.keySize;
  }
  if (current.length > 0) commits.push(current);
  return commits;
}
