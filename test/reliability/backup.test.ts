// `rig backup` of a database a running server is writing: the copy is one point in time (the
// original log's prefix up to its head, every task as of that head), it restores to a project
// whose server resumes a subscriber with no gap, and its refusals are one line with exit code 1.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { taskFromRow, type TaskRow } from '../../src/store/rows';
import { call, collectEvents, connect } from '../support/client';
import { rig, rigAsync, startServer, tempDir, tempProject } from '../support/processes';
import { assertConsistent } from './db-check';
import type { BackupReport } from '../../src/store/backup';

const WRITES = 1000;
const WRITERS = 4;
/** The backup starts after this many writes, so that most of them run while it copies. */
const BACKUP_AFTER = 100;

/** What `rig backup --json` prints. */
type Report = BackupReport;

interface EventRecord {
  sequence: number;
  event_id: string;
  task_id: string;
  task: string;
}

function readEvents(file: string): EventRecord[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT sequence, event_id, task_id, task FROM events ORDER BY sequence').all() as EventRecord[];
  } finally {
    db.close();
  }
}

function readTasks(file: string): Map<string, unknown> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT * FROM tasks').all() as TaskRow[];
    return new Map(rows.map((row) => [row.id, taskFromRow(row)]));
  } finally {
    db.close();
  }
}

/** Every task as of `head`: the task in its newest event at or below it. */
function tasksAsOf(events: EventRecord[], head: number): Map<string, unknown> {
  const tasks = new Map<string, unknown>();
  for (const event of events) if (event.sequence <= head) tasks.set(event.task_id, JSON.parse(event.task));
  return tasks;
}

test(
  `a backup taken during ${WRITES} writes restores to a consistent database whose server resumes a subscriber with no gap`,
  { timeout: 180_000 },
  async (t) => {
    const dir = tempProject();
    const server = await startServer(dir);
    const client = connect(server.address);
    const backupFile = path.join(tempDir('rigger-backup-'), 'tasks-backup.db');
    let report: Report;
    let headAtBackupStart = 0;
    let finalHead = 0;
    try {
      // Writers: AddTask, and UpdateTask of the writer's own tasks, exactly WRITES calls in all.
      let issued = 0;
      let done = 0;
      let backupRun: ReturnType<typeof rigAsync> | undefined;
      const writer = async (w: number) => {
        const own: string[] = [];
        while (issued < WRITES) {
          const n = issued++;
          if (own.length === 0 || n % 3 === 0) {
            const { task } = await call(client, 'AddTask', { title: `task ${w}.${n}`, assignee: n % 2 ? 'Alice' : 'Bob' });
            own.push(task.id);
          } else {
            await call(client, 'UpdateTask', { task_id: own[n % own.length], status: 1 + (n % 4), assignee: `writer-${w}-${n}` });
          }
          done++;
          if (done === BACKUP_AFTER) {
            headAtBackupStart = done; // every acknowledged write logged at least one event: the head is at least this
            backupRun = rigAsync(['backup', backupFile, '--json', '-C', dir], { timeoutMs: 60_000 });
          }
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      assert.ok(backupRun, 'the backup was started');
      const result = await backupRun;
      assert.equal(result.code, 0, `rig backup failed: ${result.stderr}`);
      assert.equal(result.stderr, '');
      report = JSON.parse(result.stdout) as Report;
      assert.equal(report.integrity, 'ok');
      assert.equal(report.file, backupFile);
      assert.ok(
        report.last_sequence >= headAtBackupStart,
        `the backup's head ${report.last_sequence} is below ${headAtBackupStart}, acknowledged before it started`,
      );
      assert.equal(report.bytes, fs.statSync(backupFile).size);
      assert.equal(fs.statSync(backupFile).mode & 0o777, 0o600, 'the backup is private');
      assert.deepEqual(fs.readdirSync(path.dirname(backupFile)), ['tasks-backup.db'], 'no temporary or journal file left beside it');
    } finally {
      client.close();
      assert.equal(await server.stop(), 0);
    }

    // The copy is the original log's prefix up to its head, and every task as of that head.
    const original = readEvents(path.join(dir, '.rigger', 'tasks.db'));
    assert.ok(original.length >= WRITES, `${original.length} events for ${WRITES} writes`);
    finalHead = original[original.length - 1]!.sequence;
    t.diagnostic(`backup head ${report.last_sequence} of ${finalHead} events (${headAtBackupStart} acknowledged when it started), ${report.bytes} bytes`);
    assert.ok(report.last_sequence < finalHead, `the backup's head ${report.last_sequence} is the final head: it did not run during the writes`);
    const copied = readEvents(backupFile);
    assert.equal(copied.length, report.events);
    assert.deepEqual(
      copied,
      original.filter((e) => e.sequence <= report.last_sequence),
      'the backup holds exactly the log up to its head',
    );
    assert.deepEqual(readTasks(backupFile), tasksAsOf(original, report.last_sequence), 'every task as of the head');
    assert.equal(readTasks(backupFile).size, report.tasks);

    // Restore (docs/operations.md#backups): into a fresh project, no -wal or -shm beside it.
    const restored = tempProject();
    const restoredDb = path.join(restored, '.rigger', 'tasks.db');
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${restoredDb}${suffix}`, { force: true });
    fs.copyFileSync(backupFile, restoredDb);
    fs.chmodSync(restoredDb, 0o600);
    const again = await startServer(restored);
    const restoredClient = connect(again.address);
    try {
      const check = assertConsistent(restoredDb, assert);
      assert.equal(check.tasks, report.tasks);
      const log = readEvents(restoredDb);
      const head = log[log.length - 1]!.sequence;
      assert.equal(head, report.last_sequence);
      assert.deepEqual(
        log.map((e) => e.sequence),
        Array.from({ length: log.length }, (_, i) => log[0]!.sequence + i),
        'the log has no gap',
      );
      for (const [id, task] of readTasks(restoredDb)) {
        const newest = log.filter((e) => e.task_id === id).pop()!;
        assert.deepEqual(task, JSON.parse(newest.task), `task ${id} equals the task in its newest event`);
      }

      // A subscriber resumes below the head: every later event, in order, then live ones.
      const since = head - 50;
      const subscriber = collectEvents(restoredClient, { since_sequence: since });
      await subscriber.ready;
      await subscriber.waitForCount(head - since, 20_000);
      for (let i = 0; i < 5; i++) await call(restoredClient, 'AddTask', { title: `after restore ${i}` });
      const received = await subscriber.waitForCount(head - since + 5, 20_000);
      subscriber.cancel();
      assert.deepEqual(
        received.map((e) => Number(e.sequence)),
        Array.from({ length: head - since + 5 }, (_, i) => since + 1 + i),
        'no gap, no repeat',
      );
      assert.deepEqual(
        received.slice(0, head - since).map((e) => e.event_id),
        log.slice(-(head - since)).map((e) => e.event_id),
        'the restored events',
      );

      // A checkpoint from after the backup point (the original's head) is refused, naming the restore.
      const ahead = collectEvents(restoredClient, { since_sequence: finalHead });
      const error = await ahead.ended;
      assert.equal(error?.code, grpc.status.OUT_OF_RANGE);
      assert.match(error!.details, new RegExp(`since_sequence ${finalHead} is ahead of the newest event \\(${head + 5}\\).*restored from a backup`));
    } finally {
      restoredClient.close();
      await again.stop();
    }
  },
);

test('rig backup refuses an existing file and a missing directory with one line and exit code 1; --json parses', async () => {
  const dir = tempProject();
  assert.equal(rig(['task', 'add', 'one', '-C', dir]).code, 0);
  const out = tempDir('rigger-backup-');
  const existing = path.join(out, 'exists.db');
  fs.writeFileSync(existing, 'keep me');

  const refused = rig(['backup', existing, '-C', dir]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.equal(refused.stderr, `rig: ${existing} already exists; nothing was written (pass --force to replace it)\n`);
  assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me', 'the existing file is untouched');

  const missingDir = path.join(out, 'no-such-dir', 'b.db');
  const noDir = rig(['backup', missingDir, '-C', dir]);
  assert.equal(noDir.code, 1);
  assert.equal(noDir.stderr, `rig: cannot back up to ${missingDir}: directory ${path.dirname(missingDir)} does not exist\n`);

  const live = rig(['backup', path.join(dir, '.rigger', 'tasks.db'), '--force', '-C', dir]);
  assert.equal(live.code, 1);
  assert.match(live.stderr, /^rig: cannot back up to .*tasks\.db: it is the database being backed up; name another file\n$/);

  const forced = rig(['backup', existing, '--force', '--json', '-C', dir]);
  assert.equal(forced.code, 0, forced.stderr);
  const report = JSON.parse(forced.stdout) as Report;
  assert.deepEqual(
    { tasks: report.tasks, events: report.events, last_sequence: report.last_sequence, oldest_sequence: report.oldest_sequence, integrity: report.integrity },
    { tasks: 1, events: 1, last_sequence: 1, oldest_sequence: 1, integrity: 'ok' },
  );
  assert.equal(report.bytes, fs.statSync(existing).size);
  assert.deepEqual(fs.readdirSync(out), ['exists.db'], 'no temporary file left');

  // Commits still in the WAL are in the backup (a copy of tasks.db alone would miss them): another
  // connection left open keeps rig task's last close from checkpointing them into tasks.db.
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const holder = new Database(dbFile, { fileMustExist: true });
  try {
    holder.prepare('SELECT count(*) FROM tasks').get();
    for (const title of ['two', 'three']) assert.equal(rig(['task', 'add', title, '-C', dir]).code, 0);
    assert.ok(fs.statSync(`${dbFile}-wal`).size > 0, 'the new tasks are in the WAL');
    const withWal = rig(['backup', path.join(out, 'wal.db'), '--json', '-C', dir]);
    assert.equal(withWal.code, 0, withWal.stderr);
    assert.deepEqual(
      readEvents(path.join(out, 'wal.db')).map((e) => e.sequence),
      [1, 2, 3],
    );
  } finally {
    holder.close();
  }

  // A relative FILE is relative to -C, as every path there is; the human line names it.
  const plain = rig(['backup', 'relative.db', '-C', dir]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^backed up .*tasks\.db to .*relative\.db: 3 tasks, 3 events, last sequence 3, \d+ bytes, integrity_check ok \(\d+ ms\)\n$/);
  assert.ok(fs.existsSync(path.join(dir, 'relative.db')));
});
