// Chaos: three rooms, several clients chatting continuously, room processes
// SIGKILLed again and again. Every message a sender had acknowledged reaches
// every member, once, in order; nobody re-joins; ports never change.
import t from 'tap';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import { startChatd } from './helpers/chatd.js';

const ROOMS = ['alpha', 'beta', 'gamma'];
const CLIENTS = 4; // each in every room
const KILLS = 6;
const MESSAGES_PER_SENDER = 40;
const MAX_MESSAGES_PER_SENDER = 1_000;
/** Pacing between one sender's messages: a chat, not a flood (the benchmark floods). */
const PACE_MS = 5;

t.test('acknowledged messages survive repeated SIGKILLs of room processes', async (t) => {
  // rate limits raised: this test is about restarts, and its senders chat fast
  // restartMaxRestarts: as many as the default window can hold (more could never be reached, and is refused)
  const d = await startChatd(t, { restartMaxRestarts: 9, logLevel: 'info', sayRatePerSec: 10_000, sayBurst: 10_000 });
  const clients: ChatClient[] = [];
  // received[client][room] = msgs in delivery order
  const received: Array<Map<string, MsgEvent[]>> = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = new ChatClient({ host: '127.0.0.1', port: d.port, maxAttempts: 20 });
    t.teardown(() => c.close({ leave: false }));
    const byRoom = new Map<string, MsgEvent[]>(ROOMS.map((r) => [r, []]));
    c.on('message', (m) => byRoom.get(m.room)!.push(m));
    clients.push(c);
    received.push(byRoom);
  }
  let killsDone = false;
  const ports = new Map<string, number>();
  for (const room of ROOMS) {
    for (let i = 0; i < CLIENTS; i++) {
      const info = await clients[i]!.join(room, `c${i}`);
      ports.set(room, info.port);
    }
  }
  const lost: string[] = [];
  for (const c of clients) c.on('membership-lost', ({ room }) => lost.push(room));

  // Every client sends in every room, one message at a time (each awaited: acknowledged).
  const acked = new Map<string, string[]>(); // `${room}/${sender}` -> texts in ack order
  const senders = clients.flatMap((c, i) =>
    ROOMS.map(async (room) => {
      const key = `${room}/c${i}`;
      acked.set(key, []);
      // keep chatting until the killer is done (bounded), so the kills land mid-conversation
      for (let n = 0; n < MAX_MESSAGES_PER_SENDER && (n < MESSAGES_PER_SENDER || !killsDone); n++) {
        const text = `${key}#${n}`;
        await c.say(room, text);
        acked.get(key)!.push(text);
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
    }),
  );

  // Meanwhile: kill a room process, wait for its restart, repeat (bounded).
  const killer = (async () => {
    for (let k = 0; k < KILLS; k++) {
      const room = ROOMS[k % ROOMS.length]!;
      const last = d.logs.filter((l) => l.event === 'room_started' && l['room'] === room).at(-1)!;
      const inc = last['incarnation'] as number;
      process.kill(last['roomPid'] as number, 'SIGKILL');
      // `>`: on a loaded machine a start can time out and be retried as a further incarnation
      await d.waitLog((l) => l.event === 'room_started' && l['room'] === room && (l['incarnation'] as number) > inc, 30_000, `restart of ${room}`);
    }
    killsDone = true;
  })();
  await Promise.all([...senders, killer]);

  // Wait (bounded) until every member has every acknowledged message of every room.
  const want = (room: string) => ROOMS.includes(room) ? [...acked].filter(([k]) => k.startsWith(`${room}/`)).reduce((n, [, v]) => n + v.length, 0) : 0;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !received.every((r) => ROOMS.every((room) => r.get(room)!.length >= want(room)))) {
    await new Promise((r) => setTimeout(r, 50));
  }

  for (let i = 0; i < CLIENTS; i++) {
    for (const room of ROOMS) {
      const got = received[i]!.get(room)!;
      const seqs = got.map((m) => m.seq);
      t.ok(seqs.every((s, j) => j === 0 || s > seqs[j - 1]!), `c${i} in ${room}: strictly increasing seq`);
      t.equal(new Set(got.map((m) => m.text)).size, got.length, `c${i} in ${room}: no duplicates`);
      for (let s = 0; s < CLIENTS; s++) {
        const key = `${room}/c${s}`;
        const fromSender = got.filter((m) => m.text.startsWith(`${key}#`)).map((m) => m.text);
        t.same(fromSender, acked.get(key), `c${i} in ${room}: every acknowledged message of c${s}, in order`);
      }
    }
  }
  t.same(lost, [], 'no membership was lost: nobody had to re-join');
  for (const room of ROOMS) {
    const starts = d.logs.filter((l) => l.event === 'room_started' && l['room'] === room);
    t.ok(starts.every((l) => l['port'] === ports.get(room)), `${room}: the port never changed over ${starts.length} incarnations`);
  }
  t.ok(d.logs.filter((l) => l.event === 'room_exit' && l['decision'] === 'restart').length >= KILLS, 'every kill was a restart');
  t.notOk(d.logs.some((l) => l.event === 'room_exit' && l['decision'] === 'give-up'), 'no room was given up');
  const total = [...acked.values()].reduce((n, v) => n + v.length, 0);
  t.ok(total > ROOMS.length * CLIENTS * MESSAGES_PER_SENDER, `chatting went on through the kills (${total} messages acknowledged)`);
  t.comment(`acknowledged ${total} messages across ${KILLS} kills`);
});
