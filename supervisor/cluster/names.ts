// Every NATS name a cluster uses, derived from clusterName in one place, so
// several clusters can share one NATS without meeting.
export interface ClusterNames {
  /** The stream holding every room's journal, one subject per room. */
  readonly stream: string;
  /** The KV bucket of the room directory (supervisor/cluster/directory.ts). */
  readonly directory: string;
  /** The KV bucket of node leases (supervisor/cluster/node-leases.ts). */
  readonly leases: string;
  /** A room's journal subject. Room names are subject-safe ([A-Za-z0-9._-]); each maps to its own subject. */
  roomSubject(room: string): string;
  /** The subject a node answers forwarded control requests on. */
  nodeSubject(node: string): string;
}

export function clusterNames(clusterName: string): ClusterNames {
  return {
    stream: `${clusterName}_rooms`,
    directory: `${clusterName}_directory`,
    leases: `${clusterName}_nodes`,
    roomSubject: (room) => `${clusterName}.room.${room}`,
    nodeSubject: (node) => `${clusterName}.node.${node}.control`,
  };
}
