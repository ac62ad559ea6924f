// Acceptance (issue 14): a filtered logger's checkpoint keeps up with the head through bookmarks.
// A real `rig grpc` keeping 100 events, the real logger process with `--types deleted`, 10,000
// events it does not match: its checkpoint file must be within one bookmark interval of the head,
// and a restart after compaction has passed its last matching event must resume (no OUT_OF_RANGE)
// with every DELETED event once, a deletion made while it was down included.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RiggerClient, StreamError } from '../../src/client/index';
import { rigAsync, startServer, tempDir, tempProject, waitFor } from '../support/processes';
import { startSidecar, type SidecarProcess } from './sidecar-support';

const INTERVAL_MS = 500;
const OTHER_EVENTS = 10_000;
const CONCURRENCY = 32;

const readNumber = (file: string): number | undefined => (fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').trim().split(' ')[0]) : undefined);

function loggedSequences(logger: SidecarProcess): number[] {
  return logger
    .stdout()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { sequence: number; type: string })
    .map((line) => (assert.equal(line.type, 'DELETED', 'only DELETED events are logged'), line.sequence));
}

async function deleteByCli(dir: string, id: string): Promise<void> {
  const result = await rigAsync(['task', 'delete', id, '-C', dir]);
  assert.equal(result.code, 0, result.stderr);
}

/** Whether the server no longer holds sequence 1 (compaction ran past it). */
async function compactedPast(client: RiggerClient, sequence: number): Promise<boolean> {
  return new Promise((resolve) => {
    const subscription = client.subscribe({ sinceSequence: sequence - 1, bookmarkIntervalMs: 0, backoff: { maxAttempts: 0 } }).subscribe({
      next: () => (subscription.unsubscribe(), resolve(false)),
      error: (error: unknown) => resolve(error instanceof StreamError && error.code === grpc.status.OUT_OF_RANGE),
    });
  });
}

test(
  'logger --types deleted: checkpoint within one bookmark interval of the head over 10,000 other events; restart after compaction resumes with nothing lost or repeated',
  { timeout: 110_000 },
  async (t) => {
    const dir = tempProject();
    const server = await startServer(dir, ['--retain-events', '100', '--compact-interval-ms', '200']);
    const client = new RiggerClient({ address: server.address, actor: 'filtered-checkpoint-test' });
    const checkpoint = path.join(tempDir(), 'deleted.checkpoint');
    const loggerArgs = [
      '--address',
      server.address,
      '--types',
      'deleted',
      '--since',
      '0',
      '--checkpoint',
      checkpoint,
      '--bookmark-interval-ms',
      String(INTERVAL_MS),
    ];
    const keep = await client.addTask({ title: 'deleted after the restart' }); // 1
    const early = await client.addTask({ title: 'deleted first' }); // 2
    const whileDown = await client.addTask({ title: 'deleted while the logger is down' }); // 3
    await client.deleteTask({ task_id: early.task!.id }); // 4: DELETED
    let logger = startSidecar('logger', loggerArgs);
    const runs: SidecarProcess[] = [logger];
    try {
      await waitFor(() => loggedSequences(logger).length === 1, 15_000, `the first DELETED line; stderr: ${logger.stderr()}`);
      assert.deepEqual(loggedSequences(logger), [4]);

      // 10,000 events the logger's filter skips, CONCURRENCY writes in flight; the checkpoint is sampled as they land.
      let written = 0;
      let acked = 0;
      /** ackedAt[k]: when the head became 4 + k + 1. */
      const ackedAt: number[] = [];
      /** Per sample: for how long the head had been past the checkpoint's sequence. */
      const lagsMs: number[] = [];
      const sampler = setInterval(() => {
        const at = readNumber(checkpoint);
        if (at === undefined || at >= 4 + acked) return void lagsMs.push(0);
        lagsMs.push(Date.now() - (ackedAt[at - 4] ?? Date.now()));
      }, 100);
      const startedAt = Date.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (written < OTHER_EVENTS) {
            written++;
            await client.addTask({ title: `other ${written}` });
            ackedAt[acked++] = Date.now();
          }
        }),
      );
      clearInterval(sampler);
      const head = 4 + OTHER_EVENTS;
      const writesDoneAt = Date.now();
      const maxLagMs = Math.max(...lagsMs);
      t.diagnostic(
        `${OTHER_EVENTS} events written in ${writesDoneAt - startedAt} ms; ${lagsMs.length} checkpoint samples while writing, the checkpoint at most ${maxLagMs} ms behind the head`,
      );
      // One interval, plus a checkpoint write (an fsync) and a busy 2-CPU machine's scheduling.
      assert.ok(lagsMs.length >= 5 && maxLagMs <= INTERVAL_MS + 1_000, `checkpoint lag while writing: at most ${maxLagMs} ms`);

      // Within one interval of the last write the checkpoint is at the head (generous slack for a busy machine).
      await waitFor(() => readNumber(checkpoint) === head, INTERVAL_MS + 3_000, `checkpoint at the head ${head}, have ${readNumber(checkpoint)}`);
      const caughtUpMs = Date.now() - writesDoneAt;
      t.diagnostic(`checkpoint reached the head ${head} ${caughtUpMs} ms after the last write (bookmark interval ${INTERVAL_MS} ms)`);

      // Compaction has removed the logger's last matching event (4): resuming from it would be OUT_OF_RANGE.
      await waitFor(() => compactedPast(client, 4), 15_000, 'compaction past sequence 4');

      assert.equal(await logger.stop('SIGTERM'), 0, logger.stderr());
      const stoppedAt = readNumber(checkpoint)!;
      assert.ok(stoppedAt >= head, `checkpoint after a clean stop: ${stoppedAt}`);
      await deleteByCli(dir, whileDown.task!.id!); // head + 1, while the logger is down
      logger = startSidecar('logger', loggerArgs);
      runs.push(logger);
      await waitFor(() => loggedSequences(logger).length === 1, 15_000, `the deletion made while down; stderr: ${logger.stderr()}`);
      await client.deleteTask({ task_id: keep.task!.id }); // head + 2
      await waitFor(() => loggedSequences(logger).length === 2, 15_000, 'the deletion after the restart');
      // A sentinel deletion (head + 4, after its CREATED): the logger writes in order, so a repeat would come before it.
      const sentinel = await client.addTask({ title: 'sentinel' });
      await client.deleteTask({ task_id: sentinel.task!.id! });
      await waitFor(() => loggedSequences(logger).includes(head + 4), 15_000, 'the sentinel deletion');
      assert.equal(logger.child.exitCode, null, `the restarted logger is still running; stderr: ${logger.stderr()}`);
      assert.doesNotMatch(logger.stderr(), /OUT_OF_RANGE/);
      assert.deepEqual([...loggedSequences(runs[0]!), ...loggedSequences(logger)], [4, head + 1, head + 2, head + 4], 'every DELETED event once, in order');
      assert.equal(await logger.stop('SIGTERM'), 0, logger.stderr());
      assert.equal(readNumber(checkpoint), head + 4);
    } finally {
      for (const run of runs) await run.stop('SIGKILL');
      await client.close();
      await server.stop();
    }
  },
);
