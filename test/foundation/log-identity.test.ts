// The log identity through its real interfaces: `rig init` gives the log one, `rig restore` and
// `rig log new-identity` start new ones that record where they part, the server sends it in stream
// headers, bookmarks, events and GetLog, and a position of another identity resumes exactly when it
// is at or before the parting point and is refused with FAILED_PRECONDITION otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RiggerClient, StreamError, type LogRestore, type SubscribeOptions } from '../../src/client/index';
import { LEGACY_LOG_ID, LogLineage } from '../../src/model/log-lineage';
import { RiggerError } from '../../src/model/errors';
import { LOG_ID_HEADER, PARTED_AFTER_TRAILER } from '../../src/protocol/metadata';
import { call, collectEvents, connect } from '../support/client';
import { writeAtSchema } from '../support/old-schema';
import { rig, startServer, tempDir, tempProject } from '../support/processes';

const LOG_ID = /^[0-9a-f]{16}$/;

interface LineageJson {
  log_id: string;
  newest_sequence: number;
  lineage: { log_id: string; parent_log_id: string | null; parted_after: number | null; reason: string }[];
}

function logShow(dir: string): LineageJson {
  const shown = rig(['log', 'show', '--json', '-C', dir]);
  assert.equal(shown.code, 0, shown.stderr);
  return JSON.parse(shown.stdout) as LineageJson;
}

function addTasks(dir: string, n: number, prefix: string): void {
  for (let i = 0; i < n; i++) assert.equal(rig(['task', 'add', `${prefix} ${i}`, '-C', dir]).code, 0);
}

test('LogLineage.resolve: the same place up to the parting point, refused past it and for a log it does not descend from', () => {
  const lineage = new LogLineage([
    { logId: 'aaaaaaaaaaaaaaaa', reason: 'upgrade', createdAt: 't0' },
    { logId: 'bbbbbbbbbbbbbbbb', parentLogId: 'aaaaaaaaaaaaaaaa', partedAfter: 105, reason: 'restore', createdAt: 't1' },
    { logId: 'cccccccccccccccc', parentLogId: 'bbbbbbbbbbbbbbbb', partedAfter: 140, reason: 'manual', createdAt: 't2' },
  ]);
  assert.equal(lineage.resolve(undefined, 500), 500, 'no identity: the current log, as clients before identities mean');
  assert.equal(lineage.resolve('cccccccccccccccc', 500), 500);
  assert.equal(lineage.resolve('bbbbbbbbbbbbbbbb', 140), 140);
  assert.equal(lineage.resolve('aaaaaaaaaaaaaaaa', 105), 105, 'the grandparent up to the nearest parting point');
  assert.equal(lineage.resolve(LEGACY_LOG_ID, 105), 105, 'a bare checkpoint is of the first identity');
  const refusal = (logId: string, sequence: number) => {
    try {
      lineage.resolve(logId, sequence);
    } catch (error) {
      return error as RiggerError;
    }
    assert.fail(`(${logId}, ${sequence}) resolved`);
  };
  const past = refusal('aaaaaaaaaaaaaaaa', 106);
  assert.equal(past.kind, 'conflict');
  assert.deepEqual(past.details, { log_id: 'cccccccccccccccc', parted_after: '105' });
  assert.match(past.message, /position 106 of log aaaaaaaaaaaaaaaa is past where this server's log cccccccccccccccc parted from it \(after sequence 105/);
  assert.deepEqual(refusal('bbbbbbbbbbbbbbbb', 141).details, { log_id: 'cccccccccccccccc', parted_after: '140' });
  assert.deepEqual(refusal(LEGACY_LOG_ID, 106).details, { log_id: 'cccccccccccccccc', parted_after: '105' });
  const foreign = refusal('dddddddddddddddd', 1);
  assert.deepEqual(foreign.details, { log_id: 'cccccccccccccccc' }, 'no parting point to go on from');
  assert.match(foreign.message, /does not descend from/);
});

test(
  "rig restore: a new identity that descends from the backup's, the old database moved aside, positions past the backup refused over gRPC",
  { timeout: 120_000 },
  async () => {
    const dir = tempProject();
    addTasks(dir, 3, 'before backup');
    const original = logShow(dir);
    assert.match(original.log_id, LOG_ID);
    assert.deepEqual(
      original.lineage.map((i) => i.reason),
      ['init'],
    );
    const backup = path.join(tempDir('rigger-restore-'), 'b.db');
    assert.equal(rig(['backup', backup, '-C', dir]).code, 0);
    addTasks(dir, 2, 'lost in the restore'); // sequences 4 and 5 of the original log

    // Refused while a server has the file open, with one line and nothing changed.
    let server = await startServer(dir);
    const busy = rig(['restore', backup, '-C', dir]);
    assert.equal(busy.code, 1);
    assert.match(
      busy.stderr,
      /^rig: .*tasks\.db is open in another process \(a running `rig grpc`, or a `rig task` command\); stop it, then restore again; nothing was changed\n$/,
    );
    const busyNew = rig(['log', 'new-identity', '-C', dir]);
    assert.equal(busyNew.code, 1);
    assert.match(busyNew.stderr, /is open in another process/);
    assert.equal(logShow(dir).log_id, original.log_id);
    assert.equal(await server.stop(), 0);

    const restored = rig(['restore', backup, '--json', '-C', dir]);
    assert.equal(restored.code, 0, restored.stderr);
    const report = JSON.parse(restored.stdout) as { log_id: string; parent_log_id: string; parted_after: number; last_sequence: number; moved_aside: string };
    assert.equal(report.parent_log_id, original.log_id);
    assert.equal(report.parted_after, 3);
    assert.equal(report.last_sequence, 3);
    assert.match(report.log_id, LOG_ID);
    assert.deepEqual(
      fs.readdirSync(report.moved_aside).filter((f) => f === 'tasks.db'),
      ['tasks.db'],
      'the database that was there is kept',
    );
    assert.equal(fs.statSync(path.join(dir, '.rigger', 'tasks.db')).mode & 0o777, 0o600);
    const after = logShow(dir);
    assert.equal(after.log_id, report.log_id);
    assert.deepEqual(
      after.lineage.map((i) => [i.reason, i.parent_log_id, i.parted_after]),
      [
        ['init', null, null],
        ['restore', original.log_id, 3],
      ],
    );
    assert.deepEqual(
      fs.readdirSync(path.join(dir, '.rigger')).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file left',
    );

    server = await startServer(dir);
    const client = connect(server.address);
    try {
      // The new log's events 4 and 5 are other events than the lost ones.
      for (const title of ['new 4', 'new 5']) await call(client, 'AddTask', { title });
      const info = await call(client, 'GetLog', {});
      assert.equal(info.log_id, report.log_id);
      assert.equal(Number(info.newest_sequence), 5);
      assert.deepEqual(
        info.lineage.map((i: { log_id: string }) => i.log_id),
        [original.log_id, report.log_id],
      );

      // At the parting point: resumes exactly, with the new identity in the header and on each new event.
      const headerStream = client.SubscribeToTaskEvents({ since_sequence: 3, since_log_id: original.log_id });
      headerStream.on('error', () => undefined);
      const headers = await new Promise<grpc.Metadata>((resolve) => headerStream.once('metadata', resolve));
      headerStream.cancel();
      assert.equal(headers.get(LOG_ID_HEADER)[0], report.log_id);
      const exact = collectEvents(client, { since_sequence: 3, since_log_id: original.log_id });
      const events = await exact.waitForCount(2, 10_000);
      exact.cancel();
      assert.deepEqual(
        events.map((e) => [Number(e.sequence), e.task.title, e.log_id]),
        [
          [4, 'new 4', report.log_id],
          [5, 'new 5', report.log_id],
        ],
      );

      // Past it: FAILED_PRECONDITION naming both logs, with the trailers a client goes on from.
      const past = collectEvents(client, { since_sequence: 5, since_log_id: original.log_id });
      const error = await past.ended;
      assert.equal(error?.code, grpc.status.FAILED_PRECONDITION);
      assert.match(
        error!.details,
        new RegExp(`position 5 of log ${original.log_id} is past where this server's log ${report.log_id} parted from it \\(after sequence 3`),
      );
      assert.equal(error!.metadata.get(LOG_ID_HEADER)[0], report.log_id);
      assert.equal(error!.metadata.get(PARTED_AFTER_TRAILER)[0], '3');

      // A log this one does not descend from, and a malformed id.
      const foreign = await collectEvents(client, { since_sequence: 1, since_log_id: '0123456789abcdef' }).ended;
      assert.equal(foreign?.code, grpc.status.FAILED_PRECONDITION);
      assert.match(foreign!.details, /does not descend from/);
      const malformed = await collectEvents(client, { since_sequence: 1, since_log_id: 'not-a-log' }).ended;
      assert.equal(malformed?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(malformed!.details, /since_log_id "not-a-log" is not a log id/);
      const alone = await collectEvents(client, { since_log_id: original.log_id }).ended;
      assert.equal(alone?.code, grpc.status.INVALID_ARGUMENT);

      // A bookmark carries the identity; rig events prints it and refuses the old position with one line.
      const bookmarked = client.TaskEventStream();
      const bookmark = new Promise<{ sequence: string; log_id?: string }>((resolve) =>
        bookmarked.on('data', (e: { event_type: string | number; sequence: string; log_id?: string }) => {
          if (e.event_type === 'TASK_EVENT_TYPE_BOOKMARK' || e.event_type === 8) resolve(e);
        }),
      );
      bookmarked.on('error', () => undefined);
      bookmarked.write({ subscribe: {} });
      bookmarked.write({ bookmark: {} });
      const mark = await bookmark;
      bookmarked.cancel();
      assert.equal(mark.log_id, report.log_id);
      assert.equal(Number(mark.sequence), 5);
      const printed = rig(['events', '--address', server.address, '--since', '5', '--since-log', original.log_id]);
      assert.equal(printed.code, 1);
      assert.match(printed.stderr, /^rig: position 5 of log [0-9a-f]{16} is past where/);
      assert.equal(printed.stderr.split('\n').length, 2, 'one line');
    } finally {
      client.close();
      assert.equal(await server.stop(), 0);
    }

    // rig log new-identity (server stopped): the old identity's positions up to now still resume.
    const manual = rig(['log', 'new-identity', '--json', '-C', dir]);
    assert.equal(manual.code, 0, manual.stderr);
    const chain = JSON.parse(manual.stdout) as LineageJson;
    assert.deepEqual(
      chain.lineage.map((i) => [i.reason, i.parted_after]),
      [
        ['init', null],
        ['restore', 3],
        ['manual', 5],
      ],
    );
    server = await startServer(dir);
    const again = connect(server.address);
    try {
      const resumed = collectEvents(again, { since_sequence: 4, since_log_id: report.log_id });
      const [fifth] = await resumed.waitForCount(1, 10_000);
      resumed.cancel();
      assert.equal(Number(fifth!.sequence), 5);
      assert.equal(fifth!.log_id, report.log_id, 'an event keeps the identity it was written under');
    } finally {
      again.close();
      await server.stop();
    }
  },
);

test('rig restore refuses a missing backup, a foreign file and the database itself with one line, and changes nothing', () => {
  const dir = tempProject();
  addTasks(dir, 1, 'keep');
  const before = logShow(dir);
  const missing = rig(['restore', path.join(dir, 'nope.db'), '-C', dir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^rig: backup .*nope\.db does not exist; nothing was changed\n$/);
  const foreign = path.join(tempDir('rigger-restore-'), 'foreign.db');
  fs.writeFileSync(foreign, 'not a database at all, just text that is long enough to be read as a header');
  const refused = rig(['restore', foreign, '-C', dir]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.split('\n').length, 2, `one line: ${refused.stderr}`);
  const itself = rig(['restore', path.join(dir, '.rigger', 'tasks.db'), '-C', dir]);
  assert.equal(itself.code, 1);
  assert.match(itself.stderr, /is the project's database itself; name a backup file/);
  assert.deepEqual(logShow(dir), before, 'the database is as it was');
  assert.deepEqual(
    fs.readdirSync(path.join(dir, '.rigger')).filter((f) => /before-restore|\.tmp$|-wal$|-shm$/.test(f)),
    [],
    'nothing moved aside, no temporary file',
  );
});

test(
  'a checkpoint holding a bare sequence (from before identities) resumes against the first identity; past a restore it is refused, or goes on from the parting point when asked',
  { timeout: 120_000 },
  async () => {
    const dir = tempProject();
    addTasks(dir, 3, 'kept');
    const backup = path.join(tempDir('rigger-restore-'), 'b.db');
    assert.equal(rig(['backup', backup, '-C', dir]).code, 0);
    addTasks(dir, 2, 'lost');
    assert.equal(rig(['restore', backup, '-C', dir]).code, 0);
    addTasks(dir, 2, 'new'); // 4 and 5 of the restored log
    const { log_id: logId, lineage } = logShow(dir);
    const firstLogId = lineage[0]!.log_id;
    const server = await startServer(dir);
    let client = new RiggerClient({ address: server.address });
    try {
      const checkpoints = tempDir('rigger-checkpoints-');
      const read = async (file: string, count: number, options: Partial<SubscribeOptions> = {}) => {
        const seen: string[] = [];
        for await (const event of client.events({ checkpoint: file, ...options })) {
          seen.push(`${event.sequence} ${event.task.title} ${event.log_id === logId ? 'new log' : 'first log'}`);
          if (seen.length === count) break;
        }
        return seen;
      };

      // Written by an older sidecar at 2: the first log's 2, which the restored log shares.
      const old = path.join(checkpoints, 'old.checkpoint');
      fs.writeFileSync(old, '2\n');
      assert.deepEqual(await read(old, 3), ['3 kept 2 first log', '4 new 0 new log', '5 new 1 new log']);
      await client.close(); // flushes the checkpoint, now a position of the new log
      assert.match(fs.readFileSync(old, 'utf8'), new RegExp(`^4 ${logId}\\n$`), 'the event the loop broke out on is not handled');
      client = new RiggerClient({ address: server.address });

      // Written at 5 of the first log, past the restore point (3): refused by default, naming both logs.
      const ahead = path.join(checkpoints, 'ahead.checkpoint');
      fs.writeFileSync(ahead, '5\n');
      await assert.rejects(read(ahead, 1), (error: unknown) => {
        assert.ok(error instanceof StreamError);
        assert.equal(error.code, grpc.status.FAILED_PRECONDITION);
        assert.match(error.details, new RegExp(`position 5 of log ${firstLogId} is past where this server's log ${logId} parted from it \\(after sequence 3`));
        return true;
      });
      assert.equal(fs.readFileSync(ahead, 'utf8'), '5\n', 'left for the caller to decide');

      // ...or, with afterRestore 'continue', from the parting point: every event of the new log after it, once.
      const restores: LogRestore[] = [];
      assert.deepEqual(await read(ahead, 2, { afterRestore: 'continue', onRestore: (r) => restores.push(r) }), ['4 new 0 new log', '5 new 1 new log']);
      assert.deepEqual(
        restores.map((r) => [r.position.sequence, r.logId, r.partedAfter]),
        [[5, logId, 3]],
      );
    } finally {
      await client.close();
      await server.stop();
    }
  },
);

test('a database from before identities is given one at its first open, marked upgrade', () => {
  const dir = tempProject();
  addTasks(dir, 2, 'old');
  const file = path.join(dir, '.rigger', 'tasks.db');
  const source = path.join(tempDir('rigger-upgrade-'), 'source.db');
  fs.copyFileSync(file, source);
  writeAtSchema(source, file, 8);
  const shown = logShow(dir);
  assert.match(shown.log_id, LOG_ID);
  assert.equal(shown.newest_sequence, 2);
  assert.deepEqual(
    shown.lineage.map((i) => i.reason),
    ['upgrade'],
  );
});
