// The board sidecar at 15,000 tasks (prefilled through the store's own write path), a real
// `rig grpc` and a real `rig sidecar board`: 200 pages that stop reading cost it less than 100 MB
// of RSS and are each dropped, while a page that reads sees a change within 1 s; a page that stops
// reading mid-snapshot is dropped and, when it reads again and reconnects, is sent the whole board
// again; `GET /` carries no tasks, and the page in headless chromium loads them after it renders;
// when the tab stops reading (chromium's network throttling) across a sidecar restart, the sidecar
// drops it, and once it reads again it shows the new board once, not twice; past --max-pages
// pages a page gets 503 until one closes.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { rssBytes, sampleRssPeak } from '../../bench/processes';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { requireTool, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { BoardReader, openStuckPages, prefillBoard } from './board-pages';
import { boardUrl, drops } from './board-support';
import { startSidecar, type SidecarProcess } from './sidecar-support';

const CHROMIUM = '/usr/bin/chromium';
const TASKS = 15_000;
const STUCK = 200;
const MB = 1024 * 1024;
const RSS_MARGIN_MB = 100;
/** A reading page sees a change within this, with the stuck pages open. */
const CHANGE_MS = 1_000;
/** Loading 15,000 cards (sidecar snapshot, a page's snapshot, chromium's first draw) on a busy machine. */
const LOAD_MS = 60_000;
/** The sidecar drops a page not drained within 5 s; this leaves room for a loaded machine. */
const DROP_MS = 30_000;

let server: ServerProcess | undefined;
let sidecar: SidecarProcess | undefined;
let client: RiggerServiceClient | undefined;
let browser: Browser | undefined;
let url = '';

const reassign = (taskId: string, assignee: string) => call(client!, 'UpdateTask', { task_id: taskId, assignee });
const sidecarPid = () => sidecar!.child.pid!;

before(async () => {
  const dir = tempProject();
  prefillBoard(path.join(dir, '.rigger', 'tasks.db'), TASKS);
  server = await startServer(dir);
  client = connect(server.address);
  sidecar = startSidecar('board', ['--address', server.address, '--http-port', '0'], 'rig');
  url = await boardUrl(sidecar, LOAD_MS);
});

after(async () => {
  client?.close();
  await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
  await sidecar?.stop('SIGKILL');
  await server?.stop();
});

test(`board at ${TASKS} tasks: ${STUCK} pages that never read cost < ${RSS_MARGIN_MB} MB and are dropped; a reading page sees a change within ${CHANGE_MS} ms`, async () => {
  const reader = await BoardReader.open(url);
  try {
    await reader.waitUntil(() => reader.snapshotsCompleted === 1, LOAD_MS, 'the reading page has the board');
    assert.equal(reader.board.size, TASKS);
    const dropsBefore = drops(sidecar!);
    const baseline = rssBytes(sidecarPid());
    const rss = sampleRssPeak(sidecarPid());
    let stuck;
    try {
      stuck = await openStuckPages(url, STUCK);
      const [first] = reader.board.keys();
      const assignee = `with ${STUCK} stuck pages open`;
      const sentAt = performance.now();
      await reassign(first!, assignee);
      const seen = () => reader.changes.find((change) => change.task?.assignee === assignee);
      await reader.waitUntil(() => seen() !== undefined, 10_000, 'the reading page sees the change');
      const seenMs = seen()!.at - sentAt;
      assert.ok(seenMs < CHANGE_MS, `the reading page saw the change after ${seenMs.toFixed(0)} ms (want < ${CHANGE_MS})`);
      await waitFor(() => drops(sidecar!) - dropsBefore >= STUCK, DROP_MS, `${STUCK} stuck pages dropped (so far ${drops(sidecar!) - dropsBefore})`);
    } finally {
      rss.stop();
      for (const socket of stuck ?? []) socket.destroy();
    }
    const growthMb = (rss.peak() - baseline) / MB;
    assert.ok(
      growthMb < RSS_MARGIN_MB,
      `sidecar RSS ${(baseline / MB).toFixed(0)} MB -> peak ${(rss.peak() / MB).toFixed(0)} MB with ${STUCK} stuck pages (want growth < ${RSS_MARGIN_MB} MB)`,
    );
    assert.equal(drops(sidecar!) - dropsBefore, STUCK, 'only the stuck pages were dropped');
    assert.equal(reader.ended, false, 'the reading page was never dropped');
    assert.equal(reader.snapshotsStarted, 1);
    assert.equal(reader.board.size, TASKS);
  } finally {
    reader.close();
  }
});

test('board: a page that stops reading mid-snapshot is dropped, and when it reads again it reconnects and is sent the whole board', async () => {
  const dropsBefore = drops(sidecar!);
  const page = await BoardReader.open(url);
  await page.waitUntil(() => page.snapshotsStarted === 1, LOAD_MS, 'the snapshot begins');
  page.pause();
  await waitFor(() => drops(sidecar!) > dropsBefore, DROP_MS, 'the sidecar drops the page that stopped reading');
  const dropped = JSON.parse(
    sidecar!
      .stderr()
      .trim()
      .split('\n')
      .filter((line) => line.includes('"board page not reading'))
      .at(-1)!,
  ) as { reason: string };
  assert.equal(dropped.reason, 'not drained');

  // Meanwhile a change the dropped page does not get on its cut-off stream.
  const listed = await call<{ tasks: { id: string }[] }>(client!, 'ListTasks', { limit: 1 });
  const renamed = listed.tasks[0]!.id;
  await reassign(renamed, 'while the page was dropped');

  // It reads again: what the socket held, then the end of the stream, without the snapshot's end.
  page.resume();
  await page.waitUntil(() => page.ended, LOAD_MS, 'the dropped stream ends once read');
  assert.equal(page.snapshotsCompleted, 0, 'the dropped stream was cut mid-snapshot');
  page.close();

  // Reconnecting, as EventSource does: the whole board again, and live after it.
  const again = await BoardReader.open(url);
  try {
    await again.waitUntil(() => again.snapshotsCompleted === 1, LOAD_MS, 'the reconnected page has the board');
    assert.equal(again.board.size, TASKS);
    assert.equal(again.board.get(renamed)?.assignee, 'while the page was dropped', 'the new snapshot has what the page missed');
    await reassign(renamed, 'after the resync');
    await again.waitUntil(() => again.board.get(renamed)?.assignee === 'after the resync', 10_000, 'the resynced page is live');
    assert.equal(again.board.size, TASKS);
  } finally {
    again.close();
  }
});

test(`board: GET / carries no tasks at ${TASKS}; the page in chromium loads them after it renders; a tab that stops reading is dropped and then shows the new board once`, async (t) => {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  const html = await response.text();
  assert.ok(html.length < 4096 && !html.includes('Board task'), 'the HTML embeds no tasks');

  if (!requireTool(t, CHROMIUM, 'apt-get install chromium')) return;
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(url);
  const total = `[...document.querySelectorAll('#columns .column .count')].reduce((sum, count) => sum + Number(count.textContent), 0)`;
  const drawn = `[...document.querySelectorAll('#columns .column')].map((column) => column.querySelectorAll('.card').length)`;
  await page.waitForFunction(`document.getElementById('connection').dataset.state === 'live' && ${total} === ${TASKS}`, { timeout: LOAD_MS });
  assert.deepEqual(await page.evaluate(drawn), [200, 200, 200], 'each column draws its newest 200 cards');
  assert.match(
    (await page.evaluate(`document.querySelector('#columns [data-status="TODO"] .more').textContent`)) as string,
    new RegExp(`^${TASKS / 3 - 200} more`),
  );
  assert.match((await page.evaluate(`document.getElementById('summary').textContent`)) as string, new RegExp(`^${TASKS} of ${TASKS} tasks shown`));
  await page.evaluate('window.__loadedOnce = true');

  // The tab stops reading (chromium's own throttling, 2,000 bytes/s) and the sidecar restarts on
  // its port with a task added meanwhile: the page reconnects, its new snapshot backs up and the
  // sidecar drops it, while the page still shows the board it had, whole. Once the tab reads
  // again it reconnects and the new snapshot replaces the board: 15,001 cards, not 30,001.
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 2000, uploadThroughput: -1 });
  const port = new URL(url).port;
  assert.equal(await sidecar!.stop('SIGTERM'), 0, sidecar!.stderr());
  await page.waitForFunction(`document.getElementById('connection').dataset.state === 'page-offline'`, { timeout: LOAD_MS });
  await call(client!, 'AddTask', { title: 'added while the board was away', assignee: 'Alice' });
  sidecar = startSidecar('board', ['--address', server!.address, '--http-port', port], 'rig');
  assert.equal(await boardUrl(sidecar, LOAD_MS), url);
  await waitFor(() => drops(sidecar!) > 0, DROP_MS, 'the sidecar drops the tab that stopped reading');
  assert.equal(await page.evaluate(total), TASKS, 'meanwhile the page shows the board it had, neither part of the new one nor both');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.waitForFunction(`document.getElementById('connection').dataset.state === 'live' && ${total} === ${TASKS + 1}`, { timeout: LOAD_MS });
  assert.equal(await page.evaluate('window.__loadedOnce'), true, 'the page was never reloaded');
  const ids = (await page.evaluate(`[...document.querySelectorAll('#columns .card')].map((card) => card.dataset.taskId)`)) as string[];
  assert.equal(new Set(ids).size, ids.length, 'no card is drawn twice');
  assert.ok(
    await page.evaluate(`[...document.querySelectorAll('#columns .card h4')].some((h) => h.textContent === 'added while the board was away')`),
    'the newest card is drawn',
  );
  assert.deepEqual(pageErrors, []);
});

/** The status and body of a GET of /events that is not kept open (a 200 is cut off at once). */
function eventsStatus(pageUrl: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(new URL('events', pageUrl), (response) => {
      let body = '';
      response.setEncoding('utf8');
      if (response.statusCode === 200) {
        request.destroy();
        resolve({ status: 200, retryAfter: undefined, body });
        return;
      }
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body }));
    });
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error('no answer on /events within 10 s')));
  });
}

test('board: past --max-pages open pages the next gets 503 with Retry-After, and is let in once one closes', async () => {
  const limited = startSidecar('board', ['--address', server!.address, '--http-port', '0', '--max-pages', '2'], 'rig');
  const pages: BoardReader[] = [];
  try {
    const limitedUrl = await boardUrl(limited, LOAD_MS);
    for (let i = 0; i < 2; i++) {
      const page = await BoardReader.open(limitedUrl);
      pages.push(page);
      await page.waitUntil(() => page.snapshotsStarted === 1, LOAD_MS, `page ${i + 1} is served`);
    }
    const refused = await eventsStatus(limitedUrl);
    assert.equal(refused.status, 503);
    assert.equal(refused.retryAfter, '5');
    assert.match(refused.body, /the board has 2 pages open \(--max-pages\); close one or start the sidecar with a higher --max-pages/);
    // The log line comes through a pipe, after the answer: waited for, not read at once.
    await waitFor(() => limited.stderr().includes('"board page refused: --max-pages pages are open"'), 10_000, 'the refusal is logged');
    pages.shift()!.close();
    await waitFor(async () => (await eventsStatus(limitedUrl)).status === 200, 10_000, 'a page is let in once one closed');
  } finally {
    for (const page of pages) page.close();
    await limited.stop('SIGKILL');
  }
});
