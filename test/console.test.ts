// The web console in a real browser (Chromium through playwright-core), plus its sign-in, cookie, CSRF and event-stream contracts over HTTP.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { EventHub } from '../src/admin/console/sse.ts';
import { ConsoleSessions } from '../src/admin/console/sign-ins.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { ADMIN_KEY, APPROVER_KEY, failure, startPgGateway, type PgGateway } from './support/pg.ts';
import { silent } from './support/log.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts/console';
mkdirSync(ARTIFACTS, { recursive: true });

let gw: PgGateway;
let browser: Browser;

before(async () => {
  gw = await startPgGateway('gatehouse_console');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
after(async () => {
  await browser?.close();
  await gw?.close();
});

// ---- HTTP contract --------------------------------------------------------------------------------

interface Reply { status: number; headers: Headers; body: Record<string, unknown> }

async function call(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const res = await fetch(gw.adminUrl + path, {
    method,
    headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : { text } };
}

async function signIn(key = ADMIN_KEY, headers: Record<string, string> = {}) {
  const r = await call('POST', '/v1/console/login', { body: { key }, headers: { origin: gw.adminUrl, ...headers } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const setCookie = r.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0];
  return { cookie, setCookie, csrf: String(r.body.csrf) };
}

test('console pages carry a strict CSP and the other security headers', async () => {
  const page = await fetch(gw.adminUrl + '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  const html = await page.text();
  assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline scripts');
  const script = await fetch(gw.adminUrl + '/assets/app.js');
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /javascript/);
  const etag = script.headers.get('etag')!;
  assert.equal((await fetch(gw.adminUrl + '/assets/app.js', { headers: { 'if-none-match': etag } })).status, 304);
  assert.equal((await fetch(gw.adminUrl + '/assets/styles.css')).status, 200);
  // The API itself is unchanged for the CLI: bearer keys work, JSON errors for unknown paths.
  assert.equal((await call('GET', '/v1/tokens', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status, 200);
  assert.equal((await call('GET', '/nope')).status, 404);
});

test('sign-in: a wrong key is refused; the cookie is HttpOnly, SameSite=Strict, Path=/, Secure over https', async () => {
  const wrong = await call('POST', '/v1/console/login', { body: { key: 'not-a-key-0123456789abcdef' }, headers: { origin: gw.adminUrl } });
  assert.equal(wrong.status, 401);
  assert.match(String(wrong.body.error), /not an admin key/);
  assert.equal(wrong.headers.get('set-cookie'), null);

  const crossSite = await call('POST', '/v1/console/login', { body: { key: ADMIN_KEY }, headers: { origin: 'https://evil.example' } });
  assert.equal(crossSite.status, 403, 'login CSRF: another site cannot sign a browser in');

  const { setCookie, cookie, csrf } = await signIn();
  const [pair, ...attrs] = setCookie.split(';').map((s) => s.trim());
  const [name, value] = pair.split('=');
  assert.equal(name, 'gatehouse_session');
  assert.match(value, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  assert.ok(attrs.includes('HttpOnly'), setCookie);
  assert.ok(attrs.includes('SameSite=Strict'), setCookie);
  assert.ok(attrs.includes('Path=/'), setCookie);
  assert.ok(!attrs.includes('Secure'), 'plain http: a Secure cookie would never come back');
  assert.ok(csrf.length >= 43);

  const me = await call('GET', '/v1/console/session', { headers: { cookie } });
  assert.equal(me.status, 200);
  assert.equal(me.body.name, 'tester');
  assert.deepEqual(me.body.roles, ['admin', 'approver']);

  const https = await signIn(ADMIN_KEY, { 'x-forwarded-proto': 'https', origin: gw.adminUrl.replace('http:', 'https:') });
  assert.match(https.setCookie, /^__Host-gatehouse_session=/);
  assert.match(https.setCookie, /; Secure/);
  assert.match(https.setCookie, /HttpOnly/);
});

test('state changes with the cookie need the CSRF token and the console\'s origin; bearer keys need neither', async () => {
  const { cookie, csrf } = await signIn();
  const body = { role: 'retriever', label: 'csrf-test', ttl: '5m' };
  const noToken = await call('POST', '/v1/tokens', { body, headers: { cookie, origin: gw.adminUrl } });
  assert.equal(noToken.status, 403);
  assert.match(String(noToken.body.error), /CSRF/);
  const wrongToken = await call('POST', '/v1/tokens', { body, headers: { cookie, origin: gw.adminUrl, 'x-csrf-token': csrf.slice(0, -2) + 'xx' } });
  assert.equal(wrongToken.status, 403);
  const otherOrigin = await call('POST', '/v1/tokens', { body, headers: { cookie, origin: 'http://evil.example', 'x-csrf-token': csrf } });
  assert.equal(otherOrigin.status, 403);
  assert.match(String(otherOrigin.body.error), /cross-origin/);
  const crossSite = await call('POST', '/v1/tokens', { body, headers: { cookie, 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrf } });
  assert.equal(crossSite.status, 403);
  const revokeNoToken = await call('POST', '/v1/tokens/tok_x/revoke', { headers: { cookie, origin: gw.adminUrl } });
  assert.equal(revokeNoToken.status, 403, 'every state change, not only token creation');
  assert.equal((await gw.gateway.services.tokens.list()).filter((t) => t.label === 'csrf-test').length, 0, 'nothing was created');

  const ok = await call('POST', '/v1/tokens', { body, headers: { cookie, origin: gw.adminUrl, 'x-csrf-token': csrf } });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.createdBy, 'tester');
  const bearer = await call('POST', '/v1/tokens', { body, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(bearer.status, 201, 'the CLI path is unchanged');
  const badBearer = await call('GET', '/v1/tokens', { headers: { authorization: 'Bearer wrong-key-0123456789', cookie } });
  assert.equal(badBearer.status, 401, 'a bearer header is judged alone, never rescued by a cookie');
  const approverOnly = await signIn(APPROVER_KEY);
  const forbidden = await call('GET', '/v1/tokens', { headers: { cookie: approverOnly.cookie } });
  assert.equal(forbidden.status, 403);
  assert.match(String(forbidden.body.error), /lacks the admin role/);
});

test('the event stream needs a session, says hello, and ends when its session signs out', async () => {
  assert.equal((await call('GET', '/v1/events')).status, 401);
  const { cookie, csrf } = await signIn();
  const res = await new Promise<IncomingMessage>((resolve, reject) => get(`${gw.adminUrl}/v1/events`, { headers: { cookie } }, resolve).on('error', reject));
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/event-stream/);
  let text = '';
  const ended = new Promise<void>((resolve) => res.on('end', () => resolve()));
  res.on('data', (d: Buffer) => (text += d));
  await until(() => text.includes('event: hello'));
  // A committed audit record reaches the stream at once.
  await gw.gateway.services.audit.append({ kind: 'test.ping', data: { n: 1 } });
  await until(() => text.includes('"kind":"test.ping"'));

  assert.equal((await call('POST', '/v1/console/logout', { headers: { cookie, origin: gw.adminUrl } })).status, 403, 'logout needs the CSRF token too');
  assert.equal((await call('POST', '/v1/console/logout', { headers: { cookie, origin: gw.adminUrl, 'x-csrf-token': csrf } })).status, 200);
  await ended;
  assert.equal((await call('GET', '/v1/console/session', { headers: { cookie } })).status, 401, 'the session is gone server-side');
});

test('EventHub: heartbeats, and a stream is forgotten when its client disconnects', async () => {
  const hub = new EventHub({ heartbeatMs: 40 });
  const server = createServer((req, res) => hub.open(req, res, { admin: false }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const res = await new Promise<IncomingMessage>((resolve) => get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, resolve));
    let text = '';
    res.on('data', (d: Buffer) => (text += d));
    await until(() => /^: \d+$/m.test(text));
    assert.equal(hub.size, 1);
    hub.send('audit', { secret: true }, (s) => s.admin);
    hub.send('approval', { id: 'apr_1' });
    await until(() => text.includes('apr_1'));
    assert.ok(!text.includes('secret'), 'admin-only events skip approver streams');
    res.destroy();
    await until(() => hub.size === 0);
  } finally {
    hub.stop();
    server.close();
  }
});

test('ConsoleSessions: ids are 256-bit, idle and absolute expiry end sessions', async () => {
  let now = 1_000_000;
  const key = { name: 'k', key: 'x'.repeat(16), roles: ['admin' as const] };
  const store = openSqliteStore(':memory:');
  const sessions = new ConsoleSessions(store, [key], { ttlMs: 10_000, idleMs: 3_000, now: () => now });
  try {
    const { id } = await sessions.create(key);
    assert.equal(Buffer.from(id, 'base64url').length, 32);
    now += 2_000;
    assert.ok(await sessions.get(id), 'used within the idle window');
    now += 2_500;
    assert.ok(await sessions.get(id), 'the idle deadline slid forward');
    now += 3_001;
    assert.equal(await sessions.get(id), undefined, 'idle too long');
    const second = (await sessions.create(key)).id;
    for (let i = 0; i < 6; i++) { now += 2_000; await sessions.get(second); }
    assert.equal(await sessions.get(second), undefined, 'activity never outlives the absolute lifetime');
    const third = (await sessions.create(key)).id;
    const rotated = new ConsoleSessions(store, [{ ...key, name: 'renamed' }], { now: () => now });
    assert.equal(await rotated.get(third), undefined, 'a sign-in whose admin key is no longer configured has ended');
    rotated.stop();
  } finally {
    sessions.stop();
    await store.close();
  }
});

// ---- in the browser -------------------------------------------------------------------------------

async function until(check: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

async function openConsole(context: BrowserContext, key: string): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(m.text()); });
  (page as Page & { problems?: string[] }).problems = problems;
  await page.goto(gw.adminUrl + '/');
  await page.fill('#admin-key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('.nav');
  await page.waitForSelector('.live-status[data-state="live"]');
  return page;
}

test('in the browser: sign in, see a held DELETE arrive, approve it, replay the session, revoke the token', async () => {
  const context = await browser.newContext({ viewport: { width: 1320, height: 860 }, deviceScaleFactor: 1 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.adminUrl });
  const bobContext = await browser.newContext({ viewport: { width: 1320, height: 860 } });
  const clients: pg.Client[] = [];
  try {
    // Sign-in page, and a wrong key refused in words a person can act on.
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    // CSP violations and script failures surface as console errors; the 401s of a refused sign-in and the 404 of
    // the unknown session below are expected.
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[134]/.test(m.text())) errors.push(m.text()); });
    await page.goto(gw.adminUrl + '/');
    await page.waitForSelector('#admin-key');
    await shot(page, '01-sign-in');
    await page.fill('#admin-key', 'this-is-not-the-key-000000');
    await page.click('button[type=submit]');
    await page.waitForSelector('.form-error:not([hidden])');
    assert.match(await page.textContent('.form-error') ?? '', /not accepted/);
    await shot(page, '02-sign-in-refused');

    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('#pending .empty');
    await page.waitForSelector('.live-status[data-state="live"]');
    assert.match(await page.textContent('#pending') ?? '', /No requests are waiting/);
    await shot(page, '03-approvals-empty');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'gatehouse_session');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.path, '/');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read its own session cookie');

    // Load time with a warm server: the shell is up and live well under a second.
    const started = Date.now();
    await page.reload();
    await page.waitForSelector('.nav');
    const loadMs = Date.now() - started;
    const domMs = await page.evaluate(() => {
      const [nav] = performance.getEntriesByType('navigation') as PerformanceNavigationTiming[];
      return nav.domContentLoadedEventEnd - nav.startTime;
    });
    assert.ok(loadMs < 1000, `console took ${loadMs} ms to load`);
    console.log(`# console load: ${loadMs} ms to the signed-in shell (DOMContentLoaded ${Math.round(domMs)} ms)`);

    // Tokens: issue one for the holder role; it is shown once, with its psql URL.
    await page.click('a.nav-link[data-view="tokens"]');
    await page.waitForSelector('#token-list');
    await page.selectOption('#token-role', 'holder');
    await page.fill('#token-label', 'support');
    await page.click('.create-form button[type=submit]');
    await page.waitForSelector('.reveal');
    const psqlUrl = (await page.textContent('[data-value="psql-crm"]'))!;
    assert.match(psqlUrl, new RegExp(`^postgresql://support:gth_[A-Za-z0-9_-]{43}@127\\.0\\.0\\.1:${gw.port}/crm$`));
    await page.click('[data-copy="psql-crm"]');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), psqlUrl, 'the copy button copies the URL');
    await page.waitForSelector('#token-list tr[data-id]');
    await shot(page, '04-token-created');

    // The agent connects with exactly that URL; a few statements, then a DELETE that waits for a person.
    const agent = new pg.Client({ connectionString: psqlUrl });
    agent.on('error', () => undefined);
    await agent.connect();
    clients.push(agent);
    assert.equal((await agent.query('SELECT id, subject FROM tickets ORDER BY id')).rowCount, 3);
    await failure(agent.query('SELECT email FROM customers'));
    const writer = await gw.client(await gw.token('writer', 'crm-writer'));
    clients.push(writer);
    await writer.query('SELECT name, email, ssn FROM customers ORDER BY id');

    await page.click('a.nav-link[data-view="approvals"]');
    await page.waitForSelector('#pending .empty');
    const held = agent.query('DELETE FROM tickets WHERE id = 3');
    let settled = false;
    void held.then(() => (settled = true), () => (settled = true));
    // It appears without a reload.
    const card = await page.waitForSelector('article.approval');
    assert.equal(await card.$eval('[data-testid="statement"]', (e) => e.textContent), 'DELETE FROM tickets WHERE id = 3');
    const cardText = (await card.textContent())!;
    assert.match(cardText, /support/);
    assert.match(cardText, /role holder/);
    assert.match(cardText, /delete/i);
    assert.match(cardText, /Expires in \d+:\d\d/);
    assert.equal(await page.textContent('a.nav-link[data-view="approvals"] .nav-badge'), '1');
    await shot(page, '05-approval-held');

    // The token's issuer cannot approve: the service refuses, and the card says why.
    await card.$eval('button[data-action="approve"]', (b) => (b as HTMLButtonElement).click());
    await page.waitForSelector('article.approval .card-error:not([hidden])');
    assert.match(await page.textContent('article.approval .card-error') ?? '', /nobody approves their own request/);
    await shot(page, '06-self-approval-refused');
    assert.equal(settled, false, 'still held');

    // Bob, an approver only, signs in elsewhere and approves.
    const bob = await openConsole(bobContext, APPROVER_KEY);
    assert.deepEqual(await bob.$$eval('.nav-link', (as) => as.map((a) => a.getAttribute('data-view'))), ['approvals'], 'an approver sees only the inbox');
    const bobCard = await bob.waitForSelector('article.approval');
    await bobCard.$eval('input.input', (i, v) => { (i as HTMLInputElement).value = v; }, 'ticket 3 is a duplicate');
    await bob.selectOption('article.approval select', '');
    await bobCard.$eval('button[data-action="approve"]', (b) => (b as HTMLButtonElement).click());
    // The agent's statement completes.
    const result = await held;
    assert.equal(result.rowCount, 1);
    await bob.waitForSelector('#pending .empty');
    await bob.waitForSelector('.decided tr[data-id] .badge.status-used');
    await shot(bob, '07-approver-after-approval');
    await bob.goto(gw.adminUrl + '/#/tokens');
    await bob.waitForSelector('.notice');
    assert.match(await bob.textContent('.notice') ?? '', /needs the admin role/);
    await shot(bob, '08-approver-admin-only-page');
    // The admin's inbox emptied by itself.
    await page.waitForSelector('#pending .empty');
    assert.equal(await page.isHidden('a.nav-link[data-view="approvals"] .nav-badge'), true);

    // Live decisions: allowed, refused, masked and held, refusals marked.
    await page.click('a.nav-link[data-view="decisions"]');
    await page.waitForSelector('.decision.verdict-refused');
    await page.waitForSelector('.decision.verdict-masked');
    await page.waitForSelector('.decision.verdict-held .approval-state.status-forwarded');
    const heldRow = (await page.textContent('.decision.verdict-held'))!;
    assert.match(heldRow, /DELETE FROM tickets WHERE id = 3/);
    assert.match(heldRow, /forwarded by bob/);
    assert.match((await page.textContent('.decision.verdict-refused'))!, /customers/);
    await shot(page, '09-decisions');
    await page.click('.chip-toggle[data-verdict="refused"]');
    assert.deepEqual([...new Set(await page.$$eval('#decisions .decision', (ds) => ds.map((d) => d.getAttribute('data-verdict'))))], ['refused']);
    // A filter that matches nothing says so, and offers the way back.
    const writerToken = (await gw.gateway.services.tokens.list()).find((t) => t.label === 'crm-writer')!.id;
    await page.selectOption('.toolbar select[aria-label="Token"]', writerToken);
    await page.waitForSelector('#decisions .empty .mark-filter');
    await shot(page, '09b-decisions-no-match');
    await page.click('#decisions .empty button');
    await page.waitForSelector('#decisions .decision.verdict-allowed');
    await page.selectOption('.toolbar select[aria-label="Connection"]', 'crm');
    // A live decision arrives while the page is open.
    await agent.query('SELECT count(*) FROM tickets');
    await page.waitForSelector('.decision.fresh');

    // Sessions, filtered to the live ones, then the replay of the agent's session.
    await page.click('a.nav-link[data-view="sessions"]');
    await page.waitForSelector('#sessions tr[data-id]');
    await page.check('.toolbar .check input');
    await page.waitForSelector('#sessions tr[data-id]');
    await shot(page, '10-sessions');
    await page.fill('.toolbar input[type="search"]', 'no-such-run');
    await page.waitForSelector('#sessions .empty .mark-filter');
    await shot(page, '10b-sessions-no-match');
    await page.fill('.toolbar input[type="search"]', '');
    await page.waitForSelector('#sessions tr[data-id]');
    const agentSession = (await gw.gateway.services.store.listSessions({ live: true })).find((s) => s.label === 'support')!;
    await page.click(`#sessions tr[data-id="${agentSession.id}"]`);
    await page.waitForSelector('#timeline .step');
    await page.waitForSelector('#chain-status.ok');
    assert.match(await page.textContent('#chain-status') ?? '', /verified/);
    const stepsText = (await page.textContent('#timeline'))!;
    assert.match(stepsText, /DELETE FROM tickets WHERE id = 3/);
    assert.match(stepsText, /DELETE 1/);
    assert.match(stepsText, /Forwarded after approval/);
    assert.match(stepsText, /SELECT email FROM customers/);
    await shot(page, '11-replay');
    const total = await page.$$eval('#timeline .step', (s) => s.length);
    await page.click('button[data-action="restart"]');
    assert.equal(await page.$$eval('#timeline .step:not(.hidden)', (s) => s.length), 0);
    await page.click('button[data-action="step"]');
    await page.click('button[data-action="step"]');
    assert.equal(await page.$$eval('#timeline .step:not(.hidden)', (s) => s.length), 2);
    assert.match(await page.textContent('.replay-progress') ?? '', new RegExp(`Step 2 of ${total}`));
    await shot(page, '12-replay-stepping');
    await page.selectOption('select[aria-label="Speed"]', '16');
    await page.click('button[data-action="play"]');
    await page.waitForFunction((n) => document.querySelector('.replay-progress')?.textContent === `Step ${n} of ${n}`, total, { timeout: 20_000 });

    // The writer's session replays its masked rows as the agent saw them.
    const writerSession = (await gw.gateway.services.store.listSessions({ live: true })).find((s) => s.label === 'crm-writer')!;
    await page.goto(`${gw.adminUrl}/#/sessions/${writerSession.id}`);
    await page.waitForSelector('#timeline th.masked-col');
    const sample = (await page.textContent('#timeline .sample'))!;
    assert.doesNotMatch(sample, /ada@example\.com|078-05-1120/, 'the replay shows masked values, never the originals');
    await shot(page, '13-replay-masked');

    // Revoke the agent's token from the Tokens page: its connection drops at once.
    const dropped = new Promise<void>((resolve) => agent.once('end', () => resolve()));
    await page.click('a.nav-link[data-view="tokens"]');
    const tokenId = (await gw.gateway.services.tokens.list()).find((t) => t.label === 'support')!.id;
    await page.click(`#token-list tr[data-id="${tokenId}"] button[data-action="revoke"]`);
    await shot(page, '14-token-revoke-confirm');
    await page.click(`#token-list tr[data-id="${tokenId}"] button[data-action="confirm-revoke"]`);
    await dropped;
    await page.waitForSelector(`#token-list tr[data-id="${tokenId}"]`, { state: 'detached' });
    await page.check('.list-head .check input');
    await page.waitForSelector(`#token-list tr[data-id="${tokenId}"] .badge.token-revoked`);
    await shot(page, '15-tokens-after-revoke');
    assert.match((await gw.gateway.services.store.sessionById(agentSession.id))?.endReason ?? '', /token revoked/);

    // Errors look deliberate: an unknown session.
    await page.goto(`${gw.adminUrl}/#/sessions/ses_doesnotexist`);
    await page.waitForSelector('.error-panel');
    assert.match(await page.textContent('.error-panel') ?? '', /no session ses_doesnotexist/);
    await shot(page, '16-replay-not-found');

    // Signing out ends the session; the sign-in page says so.
    await page.goto(gw.adminUrl + '/');
    await page.click('button:has-text("Sign out")');
    await page.waitForSelector('#admin-key');
    assert.match(await page.textContent('.login') ?? '', /signed out/);
    assert.equal((await context.cookies()).find((c) => c.name === 'gatehouse_session'), undefined);
    await shot(page, '17-signed-out');

    assert.deepEqual(errors, [], 'no script errors');
    assert.deepEqual((bob as Page & { problems?: string[] }).problems, []);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await context.close();
    await bobContext.close();
  }
});

test('in the browser: a new token shows how to connect on each of its role\'s connections', async () => {
  const config = parseConfig(`
admin:
  listen: 127.0.0.1:0
  keys:
    - { name: tester, key: "${ADMIN_KEY}", roles: [admin] }
store: "sqlite::memory:"
connections:
  crm:
    kind: postgres
    listen: 127.0.0.1:0
    upstream: postgres://postgres@127.0.0.1:5432/postgres
    tls: off
    upstream_tls: disable
  billing:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9
  openai:
    kind: llm
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9/v1
roles:
  assistant:
    crm: { read: [documents] }
    billing: { allow: ["GET /invoices/*"] }
    openai: { models: [gpt-4o-mini] }
  no-grants: {}
`, 'console-test');
  const gateway = await startGateway(config, { log: silent });
  const context = await browser.newContext({ viewport: { width: 1320, height: 860 } });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(gateway.adminUrl + '/#/tokens');
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('#token-list .empty');
    await shot(page, '18-tokens-empty');
    await page.selectOption('#token-role', 'no-grants');
    assert.match(await page.textContent('#role-hint') ?? '', /no grants/);
    await page.selectOption('#token-role', 'assistant');
    assert.match(await page.textContent('#role-hint') ?? '', /crm.*billing.*openai/);
    await page.fill('#token-label', 'chat-step');
    await page.selectOption('#token-ttl', '1h');
    await page.click('.create-form button[type=submit]');
    await page.waitForSelector('.reveal');
    const address = (name: string) => gateway.listeners.find((l) => l.name === name)!.address;
    const token = (await page.textContent('[data-value="token"]'))!;
    assert.match(token, /^gth_[A-Za-z0-9_-]{43}$/);
    assert.equal(await page.textContent('[data-value="psql-crm"]'), `postgresql://chat-step:${token}@${address('crm')}/crm`);
    assert.equal(await page.textContent('[data-value="env-openai"]'), `OPENAI_BASE_URL=http://${address('openai')}/v1\nOPENAI_API_KEY=${token}`);
    assert.equal(await page.textContent('[data-value="http-billing"]'), `curl -H "Authorization: Bearer ${token}" http://${address('billing')}/`);
    assert.equal((await gateway.services.tokens.check(token)).ok, true, 'the token shown is the one minted');
    await shot(page, '19-token-created-multi');
    // Invalid input is refused by the service and shown in the form.
    await page.fill('#token-label', 'not a label!');
    await page.evaluate(() => document.querySelector('.create-form')!.setAttribute('novalidate', ''));
    await page.click('.create-form button[type=submit]');
    await page.waitForSelector('.create-form .form-error:not([hidden])');
    assert.match(await page.textContent('.create-form .form-error') ?? '', /label must be/);
    await shot(page, '20-token-form-error');
  } finally {
    await context.close();
    await gateway.close();
  }
});
