// Drives Backstage's own notifications page, built in this folder, in
// headless Chromium against a freshly started Herald examples/server, and
// checks what a user sees against what the server holds.
//
// It serves the built app (dist/) on 127.0.0.1, starts the server with
// -base-url set to exactly that origin (CORS and the WebSocket's origin
// check compare it byte for byte), and hands the app the server's URL and a
// user token through /config.json.
//
// Environment (run.sh sets it):
//   HERALD_BIN             the built examples/server binary
//   HERALD_UI_DIST         the built app (default ./dist)
//   HERALD_UI_SCREENSHOTS  folder for one PNG per step (default: a temporary folder)
//   CHROMIUM               the browser (default /usr/bin/chromium)
//
// It prints one line per check, then "N passed, N failed", and exits 1 if
// any check failed. The checks run in order on one page and one server:
// later checks build on the state earlier ones left.
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const HERALD_BIN = process.env.HERALD_BIN ?? fail('HERALD_BIN is not set');
const DIST = path.resolve(process.env.HERALD_UI_DIST ?? path.join(here, 'dist'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ui-'));
const SHOTS = process.env.HERALD_UI_SCREENSHOTS || path.join(tmp, 'screenshots');
fs.mkdirSync(SHOTS, { recursive: true });

// How long to wait for the page to show something: far more than a user
// would, because CI's 2 cores may be shared with other work (at a load of 15
// the first render of the page took over 15 s). The page's first load,
// which parses the whole bundle, gets four times as long.
const PATIENCE_MS = 30_000;
const FIRST_LOAD_MS = 4 * PATIENCE_MS;

const ALICE = { token: 'u1', ref: 'user:default/alice' };
const BOB = { token: 'u2', ref: 'user:default/bob' };
const COMPAT = { token: `svc-compat-${process.pid}`, origin: 'plugin:compat' };
const CATALOG = { token: `svc-catalog-${process.pid}`, origin: 'plugin:catalog' };

function fail(msg) {
  console.error(`ui_test: ${msg}`);
  process.exit(2);
}

class CheckError extends Error {}
function assert(cond, msg) {
  if (!cond) throw new CheckError(msg);
}
function assertEqual(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new CheckError(`${what}: got ${g}, want ${w}`);
}

// eventually polls fn until it returns a truthy value and returns that; a
// user looking at the page would give up after PATIENCE_MS. On time-out the
// error says what fn last saw.
async function eventually(what, fn, timeout = PATIENCE_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last && !(last instanceof Mismatch)) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Mismatch ? last.message : last instanceof Error ? last.message : JSON.stringify(last);
      throw new CheckError(`${what} (after ${timeout} ms: ${detail})`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}
// Mismatch is a falsy-like answer of an eventually callback that says why.
class Mismatch {
  constructor(message) {
    this.message = message;
  }
}
const same = (got, want) => (JSON.stringify(got) === JSON.stringify(want) ? true : new Mismatch(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`));

// --- The app, served on a free port ----------------------------------------
const types = { '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.html': 'text/html', '.json': 'application/json' };
let appConfig = null;
const appServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://app');
  if (url.pathname === '/config.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(appConfig));
    return;
  }
  let file = path.join(DIST, path.normalize(decodeURIComponent(url.pathname)));
  if (!file.startsWith(DIST + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    file = path.join(DIST, 'index.html'); // the app's own routes
  }
  res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise(r => appServer.listen(0, '127.0.0.1', r));
const APP_URL = `http://127.0.0.1:${appServer.address().port}`;

// --- Herald, on a fresh SQLite file ----------------------------------------
const serverLog = fs.openSync(path.join(tmp, 'server.log'), 'w');
const herald = spawn(
  HERALD_BIN,
  [
    '-addr', '127.0.0.1:0',
    '-db', path.join(tmp, 'herald.db'),
    '-base-url', APP_URL,
    '-service-token', `${COMPAT.token}=${COMPAT.origin}`,
    '-service-token', `${CATALOG.token}=${CATALOG.origin}`,
    '-user-token', `${ALICE.token}=${ALICE.ref}`,
    '-user-token', `${BOB.token}=${BOB.ref}`,
  ],
  { stdio: ['ignore', 'pipe', serverLog] },
);
// However this script ends, the server does not outlive it.
process.on('exit', () => herald.exitCode === null && herald.kill('SIGKILL'));
const HERALD_URL = await new Promise((resolve, reject) => {
  let out = '';
  herald.stdout.on('data', d => {
    out += d;
    const m = /^Herald listening on (http:\/\/\S+)/m.exec(out);
    if (m) resolve(m[1]);
  });
  herald.on('exit', code => reject(new Error(`the server exited (${code}): ${fs.readFileSync(path.join(tmp, 'server.log'), 'utf8')}`)));
});
appConfig = { backendUrl: HERALD_URL, token: ALICE.token, user: ALICE.ref };
console.log(`ui_test: app at ${APP_URL}, Herald at ${HERALD_URL}, screenshots in ${SHOTS}`);

// --- REST, as another service and as the users ----------------------------
async function rest(method, route, token, body) {
  const res = await fetch(`${HERALD_URL}/api/notifications${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new CheckError(`${method} ${route}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
async function send(service, recipients, payload) {
  const sent = await rest('POST', '/', service.token, { recipients, payload });
  assert(Array.isArray(sent) && sent.length === 1, `POST /: want one notification back, got ${JSON.stringify(sent)}`);
  return sent[0];
}
const toAlice = { type: 'entity', entityRef: ALICE.ref };
// ids the server lists for alice with the page's query.
async function serverIds(query) {
  const q = new URLSearchParams({ orderField: 'created,desc', ...query });
  const r = await rest('GET', `/?${q}`, ALICE.token);
  return { ids: r.notifications.map(n => n.id), total: r.totalCount };
}

// --- The browser -------------------------------------------------------------
const browser = await chromium.launch({ executablePath: CHROMIUM });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
context.setDefaultTimeout(PATIENCE_MS);
const page = await context.newPage();
const pageErrors = [];
page.on('pageerror', e => pageErrors.push(e.message));
page.on('console', m => {
  if (m.type() === 'error') pageErrors.push(m.text());
});
// Every request the page makes to Herald, and those it did not answer 2xx.
const requests = new Set();
const refused = [];
page.on('response', r => {
  const u = new URL(r.url());
  if (u.origin !== HERALD_URL) return;
  requests.add(`${r.request().method()} ${u.pathname.replace(/[0-9a-f-]{36}/, ':id')}`);
  if (r.status() >= 300) refused.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
});
page.on('requestfailed', r => {
  if (r.url().startsWith(HERALD_URL)) refused.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
});
// The signals WebSocket and its frames.
const sockets = [];
const framesSent = [];
const framesReceived = [];
page.on('websocket', ws => {
  sockets.push(ws.url());
  ws.on('framesent', f => framesSent.push(String(f.payload)));
  ws.on('framereceived', f => framesReceived.push(String(f.payload)));
});

let step = 0;
async function shot(name) {
  step++;
  const file = path.join(SHOTS, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// What the page shows --------------------------------------------------------
const row = id => page.locator(`#notification-${id}`);
// The table row (tr) holding a notification, for its action buttons.
const rowOf = id => page.locator('tr', { has: row(id) });
const tableTitle = () => page.locator('h2, h5, h6').filter({ hasText: /notifications \(\d+\)$/ }).first();
const badge = () => page.locator('nav [aria-label="Unread notifications"]');
async function shownIds() {
  return page.locator('[id^="notification-"]').evaluateAll(els => els.map(e => e.id.slice('notification-'.length)));
}
async function badgeText() {
  return (await badge().count()) ? (await badge().innerText()).trim() : '';
}
async function choose(label, option) {
  // @backstage/ui's Select: a button named by its label, then a listbox.
  // Its accessible name is the current value, then the label.
  await page.getByRole('button', { name: new RegExp(`\\b${label}$`) }).click();
  await page.getByRole('option', { name: option, exact: true }).click();
}
async function view(option) {
  await choose('View', option);
}
async function box(locator, what) {
  await locator.waitFor({ state: 'visible', timeout: PATIENCE_MS });
  const b = await locator.boundingBox();
  assert(b && b.width > 0 && b.height > 0, `${what} has no box`);
  return b;
}

// The page's layout as a user sees it: the sidebar, then the filters column,
// then the table, side by side and inside the window. Without
// @backstage/ui's stylesheet the filters stack above the table and the
// severity icons lose their colours, while every text is still there.
async function assertLayout(ids) {
  const vp = page.viewportSize();
  const sidebar = await box(page.locator('nav[aria-label="sidebar nav"]').getByRole('link', { name: 'Notifications' }), 'the sidebar item');
  const filters = await box(page.getByText('Filters', { exact: true }), 'the Filters heading');
  const table = await box(tableTitle(), 'the table title');
  assert(sidebar.x + sidebar.width <= filters.x, `the filters (x=${filters.x}) are not right of the sidebar item (ends at ${sidebar.x + sidebar.width})`);
  assert(filters.x + filters.width <= table.x, `the table (x=${table.x}) is not right of the filters (end at ${filters.x + filters.width})`);
  assert(Math.abs(filters.y - table.y) < 80, `the filters (y=${filters.y}) and the table (y=${table.y}) are not side by side`);
  for (const id of ids) {
    const b = await box(row(id), `row ${id}`);
    assert(b.x >= table.x - 40 && b.x + b.width <= vp.width && b.y + b.height <= vp.height, `row ${id} is outside the table or the window: ${JSON.stringify(b)}`);
  }
}

// The severity icon of a row: its class names the severity, and
// @backstage/ui's colour tokens give each severity its own colour.
async function severityOf(id) {
  return row(id).locator('svg').first().evaluate(svg => {
    const m = /SeverityIcon_(\w+?)__/.exec(svg.getAttribute('class') ?? '');
    return { severity: m?.[1] ?? null, color: getComputedStyle(svg).color };
  });
}

// The settings card's name for an origin or topic id: "plugin:catalog" is
// shown as "Plugin catalog".
function shownName(id) {
  const s = id.replace(/[-_:]/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
}

// --- The checks ---------------------------------------------------------------
const checks = [];
const check = (name, fn) => checks.push({ name, fn });
const sent = {};

check('1. notifications sent before the page opens are listed, with the unread badge', async () => {
  sent.deploy = await send(COMPAT, toAlice, {
    title: 'Deploy to prod-eu failed', description: 'The rollout stopped at 40% of the pods.', severity: 'critical', topic: 'deploys',
  });
  sent.build = await send(COMPAT, toAlice, {
    title: 'Build #1234 passed', description: 'main is green again.', severity: 'normal', topic: 'builds',
  });
  sent.orphan = await send(CATALOG, toAlice, {
    title: 'Component payments is orphaned', description: 'Its owner group was removed from the catalog.', severity: 'high', topic: 'ownership',
    link: '/catalog/default/component/payments',
  });
  sent.bobs = await send(COMPAT, { type: 'entity', entityRef: BOB.ref }, { title: 'For Bob only', severity: 'low' });

  await page.goto(`${APP_URL}/notifications`);
  await eventually('the table title says 3 unread', async () => same(await tableTitle().innerText(), 'Unread notifications (3)'), FIRST_LOAD_MS);
  await eventually('the three rows, newest first', async () => same(await shownIds(), [sent.orphan.id, sent.build.id, sent.deploy.id]));
  await assertLayout([sent.deploy.id, sent.build.id, sent.orphan.id]);
  for (const n of [sent.deploy, sent.build, sent.orphan]) {
    const text = await row(n.id).innerText();
    assert(text.includes(n.payload.title), `row ${n.id} lacks its title: ${text}`);
    assert(text.includes(n.payload.description), `row ${n.id} lacks its description: ${text}`);
    assert(text.includes(n.origin) && text.includes(n.payload.topic), `row ${n.id} lacks origin or topic: ${text}`);
    const sev = await severityOf(n.id);
    assertEqual(sev.severity, n.payload.severity, `severity icon of "${n.payload.title}"`);
  }
  const link = row(sent.orphan.id).getByRole('link', { name: sent.orphan.payload.title });
  assertEqual(await link.getAttribute('href'), sent.orphan.payload.link, 'the link of "Component payments is orphaned"');
  const colors = await Promise.all([sent.deploy, sent.build, sent.orphan].map(async n => (await severityOf(n.id)).color));
  assert(new Set(colors).size === 3, `the three severities share colours: ${colors}`);
  assert(!(await page.getByText('For Bob only').count()), "Bob's notification is shown to Alice");
  await eventually('the badge shows 3', async () => same(await badgeText(), '3'));
  await eventually('the signals WebSocket is open', async () => sockets.some(u => u.startsWith(HERALD_URL.replace(/^http/, 'ws') + '/api/signals')));
  // The protocol acknowledges no subscribe: before check 2 sends anything
  // live, a signal of a no-op update (unread again) shows the page is
  // subscribed, so that a slow machine does not lose check 2's signal.
  await eventually('the page subscribes to notifications', async () =>
    framesSent.some(f => f.includes('"subscribe"') && f.includes('"notifications"')));
  const received = framesReceived.length;
  await rest('POST', '/update', ALICE.token, { ids: [sent.deploy.id], read: false });
  await eventually('a signal reaches the page', async () => framesReceived.length > received);
});

check('2. a notification sent while the page is open appears live, and the badge goes up', async () => {
  // A reload would lose this mark.
  await page.evaluate(() => {
    window.heraldNoReload = true;
  });
  const t0 = Date.now();
  sent.live = await send(COMPAT, toAlice, {
    title: 'Deploy to prod-us started', description: 'Rolling out v2.7.0.', severity: 'high', topic: 'deploys',
  });
  await row(sent.live.id).waitFor({ state: 'visible', timeout: PATIENCE_MS });
  const ms = Date.now() - t0;
  await eventually('the badge shows 4', async () => same(await badgeText(), '4'));
  await eventually('the table title says 4 unread', async () => same(await tableTitle().innerText(), 'Unread notifications (4)'));
  assert(await page.evaluate(() => window.heraldNoReload === true), 'the page reloaded');
  assert((await shownIds())[0] === sent.live.id, 'the live notification is not on top');
  // The snackbar the sidebar item shows for a new notification.
  await page.locator('#notistack-snackbar').filter({ hasText: sent.live.payload.title }).waitFor({ state: 'visible', timeout: PATIENCE_MS });
  return `shown ${ms} ms after the POST`;
});

check('3. marking one read, then "mark all read", is what GET /status says', async () => {
  await rowOf(sent.build.id).getByRole('button', { name: 'Mark selected as read' }).click();
  await eventually('GET /status: 3 unread, 1 read', async () => same(await rest('GET', '/status', ALICE.token), { unread: 3, read: 1, unseen: 3 }));
  const got = await rest('GET', `/${sent.build.id}`, ALICE.token);
  assert(got.read, `GET /${sent.build.id}: read is ${got.read}`);
  await eventually('the read one leaves the unread view', async () => same(await shownIds(), [sent.live.id, sent.orphan.id, sent.deploy.id]));
  await eventually('the badge shows 3', async () => same(await badgeText(), '3'));

  // More unread than the page shows (5 rows): "mark all read" must reach
  // the ones on no page too.
  for (const i of [1, 2, 3]) {
    sent[`batch${i}`] = await send(COMPAT, toAlice, { title: `Batch job ${i} finished`, severity: 'low', topic: 'builds' });
  }
  await eventually('the table title says 6 unread', async () => same(await tableTitle().innerText(), 'Unread notifications (6)'));
  assertEqual((await shownIds()).length, 5, 'rows on the first page');
  // Read in another tab (over REST): the open page follows through the
  // notification_read and notification_unread signals.
  assert((await shownIds()).includes(sent.live.id), 'the live one is not on the first page');
  await rest('POST', '/update', ALICE.token, { ids: [sent.live.id], read: true });
  await eventually('a read elsewhere leaves the page', async () => !(await shownIds()).includes(sent.live.id));
  await eventually('the badge follows it', async () => same(await badgeText(), '5'));
  await rest('POST', '/update', ALICE.token, { ids: [sent.live.id], read: false });
  await eventually('an unread elsewhere comes back', async () => (await shownIds()).includes(sent.live.id));
  await eventually('the badge follows it', async () => same(await badgeText(), '6'));

  await page.getByRole('button', { name: 'Mark all read', exact: true }).click();
  await page.getByRole('button', { name: 'Mark All', exact: true }).click();
  await eventually('GET /status: 0 unread, 7 read', async () => same(await rest('GET', '/status', ALICE.token), { unread: 0, read: 7, unseen: 0 }));
  await eventually('the unread view is empty', async () => same(await tableTitle().innerText(), 'Unread notifications (0)'));
  await page.getByText('No records to display').waitFor({ state: 'visible', timeout: PATIENCE_MS });
  await eventually('the badge is gone', async () => same(await badgeText(), ''));
});

check('4. saving one shows it under the saved filter', async () => {
  await view('All');
  await eventually('all seven listed', async () => same(await tableTitle().innerText(), 'All notifications (7)'));
  await rowOf(sent.orphan.id).getByRole('button', { name: 'Save selected for later' }).click();
  await eventually(`GET /${sent.orphan.id} says saved`, async () => !!(await rest('GET', `/${sent.orphan.id}`, ALICE.token)).saved);
  await view('Saved');
  const want = await serverIds({ saved: 'true' });
  assertEqual(want.ids, [sent.orphan.id], 'the server\'s saved notifications');
  await eventually('the saved view lists it', async () => same(await shownIds(), want.ids));
  assertEqual(await tableTitle().innerText(), 'Saved notifications (1)', 'the table title');
  await rowOf(sent.orphan.id).getByRole('button', { name: 'Undo save for selected' }).waitFor({ state: 'visible' });
});

check('5. search and the unread/all filters give the rows the server holds', async () => {
  sent.nightly = await send(COMPAT, toAlice, {
    title: 'Nightly build failed', description: 'Flaky test in payments.', severity: 'high', topic: 'builds',
  });
  sent.docs = await send(CATALOG, toAlice, { title: 'Docs rebuilt', description: 'TechDocs for payments.', severity: 'low', topic: 'docs' });
  await view('Unread notifications');
  const unread = await serverIds({ read: 'false' });
  assertEqual(unread.ids, [sent.docs.id, sent.nightly.id], 'the server\'s unread notifications');
  await eventually('the unread view', async () => same(await shownIds(), unread.ids));
  assertEqual(await tableTitle().innerText(), `Unread notifications (${unread.total})`, 'the table title');

  await view('Read notifications');
  const read = await serverIds({ read: 'true', limit: '5' });
  await eventually('the read view', async () => same(await shownIds(), read.ids));

  await view('All');
  const all = await serverIds({ limit: '5' }); // the page's default page size
  assert(all.total === 9, `the server holds ${all.total} for Alice, want 9`);
  await eventually('the all view, first page', async () => same(await shownIds(), all.ids));
  assertEqual(await tableTitle().innerText(), `All notifications (${all.total})`, 'the table title');

  await choose('Topic', 'builds');
  const builds = await serverIds({ topic: 'builds', limit: '5' });
  assertEqual(builds.total, 5, "the server's builds");
  await eventually('the builds topic', async () => same(await shownIds(), builds.ids));
  await choose('Topic', 'Any topic');
  await choose('Min severity', 'High');
  const high = await serverIds({ minimumSeverity: 'high', limit: '5' });
  assertEqual(high.total, 4, "the server's high and critical");
  await eventually('high severity and above', async () => same(await shownIds(), high.ids));
  await choose('Min severity', 'Low');
  await choose('Sent out', 'Last 24h');
  const recent = await serverIds({ createdAfter: new Date(Date.now() - 24 * 3600e3).toISOString(), limit: '5' });
  assertEqual(recent.total, 9, "the server's last 24 hours");
  await eventually('the last 24 hours', async () => same(await shownIds(), recent.ids));
  await choose('Sent out', 'Any time');
  await eventually('any time again', async () => same(await shownIds(), all.ids));

  await page.getByPlaceholder('Filter').fill('payments');
  const found = await serverIds({ search: 'payments', limit: '5' });
  assertEqual(found.ids.length, 3, 'the server\'s search hits for "payments"');
  await eventually('the search results', async () => same(await shownIds(), found.ids));
  await page.getByPlaceholder('Filter').fill('');
  await eventually('the search cleared', async () => same(await shownIds(), all.ids));
});

check('6. the settings page shows origins and topics; turning one off is stored and mutes it', async () => {
  await page.getByRole('link', { name: 'Settings' }).click();
  const card = page.locator('table').filter({ hasText: 'Origin' });
  await card.waitFor({ state: 'visible', timeout: PATIENCE_MS });
  const settings = await rest('GET', '/settings', ALICE.token);
  const web = settings.channels.find(c => c.id === 'Web');
  assert(web, `GET /settings has no Web channel: ${JSON.stringify(settings)}`);
  for (const origin of web.origins) {
    await card.getByRole('cell', { name: shownName(origin.id), exact: true }).waitFor({ state: 'visible' });
  }
  assertEqual(web.origins.map(o => o.id).sort(), [CATALOG.origin, COMPAT.origin], 'the origins the server lists');
  await box(card, 'the settings table');
  const originRow = origin => card.locator('tr', { has: page.getByRole('cell', { name: shownName(origin), exact: true }) });
  const topicRow = topic => card.locator('tr', { has: page.getByRole('cell', { name: shownName(topic), exact: true }) });

  // Open plugin:compat's topics.
  await originRow(COMPAT.origin).getByRole('button', { name: 'expand row' }).click();
  const compat = web.origins.find(o => o.id === COMPAT.origin);
  assertEqual(compat.topics.map(t => t.id).sort(), ['builds', 'deploys'], "plugin:compat's topics");
  for (const topic of compat.topics) {
    await topicRow(topic.id).waitFor({ state: 'visible' });
  }
  await shot('settings');

  // Turn plugin:catalog off, and plugin:compat's "builds" topic.
  const catalogRow = originRow(CATALOG.origin);
  await catalogRow.getByRole('switch').click({ force: true });
  await eventually('GET /settings shows plugin:catalog off', async () => {
    const w = (await rest('GET', '/settings', ALICE.token)).channels.find(c => c.id === 'Web');
    return same(w.origins.find(o => o.id === CATALOG.origin)?.enabled, false);
  });
  await topicRow('builds').getByRole('switch').click({ force: true });
  await eventually('GET /settings shows both off', async () => {
    const w = (await rest('GET', '/settings', ALICE.token)).channels.find(c => c.id === 'Web');
    const compat = w.origins.find(o => o.id === COMPAT.origin);
    const got = {
      catalog: w.origins.find(o => o.id === CATALOG.origin)?.enabled,
      compat: compat?.enabled,
      builds: compat?.topics.find(t => t.id === 'builds')?.enabled,
      deploys: compat?.topics.find(t => t.id === 'deploys')?.enabled,
    };
    return same(got, { catalog: false, compat: true, builds: false, deploys: true });
  });
  assert(!(await catalogRow.getByRole('switch').isChecked()), 'the plugin:catalog switch still shows on');
  await shot('settings-off');

  // A reload reads them back from the server.
  await page.reload();
  await card.waitFor({ state: 'visible', timeout: FIRST_LOAD_MS });
  await eventually('the plugin:catalog switch shows off after a reload', async () => !(await catalogRow.getByRole('switch').isChecked()));

  // A send from the muted origin or topic does not appear; one that is not
  // muted, sent after them, does.
  await page.getByRole('link', { name: 'Notifications' }).click();
  await view('All');
  sent.mutedOrigin = await rest('POST', '/', CATALOG.token, { recipients: toAlice, payload: { title: 'Muted: catalog', severity: 'high' } });
  sent.mutedTopic = await rest('POST', '/', COMPAT.token, { recipients: toAlice, payload: { title: 'Muted: builds', topic: 'builds' } });
  sent.after = await send(COMPAT, toAlice, { title: 'Deploy to prod-ap done', severity: 'normal', topic: 'deploys' });
  await row(sent.after.id).waitFor({ state: 'visible', timeout: PATIENCE_MS });
  assertEqual(await page.getByText(/^Muted: /).count(), 0, 'muted notifications shown');
  const all = await serverIds({});
  assert(!all.ids.some(id => [...sent.mutedOrigin, ...sent.mutedTopic].some(n => n.id === id)), 'the server lists a muted notification');
});

check('7. a broadcast is listed for the user, with a read state of their own', async () => {
  sent.broadcast = await send(COMPAT, { type: 'broadcast' }, {
    title: 'Maintenance tonight', description: 'Backstage is read-only from 22:00 UTC.', severity: 'normal',
  });
  await row(sent.broadcast.id).waitFor({ state: 'visible', timeout: PATIENCE_MS });
  assert(await row(sent.broadcast.id).locator('svg[class*="broadcastIcon"]').count(), 'the broadcast has no broadcast icon');
  // The sidebar item fetches it by the id its signal carries, for the snackbar.
  await page.locator('#notistack-snackbar').filter({ hasText: sent.broadcast.payload.title }).waitFor({ state: 'visible', timeout: PATIENCE_MS });
  await view('Unread notifications');
  await eventually('the broadcast is unread for Alice', async () => (await shownIds()).includes(sent.broadcast.id));
  const before = await rest('GET', '/status', ALICE.token);
  const badgeBefore = await badgeText();
  assertEqual(badgeBefore, String(before.unread), 'the badge');
  await rowOf(sent.broadcast.id).getByRole('button', { name: 'Mark selected as read' }).click();
  await eventually('GET /status: the broadcast read for Alice', async () =>
    same(await rest('GET', '/status', ALICE.token), { unread: before.unread - 1, read: before.read + 1, unseen: before.unseen - 1 }));
  await eventually('the badge goes down', async () => same(await badgeText(), before.unread - 1 ? String(before.unread - 1) : ''));
  // A link to it (?id=, as in an email) opens it in the page, read.
  await page.goto(`${APP_URL}/notifications?id=${sent.broadcast.id}`);
  await row(sent.broadcast.id).waitFor({ state: 'visible', timeout: FIRST_LOAD_MS });
  await eventually('the linked broadcast opens the read view', async () => same(await tableTitle().innerText(), `Read notifications (${before.read + 1})`));
  const bobs = await rest('GET', `/${sent.broadcast.id}`, BOB.token);
  assert(!bobs.read, `Bob sees the broadcast read: ${bobs.read}`);
  assertEqual(bobs.user, null, "the broadcast's user for Bob");
  const bobUnread = (await rest('GET', '/?read=false', BOB.token)).notifications.map(n => n.id);
  assertEqual(bobUnread.sort(), [sent.bobs.id, sent.broadcast.id].sort(), "Bob's unread notifications");
});

// --- Run them ---------------------------------------------------------------
let passed = 0;
let failed = 0;
try {
  for (const { name, fn } of checks) {
    const slug = name.replace(/^(\d+)\..*/, 'check-$1');
    const t0 = Date.now();
    try {
      const note = await fn();
      await shot(slug);
      passed++;
      const took = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      console.log(`ok   ${name} (${note ? `${note}; ` : ''}${took})`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}\n     ${e instanceof CheckError ? e.message : e.stack}`);
      await shot(`${slug}-failed`).catch(() => {});
    }
  }
  const errors = [...pageErrors, ...refused];
  if (errors.length) {
    failed++;
    console.log(`FAIL the page logged no errors and Herald answered all its requests\n     ${errors.join('\n     ')}`);
  } else {
    passed++;
    console.log(`ok   the page logged no errors and Herald answered all its requests (${[...requests].sort().join(', ')})`);
  }
} finally {
  await browser.close();
  herald.kill('SIGTERM');
  await new Promise(r => (herald.exitCode !== null ? r() : herald.on('exit', r)));
  appServer.close();
  if (failed) console.log(`server log:\n${fs.readFileSync(path.join(tmp, 'server.log'), 'utf8')}`);
  for (const f of fs.readdirSync(tmp)) {
    if (f !== 'screenshots') fs.rmSync(path.join(tmp, f), { recursive: true, force: true });
  }
  if (!process.env.HERALD_UI_SCREENSHOTS) console.log(`screenshots: ${SHOTS}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
