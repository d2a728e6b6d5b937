// The status page (supervisor/admin/status-page.ts) in a real browser:
// Debian's chromium, headless, driven by playwright-core. What the page
// talks to is one function, serverUnderTest: for now a stand-in that serves
// the page as the admin listener is to serve it and a /status the test
// changes between polls; the real listener can take its place there.
// Every wait is for a DOM change or a request, bounded; nothing sleeps.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import { STATUS_PAGE_CSP, STATUS_PAGE_HEADERS, STATUS_PAGE_HTML } from '../supervisor/admin/status-page.js';
import type { StatusReport } from '../supervisor/status-command.js';
import { scratchDir } from './helpers/ops.js';
import { fakeAdmin, room, statusFixture } from './helpers/status-fixture.js';
import { startChatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

// The page's globals, for the functions that run in the browser (this
// project compiles without the DOM library).
declare const document: { querySelector(s: string): any; querySelectorAll(s: string): { length: number } & Iterable<any> };

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium reaches out to the
// internet by itself (updates, sync, field trials), which this must never do.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT_MS = 10_000;
const TOKEN = 'page-admin-token-0123456789';
/** The policy the brief for the admin listener allows; the page's own (STATUS_PAGE_CSP) is stricter. */
const LOOSE_CSP = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'";
const root = new URL('../../', import.meta.url);

/** What the test's /status answers next: the document, or a failure of the kind named. */
interface Feed {
  doc: StatusReport;
  fail: false | 'http503' | 'drop';
}

interface ServiceUnderTest {
  /** http://HOST:PORT, the page at `/`. */
  base: string;
  /** Authorization headers of the /status requests so far. */
  auths: (string | undefined)[];
  /** Resolves once /status has been asked n times in all. */
  polled(n: number): Promise<void>;
}

/** The server under test: the page at / with the listener's headers, /status from the feed. */
async function serverUnderTest(t: Test, feed: Feed, opts: { token?: string; csp?: string } = {}): Promise<ServiceUnderTest> {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const admin = await fakeAdmin(
    t,
    (_req, res) => {
      count++;
      for (const w of waiters.filter((w) => count >= w.n)) w.resolve();
      if (feed.fail === 'http503') res.writeHead(503, { 'content-type': 'text/plain' }).end('stopping\n');
      else if (feed.fail === 'drop') res.socket?.destroy();
      else res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(feed.doc));
    },
    {
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      routes: { '/': (_req, res) => res.writeHead(200, { ...STATUS_PAGE_HEADERS, 'content-security-policy': opts.csp ?? STATUS_PAGE_CSP }).end(STATUS_PAGE_HTML) },
    },
  );
  return {
    base: admin.base,
    auths: admin.auths,
    polled: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** A fresh page; its script errors and CSP refusals are collected to be checked at the end. */
async function openPage(t: Test, browser: Browser, url: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1180, height: 860 }, colorScheme: 'light' });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

const texts = (page: Page, sel: string) => page.locator(sel).allTextContents();

function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (Debian: apt-get install chromium); the status page is tested in a real browser`;
}

const missing = chromiumMissing();
if (missing) {
  t.plan(0, `status page tests skipped: ${missing}`);
} else {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  t.teardown(() => browser.close());

  t.test('the page shows the service, totals, rooms busiest first, the cluster and recent events', async (t) => {
    const feed: Feed = { doc: statusFixture(), fail: false };
    const svc = await serverUnderTest(t, feed);
    const { page, problems } = await openPage(t, browser, `${svc.base}/`);
    await page.waitForFunction(() => document.querySelectorAll('#room-rows tr').length === 5, undefined, { timeout: WAIT_MS });

    t.same(await texts(page, '#room-rows th.room'), ['lobby', 'dev', 'quiet', 'idle-a', 'idle-b'], 'messages/s, then members, then name');
    t.same(await texts(page, '#room-rows td.members'), ['30', '4', '9', '2', '2']);
    t.same(await texts(page, '#room-rows td.mps'), ['12.0', '1.0', '0.5', '0.0', '0.0']);
    const lobby = page.locator('tr[data-room="lobby"]');
    t.same(await lobby.locator('td').allTextContents(), ['running', '12.0', '', '30', '360.0', '98765', '40001', '10001', '2', '58.5 MiB']);
    t.equal(await page.locator('tr[data-room="idle-a"] td.pid').textContent(), '–', 'no pid while restarting');
    t.equal(await page.locator('#room-rows svg.spark').count(), 5, 'a sparkline per room');

    const totals = Object.fromEntries(await page.locator('#totals div').evaluateAll((ds) => ds.map((d) => [d.dataset.total, d.querySelector('dd').textContent])));
    t.same(totals, { rooms: '5', members: '47', mps: '13.5', dps: '402.5', restarts: '3', evictions: '2' });

    const service = (await page.locator('#service').textContent()) ?? '';
    for (const part of ['version 0.1.0', 'node node-1', 'pid 4242', 'up 2h 03m', 'running', 'control 0.0.0.0:7447/udp', 'config sha256:3f2a9c1b']) t.ok(service.includes(part), `service line: ${part}`);

    t.ok(await page.locator('#cluster-section').isVisible(), 'the cluster is shown');
    t.same(await texts(page, '#node-rows th'), ['node-1', 'node-2']);
    t.equal(await page.locator('tr[data-node="node-1"] td').last().textContent(), 'this node');

    t.same(
      await page.locator('#recent-rows tr').evaluateAll((rs) => rs.map((r) => r.dataset.event)),
      ['room_gave_up', 'member_evicted', 'room_restarted'],
      'recent events newest first',
    );
    // Accessible basics: every table has column headers, every room row a row header.
    t.equal(await page.locator('table:not(:has(thead th[scope="col"]))').count(), 0, 'column headers everywhere');
    t.equal(await page.locator('#room-rows tr:not(:has(th[scope="row"]))').count(), 0, 'row headers');

    // A single node: no cluster part.
    feed.doc = statusFixture({ cluster: null });
    await page.waitForFunction(() => document.querySelector('#cluster-section').hidden === true, undefined, { timeout: WAIT_MS });
    t.same(problems, [], 'no script errors, nothing refused by the CSP');
  });

  t.test("a room's sparkline moves with its messages/s, and the order follows", async (t) => {
    const feed: Feed = { doc: statusFixture(), fail: false };
    const svc = await serverUnderTest(t, feed);
    const { page, problems } = await openPage(t, browser, `${svc.base}/`);
    // quiet runs at 0.5 messages/s: its newest point sits mid-height.
    const line = page.locator('tr[data-room="quiet"] polyline');
    const dot = page.locator('tr[data-room="quiet"] svg.spark circle');
    await dot.waitFor({ timeout: WAIT_MS });
    const before = { points: await line.getAttribute('points'), cy: Number(await dot.getAttribute('cy')) };

    feed.doc = statusFixture();
    const quiet = feed.doc.rooms.find((r) => r.room === 'quiet')!;
    quiet.messagesPerSec = 25;
    await page.waitForFunction(() => document.querySelector('tr[data-room="quiet"] td.mps').textContent === '25.0', undefined, { timeout: WAIT_MS });
    const after = { points: await line.getAttribute('points'), cy: Number(await dot.getAttribute('cy')) };
    t.not(after.points, before.points, 'the line changed');
    t.ok(after.cy < before.cy, `its newest point rose (cy ${before.cy} -> ${after.cy})`);
    t.same((await texts(page, '#room-rows th.room')).slice(0, 2), ['quiet', 'lobby'], 'quiet is now the busiest');

    // Silent: the newest point drops to the floor; the peak stays on the line.
    quiet.messagesPerSec = 0;
    await page.waitForFunction(() => document.querySelector('tr[data-room="quiet"] td.mps').textContent === '0.0', undefined, { timeout: WAIT_MS });
    t.ok(Number(await dot.getAttribute('cy')) > before.cy, 'the newest point fell below where it started');
    t.match(await page.locator('tr[data-room="quiet"] svg').getAttribute('aria-label'), /now 0\.0, peak 25\.0/);
    t.same(problems, []);
  });

  t.test('a failing /status: "chatd not answering since ...", the last answer kept, then recovery', async (t) => {
    const feed: Feed = { doc: statusFixture(), fail: false };
    const svc = await serverUnderTest(t, feed);
    const { page, problems } = await openPage(t, browser, `${svc.base}/`);
    await page.locator('#room-rows tr').first().waitFor({ timeout: WAIT_MS });
    const notice = page.locator('#notice');
    t.notOk(await notice.isVisible(), 'no notice while chatd answers');

    for (const [fail, says] of [['http503', /\(HTTP 503\)/], ['drop', /\(no connection\)/]] as const) {
      feed.fail = fail;
      await notice.waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#notice').textContent), says.source, { timeout: WAIT_MS });
      t.match(await notice.textContent(), /^chatd not answering since \d\d:\d\d:\d\d /, `${fail}: the notice`);
      t.match(await notice.getAttribute('role'), 'alert');
      t.match(await page.locator('main').getAttribute('class'), /stale/, 'the last answer is shown, dimmed');
      t.equal(await page.locator('#room-rows tr').count(), 5, 'the rooms stay on the page');
      t.match(await page.title(), /not answering/);

      feed.fail = false;
      feed.doc = statusFixture({ totals: { ...feed.doc.totals, members: 48 } });
      await notice.waitFor({ state: 'hidden', timeout: WAIT_MS });
      await page.waitForFunction(() => document.querySelector('#totals [data-total="members"] dd').textContent === '48', undefined, { timeout: WAIT_MS });
      t.notMatch((await page.locator('main').getAttribute('class')) ?? '', /stale/, `${fail}: recovered`);
    }
    t.same(problems, []);
  });

  t.test('?token= is sent as a bearer token, and leaves the address bar', async (t) => {
    const feed: Feed = { doc: statusFixture(), fail: false };
    const svc = await serverUnderTest(t, feed, { token: TOKEN });
    const { page, problems } = await openPage(t, browser, `${svc.base}/?token=${TOKEN}`);
    await page.locator('#room-rows tr').first().waitFor({ timeout: WAIT_MS });
    t.ok(svc.auths.length > 0 && svc.auths.every((a) => a === `Bearer ${TOKEN}`), `every /status request carried the token (${svc.auths.length})`);
    t.equal(page.url(), `${svc.base}/`, 'the token is gone from the address bar');
    // A reload in the same tab keeps working: the tab kept the token.
    const asked = svc.auths.length;
    await page.reload();
    await svc.polled(asked + 1);
    await page.locator('#room-rows tr').first().waitFor({ timeout: WAIT_MS });
    t.equal(svc.auths.at(-1), `Bearer ${TOKEN}`, 'sent after a reload');

    const bare = await openPage(t, browser, `${svc.base}/`);
    await bare.page.locator('#notice').waitFor({ state: 'visible', timeout: WAIT_MS });
    t.match(await bare.page.locator('#notice').textContent(), /HTTP 401: the admin listener wants a token; open this page as \?token=TOKEN/);
    t.same([...problems, ...bare.problems], []);
  });

  t.test("the page also works under the admin listener's looser policy ('unsafe-inline')", async (t) => {
    const feed: Feed = { doc: statusFixture(), fail: false };
    const svc = await serverUnderTest(t, feed, { csp: LOOSE_CSP });
    const { page, problems } = await openPage(t, browser, `${svc.base}/`);
    await page.waitForFunction(() => document.querySelectorAll('#room-rows tr').length === 5, undefined, { timeout: WAIT_MS });
    t.same(problems, []);
  });

  t.test('a screenshot for the docs (docs/status-page.png with CHATD_UPDATE_SCREENSHOT=1)', async (t) => {
    // Rates that wander, so the sparklines have a shape: a busy lobby, a
    // room warming up, one that went quiet.
    const polls = 24;
    const at = (i: number) => {
      const rooms = [
        room('lobby', { port: 40_001, pid: 31_201, members: 38, seq: 98_765 + i * 12, messagesPerSec: 10 + 4 * Math.sin(i / 2), deliveriesPerSec: 380 + 150 * Math.sin(i / 2), restarts: 2, incarnation: 3, rssBytes: 61_341_696, cpuSeconds: 812 }),
        room('release-2025', { port: 40_006, pid: 31_208, members: 12, seq: 400 + i * 4, messagesPerSec: Math.min(8, i / 3), deliveriesPerSec: 12 * Math.min(8, i / 3), rssBytes: 53_870_592 }),
        room('dev', { port: 40_003, pid: 31_203, members: 4, seq: 555, messagesPerSec: Math.max(0, 3 - i / 6), deliveriesPerSec: 4 * Math.max(0, 3 - i / 6), rssBytes: 52_015_104 }),
        room('quiet', { port: 40_002, pid: 31_202, members: 9, seq: 120, messagesPerSec: i % 8 === 0 ? 1 : 0, deliveriesPerSec: i % 8 === 0 ? 9 : 0, rssBytes: 51_380_224 }),
        room('idle-a', { port: 40_004, pid: null, state: 'restarting', members: 2, seq: 3, restarts: 1, incarnation: 2, rssBytes: null, cpuSeconds: null }),
      ];
      const sum = (k: 'members' | 'messagesPerSec' | 'deliveriesPerSec') => rooms.reduce((s, r) => s + r[k], 0);
      const totals = { rooms: rooms.length, members: sum('members'), messagesPerSec: sum('messagesPerSec'), deliveriesPerSec: sum('deliveriesPerSec'), restarts: 3, evictions: 2 };
      return statusFixture({ rooms, totals, uptimeMs: 2 * 3_600_000 + 3 * 60_000 + i * 1000 });
    };
    const feed: Feed = { doc: at(0), fail: false };
    const svc = await serverUnderTest(t, feed);
    const { page, problems } = await openPage(t, browser, `${svc.base}/`);
    for (let i = 1; i <= polls; i++) {
      await svc.polled(i);
      feed.doc = at(i);
    }
    await page.waitForFunction((n) => document.querySelector('tr[data-room="lobby"] polyline').getAttribute('points').split(' ').length >= n, polls, { timeout: WAIT_MS });
    const docs = process.env['CHATD_UPDATE_SCREENSHOT'] === '1';
    const dir = docs ? join(new URL('docs/', root).pathname) : scratchDir(t, 'chatd-page-');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'status-page.png');
    writeFileSync(file, await page.screenshot({ fullPage: true }));
    const size = statSync(file).size;
    t.ok(size > 10_000 && size < 200_000, `a screenshot of ${size} bytes (${file})`);
    t.same(problems, []);
  });

  t.test('against a running chatd with traffic: the rooms appear, their sparklines move, the listener serves the page', async (t) => {
    const d = await startChatd(t, { adminToken: TOKEN, sayRatePerSec: 1_000, sayBurst: 1_000 });
    const listening = await d.waitLog((l) => l.event === 'listening', 15_000, 'listening');
    const base = `http://${String(listening['admin'])}`;
    // Two rooms: 'busy' chats, 'calm' only holds a member.
    const a = await RawClient.open(t);
    const b = await RawClient.open(t);
    const busy = await a.join(d.port, 'busy', 'ann');
    await b.join(d.port, 'calm', 'bob');
    let n = 0;
    const say = () => a.send({ type: 'say', token: busy.token, id: `s${++n}`, text: `traffic ${n}` }, busy.port);
    const chatter = setInterval(() => {
      for (let i = 0; i < 5; i++) say();
    }, 50);
    t.teardown(() => clearInterval(chatter));
    const { page, problems } = await openPage(t, browser, `${base}/?token=${TOKEN}`);
    await page.waitForFunction(() => document.querySelectorAll('#room-rows tr').length === 2, undefined, { timeout: WAIT_MS * 2 });
    t.same(await texts(page, '#room-rows th.room'), ['busy', 'calm'], 'both rooms, the busy one first');
    t.same(await texts(page, '#room-rows td.members'), ['1', '1']);
    // The chart moves: the busy room's sparkline gets new points as polls come in.
    const points = () => page.locator('tr[data-room="busy"] polyline').getAttribute('points');
    const first = await points();
    await page.waitForFunction((p) => document.querySelector('tr[data-room="busy"] polyline')?.getAttribute('points') !== p, first, { timeout: WAIT_MS });
    await page.waitForFunction(() => Number(document.querySelector('tr[data-room="busy"] td.mps')?.textContent) > 0, undefined, { timeout: WAIT_MS * 2 });
    t.ok(Number(await page.locator('tr[data-room="busy"] td.mps').textContent()) > 0, 'the busy room shows messages/s');
    t.equal(await page.locator('tr[data-room="calm"] td.mps').textContent(), '0.0', 'the calm one none');
    clearInterval(chatter);
    if (process.env['CHATD_UPDATE_SCREENSHOT'] === '1') {
      writeFileSync(new URL('docs/status-page-live.png', root).pathname, await page.screenshot({ fullPage: true }));
    }
    t.same(problems, [], 'no script errors, nothing refused by the real listener\'s CSP');
  });
}
