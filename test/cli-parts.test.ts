// The pure parts of the interactive CLI: typed lines, the line format
// (actions, timestamps), error wording, the outbox that holds lines while a
// room is silent, and /nick's leave-and-join, against fakes.
import t from 'tap';
import { parseCli } from '../client/cli-args.js';
import { clock, formatEvent } from '../client/cli-format.js';
import { parseInput } from '../client/cli-input.js';
import { explain, serverName } from '../client/cli-format.js';
import { describe } from '../client/cli-oneshot.js';
import { changeNick, type NickDeps } from '../client/cli-nick.js';
import { Outbox } from '../client/cli-outbox.js';
import { ClientError } from '../client/chat-client.js';
import type { JoinInfo, MemberEntry } from '../client/client-events.js';

t.test('parseInput: chat lines, commands, /me, // and mistakes', async (t) => {
  t.same(parseInput('   '), { kind: 'empty' });
  t.same(parseInput(' hello there '), { kind: 'say', text: ' hello there ' }, 'a chat line goes as typed');
  t.same(parseInput('//etc/passwd'), { kind: 'say', text: '/etc/passwd' });
  t.same(parseInput('/me waves  hello'), { kind: 'say', text: '/me waves  hello' });
  t.same(parseInput('/ME   waves'), { kind: 'say', text: '/me waves' });
  t.match(parseInput('/me'), { kind: 'bad', message: /usage: \/me ACTION/ });
  t.same(parseInput('/join #a key'), { kind: 'command', name: 'join', args: ['#a', 'key'] });
  t.same(parseInput('/Nick  bob'), { kind: 'command', name: 'nick', args: ['bob'] });
  t.same(parseInput('/who'), { kind: 'command', name: 'who', args: [] });
  t.match(parseInput('/frob x'), { kind: 'bad', message: 'unknown command /frob; /help lists them' });
  t.match(parseInput('/\u001b[2Jx'), { kind: 'bad', message: /unknown command \/\uFFFD\[2Jx/ }, 'what is echoed is made safe');
  t.match(parseInput('/constructor'), { kind: 'bad' }, 'no inherited names');
});

t.test('formatEvent: actions and HH:MM from the message ts; presence and notices use the clock', async (t) => {
  const ts = new Date(2024, 0, 2, 9, 5).getTime();
  const msg = { type: 'msg' as const, room: 'r', seq: 1, member: 'm', nick: 'bob', text: '/me waves', ts, id: 'i' };
  t.equal(formatEvent(msg), '[r] bob: /me waves', 'tail and send: as before');
  t.equal(formatEvent(msg, { actions: true }), '[r] * bob waves');
  t.equal(formatEvent(msg, { actions: true, timestamps: true }), '09:05 [r] * bob waves');
  t.equal(formatEvent({ ...msg, text: '/me' }, { actions: true }), '[r] bob: /me', 'a bare /me is no action');
  t.equal(formatEvent({ ...msg, text: '/me \u001b[2J' }, { actions: true }), '[r] * bob \uFFFD[2J');
  const now = () => new Date(2024, 0, 2, 23, 59).getTime();
  t.equal(formatEvent({ type: 'presence', room: 'r', seq: 2, event: 'join', member: 'm', nick: 'ann' }, { timestamps: true, now }), '23:59 [r] * ann joined');
  t.equal(clock(new Date(2024, 0, 2, 0, 7).getTime()), '00:07');
});

t.test('explain: the server address instead of a request id', async (t) => {
  const timeout = new ClientError('TIMEOUT', 'no answer after 8 attempts');
  t.equal(explain(timeout, '127.0.0.1:7447'), 'no answer from 127.0.0.1:7447');
  t.equal(explain(new ClientError('NICK_TAKEN', 'nick taken'), 'h:1'), 'NICK_TAKEN: nick taken');
  t.equal(explain(new Error('boom\u0007'), 'h:1'), 'boom\uFFFD');
  t.equal(serverName('::1', 7447), '[::1]:7447');
  t.equal(serverName('chat.example', 9), 'chat.example:9');
  // Scripts (chat send/tail) keep the code first, for grep.
  t.equal(describe(timeout, '127.0.0.1:7447'), 'TIMEOUT: no answer from 127.0.0.1:7447');
  t.equal(describe(new ClientError('NOT_MEMBER', 'no longer a member'), 'h:1'), 'NOT_MEMBER: no longer a member');
  t.notMatch(describe(timeout, 'h:1'), /request/, 'no request id');
});

t.test('parseCli: --no-timestamps is for the interactive form only', async (t) => {
  t.match(parseCli(['--nick', 'n']), { kind: 'run', args: { timestamps: true } });
  t.match(parseCli(['--nick', 'n', '--no-timestamps']), { kind: 'run', args: { timestamps: false } });
  t.match(parseCli(['tail', '-r', 'r', '-n', 'n']), { kind: 'run', args: { timestamps: false } });
  t.match(parseCli(['tail', '-r', 'r', '-n', 'n', '--no-timestamps']), { kind: 'usage', error: /--no-timestamps is only for interactive/ });
});

/** A say that the test settles by hand. */
function fakeSays() {
  const calls: Array<{ room: string; text: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  const say = (room: string, text: string) => new Promise<unknown>((resolve, reject) => calls.push({ room, text, resolve: () => resolve(undefined), reject }));
  return { calls, say };
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('Outbox: one at a time, in order; held while the room is silent; failures by text', async (t) => {
  const { calls, say } = fakeSays();
  const failed: string[] = [];
  const queued: string[] = [];
  const box = new Outbox({ say, failed: (_r, text, err) => failed.push(`${text}: ${(err as Error).message}`), queued: (_r, text) => queued.push(text) });
  box.send('a', ['1', '2']);
  await tick();
  t.same(calls.map((c) => c.text), ['1'], 'one at a time');
  calls[0]!.resolve();
  await tick();
  t.same(calls.map((c) => c.text), ['1', '2']);
  box.stall('a', true);
  box.send('a', ['3', '4']);
  t.same(queued, ['3', '4'], 'said to wait');
  calls[1]!.resolve(); // the one in flight still completes
  await tick();
  t.equal(calls.length, 2, 'nothing sent while silent');
  t.equal(box.waiting('a'), 2);
  box.stall('a', false);
  await tick();
  t.same(calls.map((c) => c.text), ['1', '2', '3'], 'sent again once the room answers');
  calls[2]!.reject(new Error('no answer'));
  await tick();
  t.same(failed, ['3: no answer'], 'a failure names the text');
  t.equal(calls[3]!.text, '4', 'and the next goes on');
  const idle = box.idle('a');
  calls[3]!.resolve();
  await idle;
  t.equal(box.waiting(), 0);
});

t.test('Outbox: a room that goes away reports what waited for it', async (t) => {
  const { calls, say } = fakeSays();
  const failed: string[] = [];
  const box = new Outbox({ say, failed: (_r, text) => failed.push(text), queued: () => {} });
  box.stall('a', true);
  box.send('a', ['x', 'y']);
  box.send('b', ['other']);
  box.drop('a', new Error('closed'));
  t.same(failed, ['x', 'y']);
  await box.idle('a');
  await tick();
  t.same(calls.map((c) => c.text), ['other'], 'other rooms are not held');
  calls[0]!.resolve();
  await box.idle();
});

/** A fake room service for /nick: rooms with their nicks; who/leave/join act on them. */
function fakeRooms(members: Record<string, string[]>, opts: { raceTaken?: string } = {}) {
  const lines: string[] = [];
  const joined = new Set(Object.keys(members));
  const d: NickDeps = {
    joinedRooms: () => [...joined],
    who: async (room) => members[room]!.map((nick, i): MemberEntry => ({ member: `m${i}`, nick })),
    leave: async (room) => {
      joined.delete(room);
      members[room] = members[room]!.filter((n) => n !== 'alice');
    },
    join: async (room, nick): Promise<JoinInfo> => {
      if (nick === opts.raceTaken || members[room]!.includes(nick)) throw new ClientError('NICK_TAKEN', 'nick taken');
      members[room]!.push(nick);
      joined.add(room);
      return { room, member: 'me', nick, port: 1, members: members[room]!.length, seq: 1, heartbeatMs: 5000 };
    },
    notice: (room, text) => lines.push(`[${room}] ${text}`),
    note: (text) => lines.push(text),
    describe: (err) => (err as Error).message,
  };
  return { d, lines, members, joined };
}

t.test('/nick: leave and join each room; a taken nick keeps the old membership', async (t) => {
  const f = fakeRooms({ a: ['alice', 'bob'], b: ['alice', 'Carol'] });
  const nick = await changeNick(f.d, 'alice', 'carol');
  t.equal(nick, 'carol', 'taken in one room only: the new nick for the others');
  t.same(f.members, { a: ['bob', 'carol'], b: ['alice', 'Carol'] });
  t.match(f.lines, [/\[a\] you are now carol/, /\[b\] the nick carol is taken here; you stay alice/]);

  const race = fakeRooms({ a: ['alice'] }, { raceTaken: 'dave' });
  t.equal(await changeNick(race.d, 'alice', 'dave'), 'alice');
  t.same(race.members.a, ['alice'], 'joined again under the old nick');
  t.match(race.lines, [/the nick dave was just taken; joined again as alice/]);

  const none = fakeRooms({});
  t.equal(await changeNick(none.d, 'alice', 'zed'), 'zed');
  t.match(none.lines, [/you are now zed/]);

  const bad = fakeRooms({ a: ['alice'] });
  t.equal(await changeNick(bad.d, 'alice', 'two words'), 'alice');
  t.match(bad.lines, [/bad nick "two words": nicks are 1-32/]);
  t.equal(await changeNick(bad.d, 'alice', undefined), 'alice');
  t.match(bad.lines[1], /usage: \/nick NEW/);
  t.same(bad.members.a, ['alice'], 'nothing left for a bad nick');
});
