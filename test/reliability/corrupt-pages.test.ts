// A rigger database whose data pages were overwritten (8 KB of random bytes at 20%, 50% and 80% of
// a file of a few MB, written by the real store) after it was closed cleanly: `rig grpc` refuses it
// at start (its quick_check) with one line naming the recovery command, exit 1, and the file stays
// byte-identical; so it does after a `rig task` wrote beside the corrupt pages. `rig task` runs no
// quick_check: a corrupt page it reads is refused with the same one line. The command named
// recovers the readable rows into a file rigger serves.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { requireTool, rig, runAsync, tempDir, tempProject, type RunResult } from '../support/processes';

const TASKS = 4000;

function digest(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function siblings(file: string): string[] {
  return fs
    .readdirSync(path.dirname(file))
    .filter((name) => name.startsWith(path.basename(file)))
    .sort();
}

/** A project whose tasks.db holds TASKS tasks (a few MB), written by the store, closed (no WAL left). */
function bigProject(): { dir: string; file: string } {
  const dir = tempProject();
  const file = path.join(dir, '.rigger', 'tasks.db');
  const store = openStore(file, taskEventEncoder);
  for (let batch = 0; batch < TASKS / 500; batch++) {
    store.tasks.write('test', (m) => {
      for (let i = 0; i < 500; i++) {
        m.createTask({ title: `task ${batch * 500 + i}`, assignee: `person-${i % 7}`, reasoning: 'r'.repeat(300 + (i % 200)) });
      }
    });
  }
  store.close();
  return { dir, file };
}

/** Overwrites 8 KB (two 4 KB pages, page-aligned) at `fraction` of the file with random bytes. */
function corruptAt(file: string, fraction: number): number {
  const size = fs.statSync(file).size;
  const offset = Math.floor((size * fraction) / 4096) * 4096;
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, randomBytes(8192), 0, 8192, offset);
  } finally {
    fs.closeSync(fd);
  }
  return offset;
}

function refusedAsCorrupt(result: RunResult, what: string, by: RegExp): void {
  assert.equal(result.code, 1, `${what}: exit ${result.code}; stdout: ${result.stdout.slice(0, 300)}; stderr: ${result.stderr.slice(0, 300)}`);
  assert.match(result.stderr, /^rig: [^\n]+\n$/, `${what}: not one line: ${JSON.stringify(result.stderr.slice(0, 500))}`);
  assert.match(result.stderr, by, what);
  assert.match(
    result.stderr,
    /sqlite3 \S+tasks\.db "\.recover" \| sqlite3 \S+tasks-recovered\.db \(where \.recover fails, the \.dump steps of docs\/operations\.md#a-corrupt-database\)/,
    what,
  );
  assert.doesNotMatch(result.stdout, /ready: listening/, what);
}

test('data pages overwritten at 20%, 50% and 80% after a clean close: rig grpc refuses to start, one line naming the recovery command, the file unchanged; so after a rig task wrote it', async (t) => {
  const base = bigProject();
  const size = fs.statSync(base.file).size;
  assert.ok(size > 3 * 1024 * 1024, `the database is only ${size} bytes`);
  assert.deepEqual(siblings(base.file), ['tasks.db'], 'the store left a WAL behind');
  assert.ok(fs.existsSync(path.join(base.dir, '.rigger', 'tasks.clean-stop')), 'the clean close left no clean-stop record');
  const pristine = fs.readFileSync(base.file);
  const record = fs.readFileSync(path.join(base.dir, '.rigger', 'tasks.clean-stop'));
  const grpcArgs = ['grpc', '-C', base.dir, '--port', '0', '--host', '127.0.0.1'];

  for (const fraction of [0.2, 0.5, 0.8]) {
    fs.writeFileSync(base.file, pristine);
    // Another program wrote the file after the clean close whose record is beside it.
    fs.writeFileSync(path.join(base.dir, '.rigger', 'tasks.clean-stop'), record);
    const offset = corruptAt(base.file, fraction);
    const before = digest(base.file);
    const what = `rig grpc with 8 KB overwritten at ${fraction * 100}% (offset ${offset} of ${size})`;
    refusedAsCorrupt(rig(grpcArgs, { timeoutMs: 20_000 }), what, /is corrupt \(quick_check: .+\); it was left untouched/);
    assert.equal(digest(base.file), before, `${what}: the file changed`);
    assert.deepEqual(siblings(base.file), ['tasks.db'], `${what}: journal or WAL files were left behind`);

    // rig task reads only what it needs: it may write beside the corrupt pages, or meet them.
    const added = rig(['task', 'add', 'beside the corrupt pages', '-C', base.dir]);
    if (added.code !== 0) refusedAsCorrupt(added, `rig task add, ${fraction * 100}%`, /is corrupt \(SQLite: .+\); it was left untouched/);
    // Either way the file is still not served.
    const after = digest(base.file);
    refusedAsCorrupt(
      rig(grpcArgs, { timeoutMs: 20_000 }),
      `${what}, after rig task add (exit ${added.code})`,
      /is corrupt \(quick_check: .+\); it was left untouched/,
    );
    assert.equal(digest(base.file), after, `${what}, after rig task add: the file changed`);
  }
  fs.writeFileSync(base.file, pristine);
  corruptAt(base.file, 0.8);
  // The recovery the message names, as the docs give it, yields a database rigger serves. Debian 12's
  // sqlite3 (3.40.1, built without sqlite_dbpage) cannot run .recover; then the docs' .dump steps.
  const sqlite3 = requireTool(t, 'sqlite3', 'apt-get install sqlite3');
  if (!sqlite3) return;
  const recovered = path.join(tempDir(), 'tasks-recovered.db');
  const sh = (script: string) => runAsync('sh', ['-c', script, 'sh', base.file, recovered], { timeoutMs: 30_000 });
  const recover = await sh('sqlite3 "$1" ".recover" | sqlite3 "$2"');
  const hasTasks = (await sh(`sqlite3 "$2" "SELECT count(*) FROM tasks"`)).code === 0;
  if (recover.code !== 0 || !hasTasks) {
    t.diagnostic(`.recover failed (${recover.stderr.trim()}); using the .dump steps of docs/operations.md`);
    fs.rmSync(recovered, { force: true });
    const dump = await sh(
      `sqlite3 "$1" .dump | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' | sqlite3 "$2" && ` +
        `sqlite3 "$2" "PRAGMA application_id = 1380534087; PRAGMA user_version = $(sqlite3 "$1" 'PRAGMA user_version')"`,
    );
    assert.equal(dump.code, 0, dump.stderr);
  }
  const db = new Database(recovered, { fileMustExist: true });
  const tasks = (db.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number }).n;
  const events = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  db.close();
  t.diagnostic(`recovered ${tasks} of ${TASKS} tasks and ${events} of ${TASKS} events`);
  assert.ok(tasks > TASKS * 0.9 && tasks <= TASKS, `recovered ${tasks} of ${TASKS} tasks`);
  const listed = rig(['task', 'list', '--db', recovered, '--json', '-C', base.dir]);
  assert.equal(listed.code, 0, `the recovered file is refused: ${listed.stderr}`);
});

test('rig task runs no quick_check, and refuses a corrupt page it reads with the same one line; the file unchanged', () => {
  const base = bigProject();
  // The tasks table's rightmost leaf, which every insert reads and `rig task list` too.
  const db = new Database(base.file, { readonly: true });
  const { pageno } = db.prepare(`SELECT pageno FROM dbstat WHERE name = 'tasks' AND pagetype = 'leaf' ORDER BY path DESC LIMIT 1`).get() as { pageno: number };
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const page = randomBytes(pageSize);
  page[0] = 0; // not a page type: the page cannot pass for a valid one by chance
  const fd = fs.openSync(base.file, 'r+');
  fs.writeSync(fd, page, 0, pageSize, (pageno - 1) * pageSize);
  fs.closeSync(fd);
  const before = digest(base.file);
  for (const args of [
    ['task', 'add', 'must not be written', '-C', base.dir],
    ['task', 'list', '--json', '-C', base.dir],
  ]) {
    const what = `rig ${args.slice(0, 2).join(' ')} with the tasks table's last leaf (page ${pageno}) overwritten`;
    refusedAsCorrupt(rig(args), what, /is corrupt \(SQLite: .+\); it was left untouched/);
    assert.equal(digest(base.file), before, `${what}: the file changed`);
    assert.deepEqual(siblings(base.file), ['tasks.db'], `${what}: journal or WAL files were left behind`);
  }
});
