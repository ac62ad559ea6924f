// Acceptance (issue 14): a subscriber whose connection is silently black-holed notices by itself.
// The real `rig grpc` is paused with SIGSTOP: its TCP connection stays open (the kernel still
// accepts bytes) but nothing comes back, which no error and no FIN tells the client. Changes land
// in the database meanwhile (the CLI writes it directly). The typed client must call the stream
// dead after 2-3 silent bookmark intervals (onStatus: disconnected, reason dead-stream), keep
// trying, be streaming again within 3 intervals of SIGCONT, and end with every event once, holding no
// stream on the server for an attempt it gave up on while the server was paused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RiggerClient, type StreamStatus, type TaskEvent } from '../../src/client/index';
import { addTaskByCli, assertExactlyOnceInOrder } from '../sidecars/sidecar-support';
import { collectEvents, connect } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';

const INTERVAL_MS = 1000;

/** Whether the server's debug log has a TRUNCATE checkpoint that emptied the WAL (it logs it after the checkpoint returns). */
function idleTruncateLogged(stderr: string): boolean {
  return stderr.split('\n').some((line) => line.includes('"msg":"WAL checkpoint"') && line.includes('"mode":"TRUNCATE"') && line.includes('"busy":false'));
}
const PAUSED_MS = 7000;

test(
  'SIGSTOP of the server: the typed client calls the stream dead within 3 intervals and streams again within 3 intervals of SIGCONT, nothing lost',
  { timeout: 90_000 },
  async (t) => {
    const dir = tempProject();
    // Two slots: the client's stream and the probe below. A stream left behind by an attempt the client gave up on would take one.
    // Debug logs: the moment to stop the server comes from its checkpoint line (below).
    const server = await startServer(dir, ['--max-subscribers', '2'], { RIGGER_LOG_LEVEL: 'debug' });
    const client = new RiggerClient({ address: server.address, actor: 'dead-stream-test' });
    const events: TaskEvent[] = [];
    const statuses: (StreamStatus & { at: number })[] = [];
    const bookmarks: { sequence: number; at: number }[] = [];
    let failure: unknown;
    const subscription = client
      .subscribe({
        sinceSequence: 0,
        bookmarkIntervalMs: INTERVAL_MS,
        onStatus: (status) => statuses.push({ ...status, at: Date.now() }),
        onBookmark: (sequence) => bookmarks.push({ sequence, at: Date.now() }),
      })
      .subscribe({ next: (event) => events.push(event), error: (error) => (failure = error) });
    let stopped = false;
    try {
      await client.addTask({ title: 'before' }); // 1
      await waitFor(() => events.length === 1 && bookmarks.length > 0, 10_000, 'the first event and a bookmark');
      assert.ok(
        events.every((e) => e.task !== undefined),
        'only task events reach next()',
      );

      // Stopped inside a checkpoint, the server would hold the write lock the CLI writes below need. Its
      // idle TRUNCATE empties the WAL a second after the last write and is logged once the lock is let go;
      // with the WAL empty no other checkpoint takes that lock until the server writes again.
      await waitFor(() => idleTruncateLogged(server.stderr()), 10_000, 'the idle TRUNCATE checkpoint after the first write');
      server.child.kill('SIGSTOP');
      stopped = true;
      const stoppedAt = Date.now();
      await addTaskByCli(dir, 'while paused 1'); // 2
      await addTaskByCli(dir, 'while paused 2'); // 3
      await waitFor(() => statuses.some((s) => s.state === 'disconnected'), INTERVAL_MS * 4, 'the dead stream noticed');
      const dead = statuses.find((s) => s.state === 'disconnected')!;
      assert.ok(dead.state === 'disconnected' && dead.reason === 'dead-stream', `reported as a dead stream: ${JSON.stringify(dead)}`);
      const noticedMs = dead.at - stoppedAt;
      t.diagnostic(`dead stream noticed ${noticedMs} ms after SIGSTOP (${dead.error.message})`);
      // The last message came at most one interval before the stop; 2.5 intervals of silence after it.
      assert.ok(noticedMs >= INTERVAL_MS && noticedMs <= 3 * INTERVAL_MS + 500, `noticed ${noticedMs} ms after SIGSTOP`);

      await new Promise((r) => setTimeout(r, stoppedAt + PAUSED_MS - Date.now()));
      const attemptsWhilePaused = statuses.filter((s) => s.state === 'disconnected').length;
      server.child.kill('SIGCONT');
      stopped = false;
      const continuedAt = Date.now();
      await waitFor(() => statuses.some((s) => s.state === 'connected' && s.at >= continuedAt), 3 * INTERVAL_MS + 2_000, 'streaming again');
      const connectedMs = statuses.find((s) => s.state === 'connected' && s.at >= continuedAt)!.at - continuedAt;
      await waitFor(() => events.length >= 3, 3 * INTERVAL_MS + 2_000, 'the events written while paused');
      const caughtUpMs = Date.now() - continuedAt;
      t.diagnostic(
        `${attemptsWhilePaused} dead attempts while paused ${PAUSED_MS} ms; streaming ${connectedMs} ms after SIGCONT, the 2 events written meanwhile in by ${caughtUpMs} ms`,
      );
      assert.ok(connectedMs <= 3 * INTERVAL_MS, `streaming again ${connectedMs} ms after SIGCONT (3 intervals: ${3 * INTERVAL_MS} ms)`);

      await client.addTask({ title: 'after' }); // 4
      await waitFor(() => events.length >= 4, 10_000, 'the event after');
      // A bookmark at 4 after it: a repeat the stream sent before it has arrived.
      const fourthAt = Date.now();
      await waitFor(() => bookmarks.some((b) => b.sequence >= 4 && b.at >= fourthAt), 5 * INTERVAL_MS, 'a bookmark at 4');
      assert.equal(failure, undefined);
      assertExactlyOnceInOrder(
        events.map((e) => e.sequence),
        4,
      );
      assert.deepEqual(
        events.map((e) => e.task.title),
        ['before', 'while paused 1', 'while paused 2', 'after'],
      );
      const last = statuses.at(-1)!;
      assert.equal(last.state, 'connected', 'no further reconnects once the server runs again');
      const probe = collectEvents(connect(server.address), {});
      const ended = await Promise.race([probe.ready.then(() => undefined), probe.ended]);
      assert.equal(ended, undefined, `a second subscriber is refused (${ended?.message}): a stream of an abandoned attempt is still held`);
      probe.cancel();
    } finally {
      if (stopped) server.child.kill('SIGCONT');
      subscription.unsubscribe();
      await client.close();
      await server.stop();
    }
  },
);
