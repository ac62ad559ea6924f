// A restore from a backup under running sidecars, all real processes: `rig grpc`, `nats-server -js`,
// the logger (with a checkpoint), the NATS bridge, the webhook (to a receiver here), the metrics
// sidecar and the board (in Debian's chromium). A backup, 50 more writes, `rig restore` (which
// starts a new log identity parting at the backup), 50 new writes: every event of the new log
// reaches each sidecar exactly once, JetStream keeps every message of the old log beside the new
// ones, the board and metrics show the restored log, and the position past the restore point is
// refused with FAILED_PRECONDITION, never resumed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { connect as connectNats } from 'nats';
import puppeteer, { type Browser } from 'puppeteer-core';
import { call, connect } from '../support/client';
import { requireTool, rig, startServer, tempDir, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { boardUrl } from '../sidecars/board-support';
import { natsServerAt, readStream } from '../sidecars/nats-support';
import { metricsUrl, restartServer, sample, scrape, startSidecar, waitLogged, type SidecarProcess } from '../sidecars/sidecar-support';

const BEFORE_BACKUP = 20;
const AFTER_BACKUP = 50;
const AFTER_RESTORE = 50;
const WAIT_MS = 30_000;
const CHROMIUM = '/usr/bin/chromium';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** A webhook receiver: every request's webhook-id and body, in arrival order, answered 200. */
async function receiver(): Promise<{ url: string; requests: { id: string; body: { sequence: number; log_id?: string } }[] }> {
  const requests: { id: string; body: { sequence: number; log_id?: string } }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      requests.push({ id: String(req.headers['webhook-id']), body: JSON.parse(body) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests };
}

/** The logger's event lines: sequence and log id, in the order written. */
function loggedEvents(logger: SidecarProcess): { sequence: number; log_id: string }[] {
  return logger
    .stdout()
    .split('\n')
    .filter((line) => line.includes('"task event"'))
    .map((line) => JSON.parse(line) as { sequence: number; log_id: string });
}

const positions = (list: { sequence: number; log_id?: string }[]) => list.map((e) => `${e.log_id}:${e.sequence}`);
const range = (logId: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${logId}:${from + i}`);

test(
  'a backup, 50 writes, rig restore, 50 new writes under the logger, the NATS bridge, the webhook, metrics and the board: each new event once, nothing in JetStream overwritten',
  { timeout: 240_000 },
  async (t) => {
    const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
    if (!natsServer) return;
    if (!requireTool(t, CHROMIUM, 'apt-get install chromium')) return;
    const nats = await natsServerAt(natsServer);
    await nats.start();
    cleanups.push(() => nats.stop());
    const nc = await connectNats({ servers: nats.url });
    cleanups.push(() => nc.close());
    const dir = tempProject();
    let server: ServerProcess = await startServer(dir);
    cleanups.push(() => server.stop('SIGKILL'));
    const hook = await receiver();
    const checkpoint = path.join(tempDir('rigger-restore-'), 'logger.checkpoint');
    const address = server.address;
    const sidecars: Record<string, SidecarProcess> = {
      // --since 0: the first writes may come before its stream is open; the checkpoint wins once it is later.
      logger: startSidecar('logger', ['--address', address, '--checkpoint', checkpoint, '--since', '0']),
      bridge: startSidecar('nats-bridge', ['--address', address, '--nats', nats.url, '--since', '0', '--project', 'restored']),
      webhook: startSidecar('webhook', ['--address', address, '--url', hook.url, '--consumer', 'hooks', '--since', '0', '--retry-initial-ms', '100']),
      metrics: startSidecar('metrics', ['--address', address, '--listen', '127.0.0.1:0']),
      board: startSidecar('board', ['--address', address, '--http-port', '0']),
    };
    for (const sidecar of Object.values(sidecars)) cleanups.push(() => sidecar.stop('SIGKILL'));
    const browser: Browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(await boardUrl(sidecars.board!));
    const metrics = await metricsUrl(sidecars.metrics!);

    const write = async (n: number, prefix: string) => {
      const client = connect(server.address);
      try {
        for (let i = 0; i < n; i++) await call(client, 'AddTask', { title: `${prefix} ${i}` });
      } finally {
        client.close();
      }
    };
    const cards = () => page.evaluate(`[...document.querySelectorAll('#columns .card h4')].map((h) => h.textContent)`) as Promise<string[]>;
    const titles = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix} ${i}`);
    const sameTitles = async (expected: string[]) => JSON.stringify((await cards()).sort()) === JSON.stringify([...expected].sort());
    /** Every sidecar has everything up to `head` of log `logId`: the facts each wait ends on. */
    const allHave = async (logId: string, head: number, received: number, board: string[], snapshots: number) => {
      const at = `${logId}:${head}`;
      await waitLogged(sidecars.logger!, () => positions(loggedEvents(sidecars.logger!)).includes(at), WAIT_MS, `the logger wrote ${at}`);
      await waitLogged(sidecars.bridge!, async () => (await readStream(nc, 'RIGGER_TASKS')).length >= received, WAIT_MS, `${received} messages in JetStream`);
      await waitLogged(sidecars.webhook!, () => hook.requests.some((r) => `${r.body.log_id}:${r.body.sequence}` === at), WAIT_MS, `the webhook posted ${at}`);
      await waitLogged(
        sidecars.metrics!,
        async () => {
          const text = await scrape(metrics);
          const snapshotted = sidecars
            .metrics!.stderr()
            .split('\n')
            .filter((line) => line.includes('"snapshot complete"')).length;
          return (
            snapshotted === snapshots && sample(text, 'rigger_last_event_sequence') === head && sample(text, 'rigger_tasks{status="TODO"}') === board.length
          );
        },
        WAIT_MS,
        `metrics at ${head} with ${board.length} tasks, from snapshot ${snapshots}`,
      );
      await waitLogged(sidecars.board!, () => sameTitles(board), WAIT_MS, `the board showing ${board.length} tasks`);
    };

    await write(BEFORE_BACKUP, 'kept');
    const original = JSON.parse(rig(['log', 'show', '--json', '-C', dir]).stdout) as { log_id: string };
    await allHave(original.log_id, BEFORE_BACKUP, BEFORE_BACKUP, titles('kept', BEFORE_BACKUP), 1);
    const backup = path.join(tempDir('rigger-restore-'), 'backup.db');
    assert.equal(rig(['backup', backup, '-C', dir]).code, 0);
    await write(AFTER_BACKUP, 'lost');
    const lostHead = BEFORE_BACKUP + AFTER_BACKUP;
    await allHave(original.log_id, lostHead, lostHead, [...titles('kept', BEFORE_BACKUP), ...titles('lost', AFTER_BACKUP)], 1);

    // The restore, with every sidecar left running.
    assert.equal(await server.stop(), 0);
    const restored = rig(['restore', backup, '--json', '-C', dir]);
    assert.equal(restored.code, 0, restored.stderr);
    const report = JSON.parse(restored.stdout) as { log_id: string; parent_log_id: string; parted_after: number };
    assert.deepEqual([report.parent_log_id, report.parted_after], [original.log_id, BEFORE_BACKUP]);
    server = await restartServer(server);
    await write(AFTER_RESTORE, 'new');
    const newHead = BEFORE_BACKUP + AFTER_RESTORE;
    await allHave(report.log_id, newHead, lostHead + AFTER_RESTORE, [...titles('kept', BEFORE_BACKUP), ...titles('new', AFTER_RESTORE)], 2);

    const kept = range(original.log_id, 1, BEFORE_BACKUP);
    const lost = range(original.log_id, BEFORE_BACKUP + 1, lostHead);
    const added = range(report.log_id, BEFORE_BACKUP + 1, newHead);

    // The logger: every event once, the lost ones before the restore, the new ones after; and it said why.
    assert.deepEqual(positions(loggedEvents(sidecars.logger!)), [...kept, ...lost, ...added]);
    assert.match(
      sidecars.logger!.stderr(),
      new RegExp(`"from_log_id":"${original.log_id}","from_sequence":${lostHead},"log_id":"${report.log_id}","parted_after":${BEFORE_BACKUP}`),
    );
    assert.match(
      sidecars.logger!.stderr(),
      new RegExp(`position ${lostHead} of log ${original.log_id} is past where this server's log ${report.log_id} parted from it`),
    );

    // JetStream: the old log's messages all kept, the new log's added after them, each once.
    const stored = await readStream(nc, 'RIGGER_TASKS');
    assert.deepEqual(
      stored.map((s) => s.msgId),
      [...kept, ...lost, ...added].map((p) => `restored:${p}`),
      'Nats-Msg-Id = <project>:<log id>:<sequence>, nothing overwritten or dropped',
    );

    // The webhook: by webhook-id (what a receiver de-duplicates on), every event once, the new ones after the restore.
    // Deliveries run --concurrency 4 wide, in order per task only, so arrival order across tasks is free.
    const ids = [...new Set(hook.requests.map((r) => r.id))];
    const webhookId = (p: string) => `msg_hooks_${p.replace(':', '_')}`;
    assert.deepEqual([...ids].sort(), [...kept, ...lost, ...added].map(webhookId).sort());
    const oldIds = new Set([...kept, ...lost].map(webhookId));
    assert.equal(ids.slice(0, oldIds.size).filter((id) => oldIds.has(id)).length, oldIds.size, 'every old-log delivery before any new-log one');
    for (const request of hook.requests) assert.equal(request.id, `msg_hooks_${request.body.log_id}_${request.body.sequence}`);

    // The board and metrics (waited for above) took a new snapshot of the restored log: the kept and new tasks, not the lost ones.

    // The checkpoint is of the new log; the old position past the restore point is refused, never resumed.
    await waitFor(() => fs.readFileSync(checkpoint, 'utf8') === `${newHead} ${report.log_id}\n`, WAIT_MS, 'the checkpoint at the new head, of the new log');
    const refused = rig(['events', '--address', server.address, '--since', String(lostHead), '--since-log', original.log_id]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `^rig: position ${lostHead} of log ${original.log_id} is past where this server's log ${report.log_id} parted from it \\(after sequence ${BEFORE_BACKUP}`,
      ),
    );
    for (const [name, sidecar] of Object.entries(sidecars))
      assert.equal(sidecar.child.exitCode, null, `${name} is still running: ${sidecar.stderr().slice(-2000)}`);
  },
);
