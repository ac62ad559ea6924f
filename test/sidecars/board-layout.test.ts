// The board page as a person keeps it open, in Debian's chromium (headless, puppeteer-core), on a
// project with history (60 tasks written before the sidecar started): the recent-events feed holds
// the log's last 50 events at load; at 1280 px the columns scroll inside themselves and the page
// stays one screen high; a card's short id copies the full id; at 390x844 (a phone) one column
// shows at a time, every column is reachable through the tabs, nothing scrolls sideways, words are
// not broken and the feed is reachable. Without --allow-changes POST /change is 403.
// RIGGER_WRITE_SCREENSHOTS=1 writes the screenshots into docs/images/ (board-1280.png,
// board-390.png); otherwise they go to a temp dir, so a test run leaves the clone clean.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { requireTool, startServer, tempProject } from '../support/processes';
import { prefillBoard } from './board-pages';
import { boardUrl, screenshotDir } from './board-support';
import { startSidecar } from './sidecar-support';

const CHROMIUM = '/usr/bin/chromium';
const TASKS = 60;
const WAIT_MS = 15_000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let browser: Browser | undefined;
after(async () => {
  await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
});

test('board layout: the feed from the log at load, columns that scroll inside, id copy and age at 1280 px; one column at a time with tabs at 390 px', async (t) => {
  if (!requireTool(t, CHROMIUM, 'apt-get install chromium')) return;
  const dir = tempProject();
  prefillBoard(path.join(dir, '.rigger', 'tasks.db'), TASKS);
  const server = await startServer(dir);
  const sidecar = startSidecar('board', ['--address', server.address, '--http-port', '0'], 'rig');
  try {
    const url = await boardUrl(sidecar);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const context = browser.defaultBrowserContext();
    await context.overridePermissions(new URL(url).origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(url);
    await page.waitForFunction(
      `document.getElementById('connection').dataset.state === 'live' && document.querySelectorAll('#columns .card').length === ${TASKS}`,
      { timeout: WAIT_MS },
    );

    // The feed at load: the log's newest 50 events (of 60), newest first, not only those after the page opened.
    const feed = (await page.evaluate("[...document.querySelectorAll('#feed li')].map((li) => Number(li.dataset.sequence))")) as number[];
    assert.equal(feed.length, 50, 'the feed is bounded to its 50 entries');
    assert.deepEqual(
      feed,
      Array.from({ length: 50 }, (_, i) => TASKS - i),
      'the last 50 events of the log, newest first',
    );

    // The sidecars panel: the hub's streams as GetHubStatus lists them, this board's own among them, caught up.
    await page.waitForFunction(
      "[...document.querySelectorAll('#sidecars li')].some((li) => li.dataset.name.startsWith('board/') && li.textContent.includes('lag 0 · live'))",
      { timeout: WAIT_MS },
    );

    // The page stays one screen high: the To do column (20 long cards) scrolls inside itself.
    const heights = (await page.evaluate(`({ page: document.documentElement.scrollHeight, view: window.innerHeight,
      inner: document.querySelector('#columns [data-status="TODO"] .cards').scrollHeight,
      shown: document.querySelector('#columns [data-status="TODO"] .cards').clientHeight,
      overflow: getComputedStyle(document.querySelector('#columns [data-status="TODO"] .cards')).overflowY })`)) as Record<string, number | string>;
    assert.ok(Number(heights.page) <= Number(heights.view), `the page is not taller than the window: ${JSON.stringify(heights)}`);
    assert.ok(Number(heights.inner) > Number(heights.shown) * 2, `the column's cards overflow it and scroll inside: ${JSON.stringify(heights)}`);
    assert.equal(heights.overflow, 'auto');
    await page.evaluate('document.querySelector(\'#columns [data-status="TODO"] .cards\').scrollTop = 400');
    assert.ok(Number(await page.evaluate('document.querySelector(\'#columns [data-status="TODO"] .cards\').scrollTop')) > 0, 'the column scrolls');

    // A card: its short id and age; a click on the id copies the full id, and says so.
    const first =
      (await page.evaluate(`(() => { const card = document.querySelector('#columns .card'); const id = card.querySelector('.task-id'); const age = card.querySelector('time.age');
      return { full: card.dataset.taskId, short: id.textContent, title: id.title, age: age.textContent, when: age.title, datetime: age.getAttribute('datetime') }; })()`)) as Record<
        string,
        string
      >;
    assert.equal(first.short, first.full!.slice(0, 8), 'the card shows the first 8 characters of its id');
    assert.ok(first.full!.length > 8 && first.title!.includes(first.full!), 'the full id is on hover');
    assert.match(first.age!, /^updated (just now|\d+ (min|h|d) ago)$/);
    assert.match(first.when!, /^updated /, 'the full time on hover');
    assert.ok(!Number.isNaN(Date.parse(first.datetime!)));
    await page.click(`[data-task-id="${first.full}"] .task-id`);
    await page.waitForFunction(`document.querySelector('[data-task-id="${first.full}"] .task-id').dataset.copied === 'true'`, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(`document.querySelector('[data-task-id="${first.full}"] .task-id').textContent`), 'Copied');
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), first.full, 'the full id is on the clipboard');
    assert.equal(await page.evaluate("document.querySelectorAll('.card .move').length"), 0, 'no status selects without --allow-changes');
    assert.equal(await page.evaluate('document.querySelectorAll(\'.card[draggable="true"]\').length'), 0, 'no dragging without --allow-changes');

    const shots = screenshotDir();
    await page.evaluate('document.querySelector(\'#columns [data-status="TODO"] .cards\').scrollTop = 0');
    await page.screenshot({ path: path.join(shots, 'board-1280.png') });

    // A phone: one column at a time, picked with the tabs; nothing scrolls sideways.
    // Emulating a phone (isMobile) reloads the page: wait for the board to be whole again.
    await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
    await page.waitForFunction(
      `getComputedStyle(document.querySelector('.tabs')).display !== 'none' && document.getElementById('connection').dataset.state === 'live' && document.querySelectorAll('#columns .card').length === ${TASKS}`,
      { timeout: WAIT_MS },
    );
    const tabs = (await page.evaluate("[...document.querySelectorAll('#tabs [role=tab]')].map((tab) => tab.dataset.status)")) as string[];
    const columns = (await page.evaluate("[...document.querySelectorAll('#columns [data-status]')].map((column) => column.dataset.status)")) as string[];
    assert.deepEqual(tabs, columns, 'a tab for every column');
    assert.deepEqual(columns, ['TODO', 'IN_PROGRESS', 'COMPLETED']);
    for (const status of tabs) {
      await page.click(`#tabs [data-status="${status}"]`);
      await page.waitForFunction(`document.querySelector('#tabs [data-status="${status}"]').getAttribute('aria-selected') === 'true'`, { timeout: WAIT_MS });
      const seen =
        (await page.evaluate(`[...document.querySelectorAll('#columns [data-status]')].filter((column) => column.getBoundingClientRect().width > 0).map((column) => {
        const box = column.getBoundingClientRect(); return { status: column.dataset.status, left: box.left, right: box.right, cards: column.querySelectorAll('.card').length }; })`)) as {
          status: string;
          left: number;
          right: number;
          cards: number;
        }[];
      assert.equal(seen.length, 1, `one column shows at a time: ${JSON.stringify(seen)}`);
      assert.equal(seen[0]!.status, status);
      assert.ok(seen[0]!.left >= 0 && seen[0]!.right <= 390, `the column fits the screen: ${JSON.stringify(seen)}`);
      assert.equal(seen[0]!.cards, TASKS / 3);
      assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth')) <= 390, `no horizontal scroll with ${status} shown`);
    }
    // Words wrap whole: titles and feed lines may break only an overlong word; ids may break anywhere.
    const wrapping =
      (await page.evaluate(`({ title: getComputedStyle(document.querySelector('.card h4')).overflowWrap, titleBreak: getComputedStyle(document.querySelector('.card h4')).wordBreak,
      feed: getComputedStyle(document.querySelector('#feed li')).overflowWrap, hyphens: getComputedStyle(document.querySelector('.card h4')).hyphens,
      id: getComputedStyle(document.querySelector('.task-id')).overflowWrap })`)) as Record<string, string>;
    assert.deepEqual(wrapping, { title: 'break-word', titleBreak: 'normal', feed: 'break-word', hyphens: 'none', id: 'anywhere' });
    // The longest word of each title fits its card, so none is cut mid-word.
    const tooWide = (await page.evaluate(`(() => { const probe = document.createElement('span'); probe.style.whiteSpace = 'nowrap';
      const h4 = [...document.querySelectorAll('.column.active .card h4')][0]; h4.append(probe);
      const widest = Math.max(...h4.firstChild.textContent.split(/\\s+/).map((word) => { probe.textContent = word; return probe.getBoundingClientRect().width; }));
      probe.remove(); return widest > h4.clientWidth; })()`)) as boolean;
    assert.equal(tooWide, false, 'every word of a title fits on a line of its card');
    // The feed is reachable: the tabs link to it, and it has the events.
    await page.click('.feed-link');
    await page.waitForFunction(
      "(() => { const box = document.getElementById('feed-heading').getBoundingClientRect(); return box.top >= 0 && box.top < window.innerHeight; })()",
      { timeout: WAIT_MS },
    );
    assert.ok(Number(await page.evaluate("document.querySelectorAll('#feed li').length")) > 0);
    assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth')) <= 390);
    await page.evaluate('window.scrollTo(0, 0)');
    await page.click('#tabs [data-status="TODO"]');
    await page.screenshot({ path: path.join(shots, 'board-390.png') });
    for (const name of ['board-1280.png', 'board-390.png'])
      assert.ok(fs.readFileSync(path.join(shots, name)).subarray(0, 8).equals(PNG_SIGNATURE), `${name} is a PNG`);

    // Read-only without --allow-changes: the change endpoint answers 403, even from the page's own origin.
    const origin = new URL(url).origin;
    const refused = await fetch(new URL('change', url), {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ task_id: first.full, status: 'COMPLETED' }),
    });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: string }).error, /read-only; start the sidecar with --allow-changes/);
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  } finally {
    await browser?.close();
    browser = undefined;
    await sidecar.stop('SIGKILL');
    await server.stop();
  }
});
