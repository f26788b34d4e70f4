import { storageConformance } from "../../storage/conformance.ts";
import { KvStorage } from "../../storage/kv.ts";
import { MemoryStorage } from "../../storage/memory.ts";

storageConformance("MemoryStorage", () => ({
  storage: new MemoryStorage(),
}));

storageConformance("KvStorage (in-memory KV)", async () => ({
  storage: await KvStorage.open(),
}));

storageConformance("KvStorage (file KV)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raft_kv_conformance_" });
  const path = `${dir}/node.kv`;
  const options = { clusterId: "c1", nodeId: "a" };
  return {
    storage: await KvStorage.open(path, options),
    reopen: () => KvStorage.open(path, options),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});
