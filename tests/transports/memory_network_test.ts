import assert from "node:assert/strict";
import { ManualClock, MemoryNetwork, type Message } from "../../mod.ts";
import { drainIo } from "../node/_cluster.ts";

function msg(from: string, to: string, term: number): Message {
  return { v: 1, type: "timeoutNow", term, from, to };
}

function wire(net: MemoryNetwork, ids: string[]) {
  const inbox = new Map<string, number[]>();
  const ends = new Map(ids.map((id) => {
    inbox.set(id, []);
    const end = net.connect(id);
    end.setHandler((m) => inbox.get(id)!.push((m as Message).term));
    return [id, end];
  }));
  return { inbox, ends };
}

Deno.test("MemoryNetwork delivers in send order without a seed", async () => {
  const net = new MemoryNetwork();
  const { inbox, ends } = wire(net, ["a", "b"]);
  for (let i = 1; i <= 5; i++) ends.get("a")!.send("b", msg("a", "b", i));
  await drainIo();
  assert.deepEqual(inbox.get("b"), [1, 2, 3, 4, 5]);
  assert.deepEqual(net.stats, { sent: 5, delivered: 5, dropped: 0 });
});

Deno.test("MemoryNetwork partitions drop messages across groups until heal", async () => {
  const net = new MemoryNetwork();
  const { inbox, ends } = wire(net, ["a", "b", "c"]);
  net.partition(["a"], ["b", "c"]);
  ends.get("a")!.send("b", msg("a", "b", 1));
  ends.get("b")!.send("c", msg("b", "c", 2));
  await drainIo();
  assert.deepEqual(inbox.get("b"), []);
  assert.deepEqual(inbox.get("c"), [2]);
  net.heal();
  ends.get("a")!.send("b", msg("a", "b", 3));
  await drainIo();
  assert.deepEqual(inbox.get("b"), [3]);
  assert.equal(net.stats.dropped, 1);
});

Deno.test("MemoryNetwork link faults drop and delay one direction only", async () => {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock, seed: 3 });
  const { inbox, ends } = wire(net, ["a", "b"]);
  net.setLinkFaults("a", "b", { dropRate: 1 });
  net.setLinkFaults("b", "a", { delayMs: 10 });
  ends.get("a")!.send("b", msg("a", "b", 1));
  ends.get("b")!.send("a", msg("b", "a", 2));
  await drainIo();
  assert.deepEqual(inbox.get("b"), []);
  assert.deepEqual(inbox.get("a"), []);
  clock.advance(10);
  await drainIo();
  assert.deepEqual(inbox.get("a"), [2]);
});

Deno.test("MemoryNetwork with a seed shuffles each batch reproducibly", async () => {
  const order = async (seed: number) => {
    const net = new MemoryNetwork({ seed });
    const { inbox, ends } = wire(net, ["a", "b"]);
    for (let i = 1; i <= 20; i++) ends.get("a")!.send("b", msg("a", "b", i));
    await drainIo();
    return inbox.get("b")!;
  };
  const first = await order(42);
  assert.deepEqual(await order(42), first);
  assert.notDeepEqual(first, [...first].sort((x, y) => x - y));
  assert.notDeepEqual(await order(43), first);
});

Deno.test("a closed endpoint neither sends nor receives", async () => {
  const net = new MemoryNetwork();
  const { inbox, ends } = wire(net, ["a", "b"]);
  ends.get("b")!.close?.();
  ends.get("a")!.send("b", msg("a", "b", 1));
  ends.get("b")!.send("a", msg("b", "a", 2));
  await drainIo();
  assert.deepEqual(inbox.get("b"), []);
  assert.deepEqual(inbox.get("a"), []);
});
