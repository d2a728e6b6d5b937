// The live status page the admin listener serves at `/`: one HTML document
// with its CSS and script inline and nothing fetched but `status` (same
// origin, relative, so it also works behind a proxy under a path prefix).
// It holds no data of its own, so serving it needs no token; the script
// sends the token (from `?token=`) to /status.
//
// No nonce: the CSP below allows exactly this script and this style by
// their hashes, computed here from the text served, so the page keeps
// working after any edit. It also works under the looser
// `script-src 'unsafe-inline'; style-src 'unsafe-inline'`. No style
// attributes and no inline event handlers, which a hash does not cover.
// The script has no backticks and no dollar-brace: it is a template literal here.
import { createHash } from 'node:crypto';

const STYLE = String.raw`
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1b; --muted: #555; --line: #d4d7db; --zebra: #f4f6f8;
  --accent: #0b57a4; --ok: #1d6b2c; --warn: #8a4b00; --bad-bg: #fde7e7; --bad-fg: #8a1010; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121417; --fg: #e8e8e8; --muted: #b4b4b4; --line: #3a3f45; --zebra: #1a1d21;
    --accent: #7ab8ff; --ok: #7fd18b; --warn: #ffc56b; --bad-bg: #3d1515; --bad-fg: #ffc0c0; }
}
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem 1.5rem 2rem; background: var(--bg); color: var(--fg); }
h1 { font-size: 1.35rem; margin: 0 0 .2rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.muted { color: var(--muted); }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
#service span + span::before { content: " · "; color: var(--muted); }
.state-running { color: var(--ok); font-weight: 600; }
.state-other { color: var(--warn); font-weight: 600; }
#notice { background: var(--bad-bg); color: var(--bad-fg); border: 1px solid currentColor; border-radius: 4px; padding: .5rem .75rem; margin: .75rem 0; font-weight: 600; }
/* Stale data turns grey, not faint: its text keeps its contrast. */
.stale { filter: grayscale(1); }
#totals { display: flex; flex-wrap: wrap; gap: .5rem 2rem; margin: .75rem 0 0; }
#totals div { min-width: 7rem; }
#totals dt { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
#totals dd { margin: 0; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; white-space: nowrap; }
th { font-size: .8rem; color: var(--muted); font-weight: 600; }
tbody th { font-size: inherit; color: var(--fg); }
tbody tr:nth-child(even) { background: var(--zebra); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.detail { white-space: normal; }
svg.spark { display: block; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg.spark circle { fill: var(--accent); }
svg.spark line { stroke: var(--line); stroke-width: 1; }
footer { margin-top: 2rem; font-size: .85rem; }
`;

const SCRIPT = String.raw`
'use strict';
(function () {
  var POLL_MS = 1000, TIMEOUT_MS = 5000, HISTORY = 60, RECENT_SHOWN = 20;
  var SPARK_W = 120, SPARK_H = 24;
  var TOKEN_KEY = 'chatd-admin-token';
  var $ = function (id) { return document.getElementById(id); };

  // The token leaves the address bar (and so copied links and screenshots);
  // the tab keeps it, so a reload still works. History already has the URL.
  var params = new URLSearchParams(location.search);
  var token = params.get('token');
  try {
    if (token !== null) {
      sessionStorage.setItem(TOKEN_KEY, token);
      params.delete('token');
      var q = params.toString();
      history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
    } else {
      token = sessionStorage.getItem(TOKEN_KEY);
    }
  } catch (e) { /* storage off: the token lives as long as the page */ }

  var history60 = new Map();   // room -> messages/s of its last HISTORY answers
  var failingSince = null, lastOkAt = null, lastReason = '';

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function clock(d) {
    var p = function (n) { return String(n).padStart(2, '0'); };
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function uptime(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    var p = function (n) { return String(n).padStart(2, '0'); };
    if (d > 0) return d + 'd ' + p(h) + 'h';
    if (h > 0) return h + 'h ' + p(m) + 'm';
    if (m > 0) return m + 'm ' + p(s % 60) + 's';
    return s + 's';
  }
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    if (n < 1048576) return (n / 1024).toFixed(0) + ' KiB';
    if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
    return (n / 1073741824).toFixed(2) + ' GiB';
  }
  function rate(n) { return Number(n).toFixed(1); }
  function byActivity(a, b) {
    return b.messagesPerSec - a.messagesPerSec || b.members - a.members || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
  }

  function sparkline(values) {
    var NS = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', SPARK_W); svg.setAttribute('height', SPARK_H);
    svg.setAttribute('viewBox', '0 0 ' + SPARK_W + ' ' + SPARK_H);
    svg.setAttribute('role', 'img');
    var max = Math.max(1, Math.max.apply(null, values));
    svg.setAttribute('aria-label', 'messages per second, last ' + values.length + ' s: now ' + rate(values[values.length - 1]) + ', peak ' + rate(Math.max.apply(null, values)));
    var base = document.createElementNS(NS, 'line');
    base.setAttribute('x1', 0); base.setAttribute('x2', SPARK_W); base.setAttribute('y1', SPARK_H - 1.5); base.setAttribute('y2', SPARK_H - 1.5);
    svg.appendChild(base);
    // Newest at the right edge; one second a step, so a young room's line is short.
    var step = (SPARK_W - 4) / (HISTORY - 1), pts = [];
    for (var i = 0; i < values.length; i++) {
      var x = SPARK_W - 2 - (values.length - 1 - i) * step;
      var y = SPARK_H - 2 - (values[i] / max) * (SPARK_H - 5);
      pts.push(x.toFixed(1) + ',' + y.toFixed(1));
    }
    var line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.appendChild(line);
    var last = pts[pts.length - 1].split(',');
    var dot = document.createElementNS(NS, 'circle');
    dot.setAttribute('cx', last[0]); dot.setAttribute('cy', last[1]); dot.setAttribute('r', 2);
    svg.appendChild(dot);
    return svg;
  }

  function renderService(s) {
    var line = $('service');
    var stateCls = s.state === 'running' ? 'state-running' : 'state-other';
    var parts = [['version ' + s.version], s.node ? ['node ' + s.node] : null, ['pid ' + s.pid],
      ['up ' + uptime(s.uptimeMs)], [s.state, stateCls],
      ['control ' + s.control.host + ':' + s.control.port + '/udp'], ['config ' + s.configDigest]];
    line.replaceChildren();
    parts.forEach(function (p) { if (p) line.appendChild(el('span', p[0], p[1])); });
    line.title = 'started ' + s.startedAt + (s.control.addresses && s.control.addresses.length ? '; serving ' + s.control.addresses.join(', ') : '');
    document.title = 'chatd ' + (s.node ? s.node + ' ' : '') + '– ' + s.state + ', ' + s.totals.rooms + ' rooms';
  }

  function renderTotals(t) {
    var items = [['Rooms', t.rooms, 'rooms'], ['Members', t.members, 'members'], ['Messages/s', rate(t.messagesPerSec), 'mps'],
      ['Deliveries/s', rate(t.deliveriesPerSec), 'dps'], ['Restarts', t.restarts, 'restarts'], ['Evictions', t.evictions, 'evictions']];
    $('totals').replaceChildren.apply($('totals'), items.map(function (it) {
      var d = el('div'); d.dataset.total = it[2];
      d.appendChild(el('dt', it[0])); d.appendChild(el('dd', it[1]));
      return d;
    }));
  }

  function renderRooms(rooms) {
    var seen = new Set();
    rooms.forEach(function (r) {
      seen.add(r.room);
      var h = history60.get(r.room) || [];
      h.push(Number(r.messagesPerSec) || 0);
      if (h.length > HISTORY) h.shift();
      history60.set(r.room, h);
    });
    history60.forEach(function (_, room) { if (!seen.has(room)) history60.delete(room); });
    var rows = rooms.slice().sort(byActivity).map(function (r) {
      var tr = el('tr'); tr.dataset.room = r.room;
      var th = el('th', r.room, 'room'); th.scope = 'row'; tr.appendChild(th);
      tr.appendChild(el('td', r.state, 'state ' + (r.state === 'running' ? '' : 'state-other')));
      tr.appendChild(el('td', rate(r.messagesPerSec), 'num mps'));
      var sp = el('td', null, 'spark'); sp.appendChild(sparkline(history60.get(r.room))); tr.appendChild(sp);
      tr.appendChild(el('td', r.members, 'num members'));
      tr.appendChild(el('td', rate(r.deliveriesPerSec), 'num dps'));
      tr.appendChild(el('td', r.seq, 'num seq'));
      tr.appendChild(el('td', r.port, 'num port'));
      tr.appendChild(el('td', r.pid === null ? '–' : r.pid, 'num pid'));
      tr.appendChild(el('td', r.restarts, 'num restarts'));
      tr.appendChild(el('td', bytes(r.rssBytes), 'num mem'));
      return tr;
    });
    $('room-rows').replaceChildren.apply($('room-rows'), rows);
    $('no-rooms').hidden = rooms.length > 0;
    $('rooms').hidden = rooms.length === 0;
  }

  var EVENT_WORDS = { room_restarted: 'restarted', room_gave_up: 'given up', member_evicted: 'member evicted' };
  function renderRecent(recent) {
    var list = recent.slice().sort(function (a, b) { return a.at < b.at ? 1 : a.at > b.at ? -1 : 0; }).slice(0, RECENT_SHOWN);
    $('recent-rows').replaceChildren.apply($('recent-rows'), list.map(function (e) {
      var tr = el('tr'); tr.dataset.event = e.event;
      var at = new Date(e.at), td = el('td', isNaN(at) ? e.at : clock(at), 'at'); td.title = e.at; tr.appendChild(td);
      tr.appendChild(el('td', EVENT_WORDS[e.event] || e.event, e.event === 'member_evicted' ? '' : 'state-other'));
      tr.appendChild(el('td', e.room)); tr.appendChild(el('td', e.detail, 'detail'));
      return tr;
    }));
    $('recent').hidden = list.length === 0;
    $('no-recent').hidden = list.length > 0;
  }

  function renderCluster(c) {
    $('cluster-section').hidden = !c;
    if (!c) return;
    $('cluster-summary').textContent = c.nodes.length + ' nodes serving ' + c.rooms + ' rooms';
    var nodes = c.nodes.slice().sort(function (a, b) { return a.node < b.node ? -1 : a.node > b.node ? 1 : 0; });
    $('node-rows').replaceChildren.apply($('node-rows'), nodes.map(function (n) {
      var tr = el('tr'); tr.dataset.node = n.node;
      var th = el('th', n.node); th.scope = 'row'; tr.appendChild(th);
      tr.appendChild(el('td', n.host + ':' + n.port));
      tr.appendChild(el('td', n.self ? 'this node' : '', 'muted'));
      return tr;
    }));
  }

  function answered(s) {
    renderService(s); renderTotals(s.totals); renderRooms(s.rooms); renderRecent(s.recent || []); renderCluster(s.cluster);
    lastOkAt = new Date(); failingSince = null; lastReason = '';
    $('notice').hidden = true;
    $('main').classList.remove('stale'); $('service').classList.remove('stale');
    $('updated').textContent = 'updated ' + clock(lastOkAt);
  }

  function failed(reason) {
    if (failingSince === null) failingSince = new Date();
    // Said again only when something changed: the notice is a live region.
    if (reason !== lastReason || $('notice').hidden) {
      $('notice').textContent = 'chatd not answering since ' + clock(failingSince) + ' (' + reason + ')' +
        (lastOkAt ? '; showing its last answer, from ' + clock(lastOkAt) + '.' : '.') + ' Still trying every second.';
      $('notice').hidden = false;
    }
    lastReason = reason;
    $('main').classList.add('stale'); $('service').classList.add('stale');
    document.title = 'chatd – not answering';
  }

  function poll() {
    var started = Date.now();
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    var headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    fetch('status', { headers: headers, cache: 'no-store', signal: ctl.signal, credentials: 'omit' })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) {
          throw new Error('HTTP ' + res.status + (token ? ': the token was refused' : ': the admin listener wants a token; open this page as ?token=TOKEN'));
        }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json().catch(function () { throw new Error('an answer that is not JSON'); });
      })
      .then(function (s) {
        if (!s || typeof s !== 'object' || !Array.isArray(s.rooms) || !s.totals || !s.control) throw new Error('an answer that is not a chatd status');
        answered(s);
      })
      .catch(function (e) {
        failed(e && e.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS / 1000 + ' s' : e && e.message === 'Failed to fetch' ? 'no connection' : String(e && e.message || e));
      })
      .finally(function () {
        clearTimeout(timer);
        setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
      });
  }
  poll();
})();
`;

const BODY = `
<header>
  <h1>chatd status</h1>
  <p id="service" class="muted">Waiting for the first answer from <code>/status</code>…</p>
</header>
<div id="notice" role="alert" hidden></div>
<main id="main">
  <section aria-labelledby="totals-h">
    <h2 id="totals-h" class="vh">Totals</h2>
    <dl id="totals"></dl>
  </section>
  <section aria-labelledby="rooms-h">
    <h2 id="rooms-h">Rooms <span class="muted">(busiest first)</span></h2>
    <table id="rooms" hidden>
      <caption class="vh">Rooms by messages per second, then members; the line shows the last minute of messages per second</caption>
      <thead><tr>
        <th scope="col">Room</th><th scope="col">State</th><th scope="col" class="num">Msgs/s</th><th scope="col">Last minute</th>
        <th scope="col" class="num">Members</th><th scope="col" class="num">Deliveries/s</th><th scope="col" class="num">Seq</th>
        <th scope="col" class="num">Port</th><th scope="col" class="num">PID</th><th scope="col" class="num">Restarts</th><th scope="col" class="num">Memory</th>
      </tr></thead>
      <tbody id="room-rows"></tbody>
    </table>
    <p id="no-rooms" class="muted" hidden>No rooms.</p>
  </section>
  <section id="cluster-section" aria-labelledby="cluster-h" hidden>
    <h2 id="cluster-h">Cluster</h2>
    <p id="cluster-summary"></p>
    <table id="nodes">
      <caption class="vh">Cluster nodes</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Control</th><th scope="col"><span class="vh">Which</span></th></tr></thead>
      <tbody id="node-rows"></tbody>
    </table>
  </section>
  <section aria-labelledby="recent-h">
    <h2 id="recent-h">Recent restarts, give-ups and evictions</h2>
    <table id="recent" hidden>
      <caption class="vh">Recent events, newest first</caption>
      <thead><tr><th scope="col">At</th><th scope="col">Event</th><th scope="col">Room</th><th scope="col">Detail</th></tr></thead>
      <tbody id="recent-rows"></tbody>
    </table>
    <p id="no-recent" class="muted">None.</p>
  </section>
</main>
<footer class="muted"><span id="updated"></span> · polls <code>/status</code> every second</footer>
`;

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>chatd status</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/**
 * The page's policy: this script and this style only (by hash), fetches to
 * its own origin, no framing, no forms, no base or plugin tricks.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The headers to serve STATUS_PAGE_HTML with. */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': STATUS_PAGE_CSP,
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
});
