// Per-room mailboxes: every membership operation on a room (join, leave, a
// room's notice, restart, deletion, shutdown) runs after the earlier ones on
// that room have finished, so a join racing the room's creation, deletion or
// restart is ordered after it. A mailbox is a p-queue of concurrency 1,
// created on demand and dropped when idle.
import PQueue from 'p-queue';

export class Mailboxes {
  private readonly boxes = new Map<string, { queue: PQueue; tasks: number }>();

  /** Runs fn after every earlier membership operation on this room has finished. */
  serialize<T>(room: string, fn: () => Promise<T>): Promise<T> {
    let box = this.boxes.get(room);
    if (!box) {
      box = { queue: new PQueue({ concurrency: 1 }), tasks: 0 };
      this.boxes.set(room, box);
    }
    const b = box;
    b.tasks++;
    return (b.queue.add(fn) as Promise<T>).finally(() => {
      if (--b.tasks === 0) this.boxes.delete(room);
    });
  }
}
