// The room directory of cluster mode: which node holds which room, where
// its endpoint is, its key hash and member count. It lives in a JetStream
// KV bucket; every node keeps a live copy (a watch), so lookups are local
// and only changes go to NATS. A name is claimed with create-if-absent and
// a room moves with compare-and-set on the revision, so two nodes can never
// both believe they won it.
import type { KV } from '@nats-io/kv';
import type { Logger } from '../../lib/logger.js';
import { isWrongLastSequence } from '../../lib/nats-errors.js';

/** A room as the directory records it. */
export interface DirEntry {
  node: string;
  /** The holding node's boot id: a node that restarted under the same name holds nothing of its earlier life. */
  boot: string;
  host: string;
  /** 0 while the room is starting. */
  port: number;
  /** `moving`: claimed by `node`, which is rebuilding it (failover): not served yet. */
  state: 'starting' | 'running' | 'moving';
  members: number;
  /** hex SHA-256 of the room key: kept here so the room keeps its key on another node. */
  keyHash?: string;
}

export interface DirRecord {
  entry: DirEntry;
  revision: number;
}

/** The name is taken, or the revision was stale: someone else wrote first. */
export class DirectoryConflict extends Error {
  override name = 'DirectoryConflict';
}

export interface Directory {
  /** The live copy: the room's record, if any. */
  get(room: string): DirRecord | undefined;
  /** Every room in the live copy. */
  list(): Array<[room: string, rec: DirRecord]>;
  /** Claims a free name; DirectoryConflict if it is taken. Resolves with the revision. */
  create(room: string, entry: DirEntry): Promise<number>;
  /** Replaces the record if it is still at revision; DirectoryConflict if not. */
  update(room: string, entry: DirEntry, revision: number): Promise<number>;
  /** Frees the name if the record is still at revision (a stale one is left alone). */
  remove(room: string, revision: number): Promise<void>;
  /** Called after the live copy changed (watch), with the room. */
  onChange(fn: (room: string, rec: DirRecord | undefined) => void): void;
  close(): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function parseEntry(value: Uint8Array): DirEntry | undefined {
  try {
    const v = JSON.parse(dec.decode(value)) as Partial<DirEntry>;
    if (typeof v.node !== 'string' || typeof v.boot !== 'string' || typeof v.host !== 'string' || typeof v.port !== 'number') return undefined;
    if (v.state !== 'starting' && v.state !== 'running' && v.state !== 'moving') return undefined;
    return { node: v.node, boot: v.boot, host: v.host, port: v.port, state: v.state, members: typeof v.members === 'number' ? v.members : 0, ...(typeof v.keyHash === 'string' ? { keyHash: v.keyHash } : {}) };
  } catch {
    return undefined;
  }
}

export class KvDirectory implements Directory {
  private readonly copy = new Map<string, DirRecord>();
  private readonly listeners: Array<(room: string, rec: DirRecord | undefined) => void> = [];
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /** Opens the directory and resolves once the live copy holds every existing record. */
  static async open(kv: KV, log: Logger): Promise<KvDirectory> {
    const d = new KvDirectory(kv, log);
    await d.watch();
    return d;
  }

  private async watch(): Promise<void> {
    const iter = await this.kv.watch();
    this.stopWatch = () => iter.stop();
    let initial = true;
    let resolveInitial!: () => void;
    const caughtUp = new Promise<void>((r) => (resolveInitial = r));
    // An empty bucket has nothing to replay: the watcher says so with its first pending count.
    const info = await this.kv.status();
    if (info.values === 0) {
      initial = false;
      resolveInitial();
    }
    void (async () => {
      for await (const e of iter) {
        this.apply(e.key, e.operation === 'PUT' ? e.value : undefined, e.revision);
        if (initial && e.delta === 0) {
          initial = false;
          resolveInitial();
        }
      }
    })().catch((err: unknown) => this.log.error({ event: 'directory_watch_failed', err }, 'the room directory watch ended'));
    await caughtUp;
  }

  private apply(room: string, value: Uint8Array | undefined, revision: number): void {
    const cur = this.copy.get(room);
    // Our own writes are applied at once (below); the watch may bring them again, or older ones late.
    if (cur && cur.revision >= revision) return;
    const entry = value ? parseEntry(value) : undefined;
    if (entry) this.copy.set(room, { entry, revision });
    else this.copy.delete(room);
    const rec = this.copy.get(room);
    for (const fn of this.listeners) fn(room, rec);
  }

  get(room: string): DirRecord | undefined {
    return this.copy.get(room);
  }

  list(): Array<[string, DirRecord]> {
    return [...this.copy.entries()];
  }

  async create(room: string, entry: DirEntry): Promise<number> {
    try {
      const revision = await this.kv.create(room, enc.encode(JSON.stringify(entry)));
      this.apply(room, enc.encode(JSON.stringify(entry)), revision);
      return revision;
    } catch (err) {
      throw isWrongLastSequence(err) ? new DirectoryConflict(`room ${room} is taken`) : err;
    }
  }

  async update(room: string, entry: DirEntry, revision: number): Promise<number> {
    try {
      const next = await this.kv.update(room, enc.encode(JSON.stringify(entry)), revision);
      this.apply(room, enc.encode(JSON.stringify(entry)), next);
      return next;
    } catch (err) {
      throw isWrongLastSequence(err) ? new DirectoryConflict(`room ${room} changed`) : err;
    }
  }

  async remove(room: string, revision: number): Promise<void> {
    try {
      await this.kv.delete(room, { previousSeq: revision });
    } catch (err) {
      if (isWrongLastSequence(err)) return;
      throw err;
    }
  }

  onChange(fn: (room: string, rec: DirRecord | undefined) => void): void {
    this.listeners.push(fn);
  }

  close(): void {
    this.stopWatch?.();
  }
}

/** The same directory in memory, with the same conflicts (unit tests of failover and routing). */
export class MemoryDirectory implements Directory {
  private readonly records = new Map<string, DirRecord>();
  private readonly listeners: Array<(room: string, rec: DirRecord | undefined) => void> = [];
  private revision = 0;

  get(room: string): DirRecord | undefined {
    return this.records.get(room);
  }

  list(): Array<[string, DirRecord]> {
    return [...this.records.entries()];
  }

  async create(room: string, entry: DirEntry): Promise<number> {
    if (this.records.has(room)) throw new DirectoryConflict(`room ${room} is taken`);
    return this.put(room, entry);
  }

  async update(room: string, entry: DirEntry, revision: number): Promise<number> {
    if (this.records.get(room)?.revision !== revision) throw new DirectoryConflict(`room ${room} changed`);
    return this.put(room, entry);
  }

  async remove(room: string, revision: number): Promise<void> {
    if (this.records.get(room)?.revision !== revision) return;
    this.records.delete(room);
    for (const fn of this.listeners) fn(room, undefined);
  }

  onChange(fn: (room: string, rec: DirRecord | undefined) => void): void {
    this.listeners.push(fn);
  }

  close(): void {}

  private put(room: string, entry: DirEntry): number {
    const rec = { entry: { ...entry }, revision: ++this.revision };
    this.records.set(room, rec);
    for (const fn of this.listeners) fn(room, rec);
    return rec.revision;
  }
}
