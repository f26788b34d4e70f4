/**
 * How many durable writes per second this disk gives: a raw small write +
 * `fdatasync` loop, and small atomic commits to a file-backed Deno KV. The
 * first bounds any Raft node's commit rate without group commit; the second
 * is what one KvStorage commit costs (Deno KV runs SQLite
 * in WAL mode and, under strace, issues one `fsync` per commit).
 *
 * Run: `deno run -A bench/fsync_rate.ts [seconds]` (default 2 per measure).
 *
 * @example
 * ```ts ignore
 * import { measureFsyncRate } from "./fsync_rate.ts";
 * const { fsyncsPerSecond } = await measureFsyncRate(await Deno.makeTempDir(), 1);
 * console.log(fsyncsPerSecond);
 * ```
 * @module
 */

/** The rate of one durable operation measured over a time window. */
interface SyncRate {
  /** Completed operations per second of wall time. */
  readonly opsPerSecond: number;
  /** Mean duration of one operation in milliseconds. */
  readonly meanMs: number;
  /** Operations completed. */
  readonly count: number;
}

/** Stops a loop that would otherwise run long on a very fast (or fake) sync. */
const MAX_OPS = 200_000;

async function measure(
  seconds: number,
  operation: (k: number) => Promise<void>,
): Promise<SyncRate> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let count = 0;
  while (count < MAX_OPS && performance.now() < deadline) {
    await operation(count);
    count++;
  }
  const elapsedMs = performance.now() - started;
  return {
    opsPerSecond: count / (elapsedMs / 1000),
    meanMs: count === 0 ? 0 : elapsedMs / count,
    count,
  };
}

/**
 * Writes 64 bytes and calls `fdatasync` in a loop on a temporary file in
 * `dir` for `seconds` (at most 200,000 times), then removes the file.
 *
 * @param dir Directory on the disk to measure.
 * @param seconds How long to measure.
 * @returns Syncs per second and the mean time of one write + sync.
 *
 * @example
 * ```ts ignore
 * import { measureFsyncRate } from "./fsync_rate.ts";
 * console.log(await measureFsyncRate("/tmp", 1));
 * ```
 */
export async function measureFsyncRate(
  dir: string,
  seconds = 2,
): Promise<{ fsyncsPerSecond: number; meanMs: number }> {
  const path = await Deno.makeTempFile({ dir, prefix: "fsync_rate_" });
  const file = await Deno.open(path, { write: true });
  const record = new Uint8Array(64).fill(42);
  try {
    // Sync calls: the async ones add thread-pool hops that are not the disk.
    const rate = await measure(seconds, (k) => {
      // Rewrite a small ring of offsets: the cost is the sync, not the size.
      file.seekSync((k % 64) * record.length, Deno.SeekMode.Start);
      file.writeSync(record);
      file.syncDataSync();
      return Promise.resolve();
    });
    return { fsyncsPerSecond: rate.opsPerSecond, meanMs: rate.meanMs };
  } finally {
    file.close();
    await Deno.remove(path);
  }
}

/**
 * Commits small atomic writes (one 64-byte value and a counter) for
 * `seconds` (at most 200,000 commits per file) to `files` Deno KVs at once,
 * opened at `path`-0, `path`-1, ...; the rate is per file. The caller owns
 * the files.
 *
 * @param path Path prefix of the KV files to open (created if missing).
 * @param seconds How long to measure.
 * @param files How many KV files commit at the same time (default 1).
 * @returns Commits per second of one file and the mean time of one commit.
 *
 * @example
 * ```ts ignore
 * import { measureKvCommitRate } from "./fsync_rate.ts";
 * console.log(await measureKvCommitRate("/tmp/bench.kv", 1));
 * ```
 */
export async function measureKvCommitRate(
  path: string,
  seconds = 2,
  files = 1,
): Promise<{ commitsPerSecond: number; meanMs: number }> {
  const kvs = await Promise.all(
    Array.from({ length: files }, (_, k) => Deno.openKv(`${path}-${k}`)),
  );
  const value = new Uint8Array(64).fill(42);
  try {
    const rates = await Promise.all(
      kvs.map((kv) =>
        measure(seconds, async (k) => {
          const result = await kv.atomic()
            .set(["bench", "entry", k % 64], value)
            .set(["bench", "last"], k)
            .commit();
          if (!result.ok) throw new Error("Cannot measure as a commit failed");
        })
      ),
    );
    const perFile = rates.reduce((sum, r) => sum + r.opsPerSecond, 0) / files;
    return { commitsPerSecond: perFile, meanMs: 1000 / perFile };
  } finally {
    for (const kv of kvs) kv.close();
  }
}

if (import.meta.main) {
  const seconds = Number(Deno.args[0] ?? 2);
  const dir = await Deno.makeTempDir({ prefix: "raft_fsync_bench_" });
  try {
    const fsync = await measureFsyncRate(dir, seconds);
    const kv = await measureKvCommitRate(`${dir}/bench.kv`, seconds);
    console.log(`disk of ${dir}, ${seconds} s per measure`);
    console.table({
      "write 64 B + fdatasync": {
        "ops/s": Math.round(fsync.fsyncsPerSecond),
        "mean ms": Number(fsync.meanMs.toFixed(3)),
      },
      "Deno KV atomic commit (file)": {
        "ops/s": Math.round(kv.commitsPerSecond),
        "mean ms": Number(kv.meanMs.toFixed(3)),
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
