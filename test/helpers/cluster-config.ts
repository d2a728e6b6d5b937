// What makes chatd process i a node of a cluster on one machine, shared by
// the tests' cluster (./cluster.ts) and `npm run cluster`
// (bench/local-cluster.ts), so both run the same layout: node i alone on
// the loopback address 127.0.0.(i+1) (Linux routes all of 127.0.0.0/8 to
// the loopback interface, no setup needed), so every node can have the
// same port, as machines of a real cluster would.

/** Most nodes on one machine: their addresses are 127.0.0.1 to 127.0.0.254. */
export const MAX_LOCAL_NODES = 254;
/** JetStream keeps at most this many copies (journalReplicas' range). */
export const MAX_REPLICAS = 5;

/** Node i's address (i from 0). */
export function nodeAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_LOCAL_NODES) throw new RangeError(`node index ${i} is not 0-${MAX_LOCAL_NODES - 1}`);
  return `127.0.0.${i + 1}`;
}

/** Node i's nodeName (i from 0): node-1, node-2, ... */
export function nodeName(i: number): string {
  return `node-${i + 1}`;
}

/** journalReplicas when not given: as many copies as servers, up to three (a majority survives one lost server). */
export function defaultReplicas(natsServers: number): number {
  return Math.min(3, natsServers);
}

export interface NodeSettings {
  natsUrls: readonly string[];
  clusterName: string;
  replicas: number;
  dataDir: string;
}

/** The config keys that make node i a member of the cluster. */
export function clusterNodeConfig(i: number, s: NodeSettings): Record<string, unknown> {
  const host = nodeAddress(i);
  return {
    host,
    advertiseHost: host,
    // Each node's admin listener on its own address: the same adminPort on every node, as on machines of their own.
    adminHost: host,
    natsServers: [...s.natsUrls],
    nodeName: nodeName(i),
    clusterName: s.clusterName,
    journalReplicas: s.replicas,
    dataDir: s.dataDir,
  };
}
