// Refusals that state the rule: the service's BAD_ROOM_NAME, BAD_NICK and
// BAD_KEY messages, and the interactive CLI's own checks of /join.
import t from 'tap';
import { ChatClient, ClientError } from '../client/chat-client.js';
import { roomArg } from '../client/cli-args.js';
import { ERROR_CODES, errorInfo } from '../lib/errors.js';
import { KEY_MISSING, KEY_UNWANTED, KEY_WRONG, NICK_RULE, ROOM_NAME_RULE } from '../lib/names.js';
import { fitError, ReplyBudget } from '../lib/reply-budget.js';
import { startChatd } from './helpers/chatd.js';
import { runCli } from './helpers/cli.js';



async function refusal(p: Promise<unknown>): Promise<ClientError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof ClientError)) throw new Error(`expected a ClientError, got ${String(e)}`);
  return e;
}

t.test('the service says what is allowed', async (t) => {
  const d = await startChatd(t);
  const c = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => c.close({ leave: false }));
  t.match(await refusal(c.join('bad room', 'ann')), { code: 'BAD_ROOM_NAME', message: ROOM_NAME_RULE });
  t.match(await refusal(c.join('ok', 'bob smith')), { code: 'BAD_NICK', message: NICK_RULE });
  await c.join('private', 'ann', { key: 'sesame' });
  const other = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => other.close({ leave: false }));
  t.match(await refusal(other.join('private', 'bob')), { code: 'BAD_KEY', message: KEY_MISSING });
  const wrong = await refusal(other.join('private', 'bob', { key: 'sesamf' }));
  t.match(wrong, { code: 'BAD_KEY', message: KEY_WRONG });
  t.notMatch(wrong.message, /sesame/, 'nothing about the key');
  await c.join('public', 'ann');
  t.match(await refusal(other.join('public', 'bob', { key: 'x' })), { code: 'BAD_KEY', message: KEY_UNWANTED });
});

t.test('a detailed refusal that does not fit the reply budget falls back to the short one', async (t) => {
  const tiny = new ReplyBudget(30, false);
  const short = fitError(tiny, errorInfo('BAD_NICK', NICK_RULE), '1');
  t.ok(short, 'something is sent');
  t.equal(JSON.parse(short!.toString()).message, ERROR_CODES.BAD_NICK);
  const roomy = fitError(new ReplyBudget(100, false), errorInfo('BAD_NICK', NICK_RULE), '1');
  t.equal(JSON.parse(roomy!.toString()).message, NICK_RULE);
});

t.test('roomArg: one leading # dropped, the rule on a bad name', async (t) => {
  t.same(roomArg('#general'), { room: 'general', stripped: true });
  t.same(roomArg('general'), { room: 'general', stripped: false });
  t.match(roomArg('bad!'), { error: new RegExp(`bad room name "bad!": ${ROOM_NAME_RULE.replace(/[.]/g, '\\.')}`) });
  t.match(roomArg('##x'), { room: '#x', error: /bad room name/ });
  t.match(roomArg('#'), { error: /bad room name/ });
});

t.test('interactive /join: # accepted once noted, bad names and extra words refused before sending', async (t) => {
  const d = await startChatd(t);
  const server = `127.0.0.1:${d.port}`;
  const r = await runCli(['--server', server, '--nick', 'ann'], '/join #general\n/join #other\n/join a b c\n/join bad!room\n/join new room!\n');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.match(/room names have no #/g)?.length, 1, 'the # is noted once');
  t.match(r.stdout, /\[general\] \* joined as ann/);
  t.match(r.stdout, /\[other\] \* joined as ann/);
  t.match(r.stdout, /usage: \/join ROOM \[KEY\] \(one word each/);
  t.match(r.stdout, /bad room name "bad!room": room names are 1-64 characters/);
  t.match(r.stdout, /\[new\] \* the room's key is "room!"/, 'a key that makes a private room is said out loud');
  t.notOk(d.logs.some((l) => l.event === 'member_joined' && (l['room'] === 'a' || l['room'] === 'bad!room')), 'nothing sent for the refused joins');
});

t.test('chat send: --room #x is x; a bad --nick is refused with the rule', async (t) => {
  const d = await startChatd(t);
  const server = `127.0.0.1:${d.port}`;
  const ok = await runCli(['send', '--server', server, '--room', '#general', '--nick', 'bot', 'hi']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stderr, /room names have no #; using general/);
  const bad = await runCli(['send', '--server', server, '--room', 'general', '--nick', 'bob smith', 'hi']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /BAD_NICK: nicks are 1-32/);
});
