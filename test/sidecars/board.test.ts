// The board sidecar as a real process, seen through Debian's chromium (headless, driven by
// puppeteer-core): against a server that requires a token, the page shows the tasks that exist in
// their columns; an AddTask and an UpdateTask over gRPC show up within 2 s without a reload; the
// assignee filter works from the keyboard; the page recovers by itself from a server SIGKILL and
// restart and from a restart of the sidecar; the token is in neither the page nor its event stream.
// The DOM is checked, not pixels. RIGGER_BOARD_SCREENSHOT=docs/images/board.png also writes the
// screenshot this test takes there (the one the README shows).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { call, connect, bearer } from '../support/client';
import { freePort, REPO_ROOT, requireTool, rigAsync, startServer, tempDir, tempProject } from '../support/processes';
import { boardUrl } from './board-support';
import { addTaskByCli, startSidecar } from './sidecar-support';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'board-test-token-3f9a1c7e5b';
const CHANGE_MS = 2_000;
const RECOVER_MS = 15_000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const HOSTILE_TITLE = 'Sanitize <img src=x onerror="window.__pwned=1"> & <script>window.__pwned=2</script> in titles';

let browser: Browser | undefined;
after(async () => {
  await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
});

const auth = () => bearer(TOKEN);

/** The board as the DOM shows it: for each column on the page, the titles of its cards. */
const COLUMNS_SCRIPT = `Object.fromEntries([...document.querySelectorAll('#columns [data-status]')].map((column) =>
  [column.dataset.status, [...column.querySelectorAll('.card h4')].map((h) => h.textContent).sort()]))`;

const cardIn = (status: string, title: string) =>
  `[...document.querySelectorAll('#columns [data-status="${status}"] .card h4')].some((h) => h.textContent === ${JSON.stringify(title)})`;
const cardAnywhere = (title: string) => `[...document.querySelectorAll('#columns .card h4')].some((h) => h.textContent === ${JSON.stringify(title)})`;
const connectionIs = (state: string) => `document.getElementById('connection').dataset.state === ${JSON.stringify(state)}`;

async function columns(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(COLUMNS_SCRIPT) as Promise<Record<string, string[]>>;
}

/** The start of /events up to the end of its snapshot (the whole board), read straight off the socket. */
function firstEvents(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(new URL('events', url), (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        if (/event: board-end\ndata: .*\n\n/.test(text)) {
          request.destroy();
          resolve(text);
        }
      });
    });
    request.on('error', reject);
    request.setTimeout(5_000, () => request.destroy(new Error('no board-end message on /events within 5 s')));
  });
}

function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.setTimeout(5_000, () => request.destroy(new Error(`no answer from ${url} within 5 s`)));
  });
}

test('board: the tasks in their columns, live AddTask/UpdateTask within 2 s, keyboard filter, recovery from server and sidecar restarts, no token in the page', async (t) => {
  if (!requireTool(t, CHROMIUM, 'apt-get install chromium')) return;
  const dir = tempProject();
  let server = await startServer(dir, ['--token', TOKEN]);
  let grpcClient = connect(server.address);
  const add = async (title: string, assignee: string, dueDate?: string) =>
    ((await call(grpcClient, 'AddTask', { title, assignee, ...(dueDate && { due_date: dueDate }) }, auth())) as { task: { id: string } }).task.id;
  const setStatus = (id: string, status: number) => call(grpcClient, 'UpdateTask', { task_id: id, status }, auth());

  const oauth = await add('Implement OAuth2 authentication', 'Alice', '2025-12-31');
  const runbook = await add('Write the runbook', 'Bob', '2099-01-15');
  await setStatus(runbook, 2);
  const hostile = await add(HOSTILE_TITLE, 'Carol');
  await setStatus(hostile, 9);
  const gone = await add('Abandoned idea', 'Bob');
  await call(grpcClient, 'DeleteTask', { task_id: gone }, auth());

  let sidecar = startSidecar('board', ['--address', server.address, '--token', TOKEN, '--http-port', '0'], 'rig');
  try {
    const url = await boardUrl(sidecar);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'loopback by default');
    const listening = sidecar
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"board listening'))
      .map((line) => JSON.parse(line) as { url: string });
    assert.deepEqual(
      listening.map((line) => line.url),
      [url],
      'the URL is logged as a pino line too',
    );

    // The page, its files and its event stream carry tasks, never the token.
    for (const file of ['', 'board-view.js', 'board.js', 'board.css']) {
      const response = await fetch(new URL(file, url));
      assert.equal(response.status, 200, file);
      assert.ok(!(await response.text()).includes(TOKEN), `the token is not in /${file}`);
    }
    const firstMessage = await firstEvents(url);
    assert.match(firstMessage, /Write the runbook/);
    assert.ok(!firstMessage.includes(TOKEN), 'the token is not in /events');
    assert.equal(await statusWithHost(url, 'board.attacker.example'), 421, 'a foreign Host (DNS rebinding) is refused');

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true, // --headless=new
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 600 });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(url);
    await page.waitForFunction(connectionIs('live'), { timeout: RECOVER_MS });
    await page.evaluate('window.__loadedOnce = true');

    // What existed before the sidecar started: each task in its column, the deleted one nowhere.
    const before = await columns(page);
    assert.deepEqual(before.TODO, ['Implement OAuth2 authentication']);
    assert.deepEqual(before.IN_PROGRESS, ['Write the runbook']);
    assert.deepEqual(before.COMPLETED, [HOSTILE_TITLE], 'the title is shown as text, markup and all');
    assert.ok(!Object.values(before).flat().includes('Abandoned idea'), 'a deleted task is not on the board');
    assert.equal(await page.evaluate("document.querySelectorAll('#columns script, #columns img').length"), 0, 'task text never becomes markup');
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.equal(await page.evaluate(`document.querySelector('[data-task-id="${oauth}"] dl time')?.getAttribute('datetime')`), '2025-12-31');
    assert.match((await page.evaluate(`document.querySelector('[data-task-id="${oauth}"] dl').textContent`)) as string, /overdue/);
    assert.ok(!(await page.content()).includes(TOKEN), 'the token is not in the live DOM');

    // Live: a new card within 2 s, then the same card moved to another column, without a reload.
    const ship = await add('Ship the live board', 'Dave', '2099-06-30');
    await page.waitForFunction(cardIn('TODO', 'Ship the live board'), { timeout: CHANGE_MS });
    await setStatus(ship, 2);
    await page.waitForFunction(`${cardIn('IN_PROGRESS', 'Ship the live board')} && !${cardIn('TODO', 'Ship the live board')}`, { timeout: CHANGE_MS });
    await page.waitForFunction(
      `[...document.querySelectorAll('#feed li')].some((li) => li.textContent.includes('status changed') && li.textContent.includes('Ship the live board'))`,
      { timeout: CHANGE_MS },
    );

    // The assignee filter from the keyboard: Tab reaches it first, the arrows pick a person.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.id'), 'assignee-filter');
    assert.deepEqual(await page.evaluate("[...document.querySelectorAll('#assignee-filter option')].map((o) => o.textContent)"), [
      'Everyone',
      'Alice',
      'Bob',
      'Carol',
      'Dave',
    ]);
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(`document.getElementById('assignee-filter').value === 'Alice'`, { timeout: CHANGE_MS });
    await page.waitForFunction(`document.querySelectorAll('#columns .card').length === 1 && ${cardIn('TODO', 'Implement OAuth2 authentication')}`, {
      timeout: CHANGE_MS,
    });
    assert.match((await page.evaluate("document.getElementById('summary').textContent")) as string, /^1 of 4 tasks shown/);
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(`document.querySelectorAll('#columns .card').length === 1 && ${cardIn('IN_PROGRESS', 'Write the runbook')}`, {
      timeout: CHANGE_MS,
    });
    await page.keyboard.press('Home');
    await page.waitForFunction(`document.querySelectorAll('#columns .card').length === 4`, { timeout: CHANGE_MS });

    const screenshot = path.join(tempDir('rigger-board-shot-'), 'board.png');
    await page.screenshot({ path: screenshot });
    assert.ok(fs.readFileSync(screenshot).subarray(0, 8).equals(PNG_SIGNATURE), 'the screenshot is a PNG');
    const forDocs = process.env.RIGGER_BOARD_SCREENSHOT;
    if (forDocs) fs.copyFileSync(screenshot, path.resolve(REPO_ROOT, forDocs));

    // The server dies: the page says so; a change is made meanwhile; the server returns on its port.
    server.child.kill('SIGKILL');
    await page.waitForFunction(connectionIs('server-down'), { timeout: RECOVER_MS });
    await addTaskByCli(dir, 'Added while the server was down', 'Erin');
    server = await startServer(dir, ['--port', String(server.port), '--token', TOKEN]);
    await page.waitForFunction(`${connectionIs('live')} && ${cardIn('TODO', 'Added while the server was down')}`, { timeout: RECOVER_MS });
    grpcClient.close();
    grpcClient = connect(server.address);
    const afterRestart = await add('Added after the restart', 'Frank');
    await page.waitForFunction(cardIn('TODO', 'Added after the restart'), { timeout: CHANGE_MS });

    // The sidecar restarts on the same port: the page's EventSource reconnects and redraws from the
    // whole board, including what changed while nobody was listening.
    const port = new URL(url).port;
    assert.equal(await sidecar.stop('SIGTERM'), 0, `clean stop on SIGTERM: ${sidecar.stderr()}`);
    await page.waitForFunction(connectionIs('page-offline'), { timeout: RECOVER_MS });
    await setStatus(oauth, 9);
    await setStatus(afterRestart, 2);
    sidecar = startSidecar('board', ['--address', server.address, '--token', TOKEN, '--http-port', port], 'rig');
    assert.equal(await boardUrl(sidecar), url);
    await page.waitForFunction(
      `${connectionIs('live')} && ${cardIn('COMPLETED', 'Implement OAuth2 authentication')} && ${cardIn('IN_PROGRESS', 'Added after the restart')} && !${cardIn('TODO', 'Added after the restart')}`,
      { timeout: RECOVER_MS },
    );
    assert.equal(await page.evaluate('window.__loadedOnce'), true, 'the page was never reloaded');
    const final = await columns(page);
    assert.deepEqual(final.TODO, ['Added while the server was down']);
    assert.deepEqual(final.IN_PROGRESS, ['Added after the restart', 'Ship the live board', 'Write the runbook']);
    assert.deepEqual(final.COMPLETED, [HOSTILE_TITLE, 'Implement OAuth2 authentication'].sort());
    assert.ok(!(await page.evaluate(cardAnywhere('Abandoned idea'))));
    assert.deepEqual(pageErrors, [], 'no script errors on the page');

    assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr());
    await assert.rejects(fetch(url), 'the board port is closed after shutdown');
    for (const line of sidecar.stderr().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), `pino JSON on stderr: ${line}`);
  } finally {
    grpcClient.close();
    await browser?.close();
    browser = undefined;
    await sidecar.stop('SIGKILL');
    await server.stop();
  }
});

test('board: bad flags and a port in use end with one line and exit code 1', async () => {
  const taken = http.createServer();
  const takenPort = await freePort();
  await new Promise<void>((resolve) => taken.listen(takenPort, '127.0.0.1', resolve));
  after(() => taken.close());
  const cases: [string[], RegExp][] = [
    [['--http-port', String(takenPort)], /^rig: cannot listen on 127\.0\.0\.1:\d+: the port is in use/],
    [['--http-port', '70000'], /^rig: --http-port must be a port number from 0 to 65535/],
    [['--port', '0'], /^rig: --port is the server's gRPC port/],
    [['--host', ' '], /^rig: --host must name an address/],
    [['--max-pages', '0'], /^rig: --max-pages must be a whole number of pages, 1 or more/],
    [['--bookmark-interval-ms', '5'], /^rig: --bookmark-interval-ms must be/],
  ];
  for (const [args, expected] of cases) {
    const result = await rigAsync(['sidecar', 'board', '--address', '127.0.0.1:1', ...args]);
    assert.equal(result.code, 1, args.join(' '));
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  }
});
