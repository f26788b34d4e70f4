// A cluster of nodes in this process that talk over real loopback sockets
// through the HTTP transport: each member gets a server on 127.0.0.1, port 0.
import { createNode, type RaftNode } from "../../kernel/node.ts";
import { defaultBehaviors } from "../../behaviors/defaults.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import {
  createHttpTransport,
  type HttpServer,
  type HttpTransport,
  type HttpTransportOptions,
  serve,
} from "../../transports/http.ts";
import { KvStateMachine } from "../../examples/kv_state_machine.ts";
import type { KvResult } from "../../examples/kv_state_machine.ts";

export interface LoopbackMember {
  id: string;
  url: string;
  node: RaftNode<KvResult>;
  machine: KvStateMachine;
  transport: HttpTransport;
  server: HttpServer;
  errors: Error[];
}

export interface LoopbackCluster {
  members: LoopbackMember[];
  /** Stops one member's node and server (as a crash would, minus the disk). */
  stop(member: LoopbackMember): Promise<void>;
  /** Members whose server answers every request 503 (cut off). */
  blocked: Set<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function loopbackCluster(
  ids: string[],
  options: {
    secretOf?: (id: string) => string;
    transport?: Partial<HttpTransportOptions>;
    serve?: { cert?: string; key?: string };
    node?: { maxEntriesPerAppend?: number };
  } = {},
): Promise<LoopbackCluster> {
  const handlers = new Map<string, (r: Request) => Promise<Response>>();
  const blocked = new Set<string>();
  const servers = ids.map((id) =>
    serve(
      (request) =>
        (!blocked.has(id) && handlers.get(id)?.(request)) ||
        Promise.resolve(new Response(null, { status: 503 })),
      { hostname: "127.0.0.1", port: 0, ...options.serve },
    )
  );
  const peers = Object.fromEntries(ids.map((id, i) => [id, servers[i].url]));
  const members: LoopbackMember[] = ids.map((id, i) => {
    const errors: Error[] = [];
    const transport = createHttpTransport({
      id,
      clusterId: "loopback",
      secret: options.secretOf?.(id) ?? "loopback secret",
      peers,
      requestTimeoutMs: 1000,
      onError: (error) => {
        if (errors.length < 100) errors.push(error);
      },
      ...options.transport,
    });
    handlers.set(id, transport.fetch);
    const machine = new KvStateMachine();
    const node = createNode<KvResult>({
      id,
      voters: ids,
      transport,
      storage: new MemoryStorage(),
      behaviors: defaultBehaviors(),
      stateMachine: machine,
      electionTimeoutMs: 300,
      heartbeatMs: 50,
      ...options.node,
    });
    return {
      id,
      url: servers[i].url,
      node,
      machine,
      transport,
      server: servers[i],
      errors,
    };
  });
  for (const m of members) await m.node.start();
  const stopped = new Set<LoopbackMember>();
  const stop = async (member: LoopbackMember) => {
    if (stopped.has(member)) return;
    stopped.add(member);
    await member.node.stop();
    await member.server.shutdown();
  };
  return {
    members,
    stop,
    blocked,
    async [Symbol.asyncDispose]() {
      for (const m of members) await stop(m);
    },
  };
}
