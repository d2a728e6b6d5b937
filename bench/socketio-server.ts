// Baseline for the fan-out comparison: a minimal Socket.IO 4.8 room chat
// server, as a Node user would build one instead of chatd. Forked by the
// bench (bench/server-process.ts); listens on 127.0.0.1, ephemeral port,
// reported over IPC ({type:'listening', port}); websocket transport only,
// Socket.IO's defaults otherwise (no compression).
//   client -> 'join' (room, nick, ack): joins the Socket.IO room; ack({member})
//   client -> 'say' ({id, text}): the server builds chatd's event
//     {type:'msg',room,seq,member,nick,text,ts,id} and sends it to the whole
//     room, the sender included (its copy is its ack, as in chatd), with
//     io.to(room).emit('msg', event): Socket.IO encodes the packet once per
//     broadcast and writes it to each member's websocket.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
/** One room per bench run: one seq counter is enough. */
let seq = 0;

io.on('connection', (socket) => {
  let room: string | undefined;
  let nick = '';
  // A member id of chatd's length (10 characters), so the events are the same size.
  const member = randomBytes(8).toString('base64url').slice(0, 10);
  socket.on('join', (r: unknown, n: unknown, ack: unknown) => {
    if (typeof r !== 'string' || typeof n !== 'string') return;
    room = r;
    nick = n;
    void socket.join(r);
    if (typeof ack === 'function') ack({ member });
  });
  socket.on('say', (m: { id?: unknown; text?: unknown } | undefined) => {
    if (room === undefined || typeof m?.text !== 'string') return;
    io.to(room).emit('msg', { type: 'msg', room, seq: ++seq, member, nick, text: m.text, ts: Date.now(), id: m.id });
  });
});

// Exit with the bench (IPC gone) or on SIGTERM; exiting normally lets
// `node --cpu-prof` write its profile.
const quit = () => {
  io.close();
  process.exit(0);
};
process.on('disconnect', quit);
process.on('SIGTERM', quit);

http.listen(0, '127.0.0.1', () => {
  const a = http.address();
  process.send?.({ type: 'listening', port: typeof a === 'object' && a ? a.port : 0 });
});
