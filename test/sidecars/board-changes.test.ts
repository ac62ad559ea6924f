// Changes from the board page, in Debian's chromium (headless, puppeteer-core), against a real
// server that has a read-write and a read-only token: --allow-changes with the read-only token is a
// one-line error and exit 1; with the read-write one, a card's status select and a drag to another
// column change the task on the server (checked with GetTask over gRPC); a change the server
// refuses (a stale card version) is shown on the page; POST /change without the page's CSRF token,
// from another origin or cross-site is 403 and changes nothing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { TaskStatus } from '../../src/model/task';
import { call, connect, bearer } from '../support/client';
import { requireTool, rigAsync, startServer, tempProject } from '../support/processes';
import { boardUrl } from './board-support';
import { startSidecar } from './sidecar-support';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'board-changes-rw-token-8d2e4f';
const READ_ONLY = 'board-changes-ro-token-1a7c9b';
const WAIT_MS = 15_000;

let browser: Browser | undefined;
after(async () => {
  await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
});

const auth = () => bearer(TOKEN);

const cardIn = (status: string, id: string) => `!!document.querySelector('#columns [data-status="${status}"] [data-task-id="${id}"]')`;

test('board changes: a read-only token with --allow-changes exits 1; the select and a drag change the status on the server; refusals are shown; foreign requests get 403', async (t) => {
  if (!requireTool(t, CHROMIUM, 'apt-get install chromium')) return;
  const dir = tempProject();
  const server = await startServer(dir, ['--token', TOKEN, '--read-only-token', READ_ONLY]);
  const client = connect(server.address);
  const add = async (title: string) => ((await call(client, 'AddTask', { title, assignee: 'Alice' }, auth())) as { task: { id: string } }).task.id;
  const statusOf = async (id: string) => ((await call(client, 'GetTask', { task_id: id }, auth())) as { task: { status: string | number } }).task.status;

  const readOnly = await rigAsync(['sidecar', 'board', '--address', server.address, '--token', READ_ONLY, '--http-port', '0', '--allow-changes'], {
    timeoutMs: 30_000,
  });
  assert.equal(readOnly.code, 1, readOnly.stderr);
  assert.match(readOnly.stderr, /^rig: --allow-changes needs a read-write token/);
  assert.equal(readOnly.stderr.trim().split('\n').length, 1, `one line: ${readOnly.stderr}`);

  const bySelect = await add('Moved with the select');
  const byDrag = await add('Moved by dragging');
  const stale = await add('Changed elsewhere first');
  let sidecar = startSidecar('board', ['--address', server.address, '--token', TOKEN, '--http-port', '0', '--allow-changes'], 'rig');
  try {
    const url = await boardUrl(sidecar);
    const origin = new URL(url).origin;
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(url);
    await page.waitForFunction(`document.getElementById('connection').dataset.state === 'live' && document.querySelectorAll('#columns .card').length === 3`, {
      timeout: WAIT_MS,
    });
    const csrf = (await page.evaluate('document.querySelector(\'meta[name="rigger-board-csrf"]\').content')) as string;
    assert.ok(csrf.length >= 24, 'the page carries a CSRF token');

    // The select (keyboard and no drag): the server has the new status, and the board follows it.
    await page.select(`[data-task-id="${bySelect}"] select.move`, 'IN_PROGRESS');
    await page.waitForFunction(cardIn('IN_PROGRESS', bySelect), { timeout: WAIT_MS });
    assert.equal(await statusOf(bySelect), TaskStatus.IN_PROGRESS);
    assert.match((await page.evaluate("document.getElementById('notice').textContent")) as string, /Moved “Moved with the select” to In progress/);

    // A drag from To do onto Completed.
    await page.setDragInterception(true);
    const dragged = await page.$(`[data-task-id="${byDrag}"]`);
    const target = await page.$('#columns [data-status="COMPLETED"]');
    await dragged!.dragAndDrop(target!);
    await page.waitForFunction(cardIn('COMPLETED', byDrag), { timeout: WAIT_MS });
    assert.equal(await statusOf(byDrag), TaskStatus.COMPLETED);

    // The server refuses: the card's version is behind the task's (changed elsewhere), and the page says why.
    await page.evaluate(`document.querySelector('[data-task-id="${stale}"]').dataset.version = '999'`);
    await page.select(`[data-task-id="${stale}"] select.move`, 'COMPLETED');
    await page.waitForFunction("document.getElementById('notice').dataset.kind === 'error'", { timeout: WAIT_MS });
    assert.match(
      (await page.evaluate("document.getElementById('notice').textContent")) as string,
      /Could not move “Changed elsewhere first” to Completed: the server refused the change: .*version/i,
    );
    assert.equal(await statusOf(stale), TaskStatus.TODO);
    await page.waitForFunction(`${cardIn('TODO', stale)} && document.querySelector('[data-task-id="${stale}"] select.move').value === 'TODO'`, {
      timeout: WAIT_MS,
    });

    // Requests not from the page: no CSRF token, another origin, cross-site, no Origin at all.
    const post = (headers: Record<string, string>) =>
      fetch(new URL('change', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ task_id: stale, status: 'COMPLETED' }),
      });
    const foreign: [Record<string, string>, RegExp][] = [
      [{ origin }, /no valid x-rigger-board-csrf token/],
      [{ origin: 'http://attacker.example', 'x-rigger-board-csrf': csrf }, /Origin http:\/\/attacker\.example/],
      [{ origin, 'sec-fetch-site': 'cross-site', 'x-rigger-board-csrf': csrf }, /Sec-Fetch-Site cross-site/],
      [{ 'x-rigger-board-csrf': csrf }, /Origin missing/],
      [{ origin, 'x-rigger-board-csrf': 'not-the-token' }, /no valid x-rigger-board-csrf token/],
    ];
    for (const [headers, message] of foreign) {
      const response = await post(headers);
      assert.equal(response.status, 403, JSON.stringify(headers));
      assert.match(((await response.json()) as { error: string }).error, message);
    }
    // A cross-origin page's fetch: the browser sends its Origin, and the board refuses it.
    const other = await browser.newPage();
    await other.goto('about:blank');
    const crossStatus = await other.evaluate(
      `fetch(${JSON.stringify(new URL('change', url).href)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"task_id":"${stale}","status":"COMPLETED"}' }).then(() => 'sent', () => 'failed')`,
    );
    assert.ok(['sent', 'failed'].includes(crossStatus as string));
    await other.close();
    await page.bringToFront(); // a hidden tab gets no animation frames, so it would not redraw
    assert.equal(await statusOf(stale), TaskStatus.TODO, 'nothing foreign changed the task');

    // With the page's own headers the same request is taken (the checks above are what refused).
    const accepted = await post({ origin, 'x-rigger-board-csrf': csrf });
    assert.equal(accepted.status, 200);
    assert.equal(await statusOf(stale), TaskStatus.COMPLETED);
    const unknown = await fetch(new URL('change', url), {
      method: 'POST',
      headers: { origin, 'x-rigger-board-csrf': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ task_id: 'no-such-task', status: 'TODO' }),
    });
    assert.equal(unknown.status, 404, "an unknown task is the server's NOT_FOUND");

    // The sidecar restarts under the open page (a new CSRF token): the page's next change still goes through, without a reload.
    await page.evaluate('window.__loadedOnce = true');
    assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr());
    await page.waitForFunction("document.getElementById('connection').dataset.state === 'page-offline'", { timeout: WAIT_MS });
    sidecar = startSidecar('board', ['--address', server.address, '--token', TOKEN, '--http-port', new URL(url).port, '--allow-changes'], 'rig');
    assert.equal(await boardUrl(sidecar), url);
    await page.waitForFunction(`document.getElementById('connection').dataset.state === 'live' && ${cardIn('COMPLETED', stale)}`, { timeout: WAIT_MS });
    await page.select(`[data-task-id="${bySelect}"] select.move`, 'COMPLETED');
    await page.waitForFunction(cardIn('COMPLETED', bySelect), { timeout: WAIT_MS });
    assert.equal(await statusOf(bySelect), TaskStatus.COMPLETED);
    assert.equal(await page.evaluate('window.__loadedOnce'), true, 'the page was never reloaded');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  } finally {
    client.close();
    await browser?.close();
    browser = undefined;
    await sidecar.stop('SIGKILL');
    await server.stop();
  }
});
