// Chat lines on their way to their rooms: sent one at a time per room, in
// the order typed. While a room does not answer, new lines wait here instead
// of spending their retries against silence, and go out in order once it
// answers again; a line that cannot be sent is reported by its text.
export interface OutboxDeps {
  /** Sends one text; resolves once the room has it. */
  say(room: string, text: string): Promise<unknown>;
  /** The text was not sent (err says why). */
  failed(room: string, text: string, err: unknown): void;
  /** The text waits for the room to answer again. */
  queued(room: string, text: string): void;
}

interface RoomQueue {
  waiting: string[];
  running: boolean;
  /** The room stopped answering: hold what waits. */
  stalled: boolean;
  wake: (() => void) | undefined;
  idle: Array<() => void>;
}

export class Outbox {
  private readonly rooms = new Map<string, RoomQueue>();

  constructor(private readonly deps: OutboxDeps) {}

  /** Queues texts for the room (in order, behind what waits there already). */
  send(room: string, texts: readonly string[]): void {
    const q = this.queue(room);
    for (const text of texts) {
      q.waiting.push(text);
      if (q.stalled) this.deps.queued(room, text);
    }
    if (!q.running) void this.pump(room, q);
  }

  /** The room stopped (true) or started again (false) answering. */
  stall(room: string, on: boolean): void {
    const q = this.queue(room);
    q.stalled = on;
    if (!on) this.wakeUp(q);
    this.forgetIfIdle(room, q);
  }

  isStalled(room: string): boolean {
    return this.rooms.get(room)?.stalled ?? false;
  }

  /** Texts not sent yet (waiting, not the one in flight). */
  waiting(room?: string): number {
    let n = 0;
    for (const [name, q] of this.rooms) if (room === undefined || name === room) n += q.waiting.length;
    return n;
  }

  /** The room is gone: whatever waits for it is reported not sent. */
  drop(room: string, err: unknown): void {
    const q = this.rooms.get(room);
    if (!q) return;
    const lost = q.waiting.splice(0);
    q.stalled = false;
    for (const text of lost) this.deps.failed(room, text, err);
    this.wakeUp(q);
    this.forgetIfIdle(room, q);
  }

  dropAll(err: unknown): void {
    for (const room of [...this.rooms.keys()]) this.drop(room, err);
  }

  /** Resolves once the room's lines (every room's, without a room) are sent or failed. */
  async idle(room?: string): Promise<void> {
    const queues = room === undefined ? [...this.rooms.values()] : [this.rooms.get(room)].filter((q) => q !== undefined);
    await Promise.all(queues.map((q) => (q.running ? new Promise<void>((resolve) => q.idle.push(resolve)) : undefined)));
  }

  private queue(room: string): RoomQueue {
    let q = this.rooms.get(room);
    if (!q) {
      q = { waiting: [], running: false, stalled: false, wake: undefined, idle: [] };
      this.rooms.set(room, q);
    }
    return q;
  }

  private async pump(room: string, q: RoomQueue): Promise<void> {
    q.running = true;
    while (q.waiting.length > 0) {
      if (q.stalled) {
        await new Promise<void>((resolve) => (q.wake = resolve));
        continue;
      }
      const text = q.waiting.shift()!;
      try {
        await this.deps.say(room, text);
      } catch (err) {
        this.deps.failed(room, text, err);
      }
    }
    q.running = false;
    for (const resolve of q.idle.splice(0)) resolve();
    this.forgetIfIdle(room, q);
  }

  private wakeUp(q: RoomQueue): void {
    const wake = q.wake;
    q.wake = undefined;
    wake?.();
  }

  /** A room with nothing to send and nothing to remember is not kept (rooms come and go). */
  private forgetIfIdle(room: string, q: RoomQueue): void {
    if (!q.running && !q.stalled && q.waiting.length === 0 && this.rooms.get(room) === q) this.rooms.delete(room);
  }
}
