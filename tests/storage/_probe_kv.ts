// Test helper: a Deno KV wrapper that counts calls and injects commit failures.
/** What a wrapped KV saw: commits that landed and which of them moved the meta. */
export interface KvProbe {
  commits: number;
  markerCommits: number[];
  gets: number;
  lists: number;
}

/**
 * Wraps a KV so that every commit after the first `crashAfter` throws, as if
 * the process died between two commits of one batch. `fails(n)` makes
 * commit number `n` (counting every attempt from 0) throw as well, for a
 * transient failure the same instance then recovers from.
 */
export function probeKv(
  kv: Deno.Kv,
  crashAfter = Infinity,
  fails: (attempt: number) => boolean = () => false,
): [Deno.Kv, KvProbe] {
  let attempts = 0;
  const probe: KvProbe = { commits: 0, markerCommits: [], gets: 0, lists: 0 };
  const atomic = (): Deno.AtomicOperation => {
    const operation = kv.atomic();
    let setsMeta = false;
    const proxy: Deno.AtomicOperation = new Proxy(operation, {
      get(target, property) {
        if (property === "commit") {
          return () => {
            if (probe.commits >= crashAfter || fails(attempts++)) {
              return Promise.reject(new Error("injected crash"));
            }
            if (setsMeta) probe.markerCommits.push(probe.commits);
            probe.commits++;
            return target.commit();
          };
        }
        const value = Reflect.get(target, property);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (property === "set" && (args[0] as Deno.KvKey).at(-1) === "meta") {
            setsMeta = true;
          }
          const result = value.apply(target, args);
          return result === target ? proxy : result;
        };
      },
    });
    return proxy;
  };
  const wrapped = new Proxy(kv, {
    get(target, property) {
      if (property === "atomic") return atomic;
      if (property === "get" || property === "getMany") probe.gets++;
      if (property === "list") probe.lists++;
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return [wrapped, probe];
}
