// A missing database: the default .rigger/tasks.db is created (a fresh clone carries config.json,
// never the database); one named by --db or RIGGER_DB must exist. Corrupt and foreign files are
// refused by test/reliability/bad-database.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/schema';
import { rig, tempProject } from '../support/processes';

test('a missing default tasks.db is created and migrated', () => {
  const dir = tempProject();
  const file = path.join(dir, '.rigger', 'tasks.db');
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
  const listed = rig(['task', 'list', '--json', '-C', dir]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(JSON.parse(listed.stdout).total_count, 0);
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  db.close();
});

test('a missing database named by --db or RIGGER_DB: exit 1, one line, nothing created', () => {
  const dir = tempProject();
  const missing = path.join(dir, 'elsewhere', 'typo.db');
  const commands = [
    ['grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1'],
    ['task', 'list', '-C', dir],
    ['task', 'add', 'must not be written', '-C', dir],
  ];
  for (const args of commands) {
    for (const result of [rig([...args, '--db', missing]), rig(args, { env: { RIGGER_DB: missing } })]) {
      assert.equal(result.code, 1, `rig ${args[0]}: exit ${result.code}`);
      assert.match(result.stderr, /^rig: [^\n]*typo\.db does not exist; check --db[^\n]*\n$/);
      assert.doesNotMatch(result.stdout, /ready:/);
    }
    assert.ok(!fs.existsSync(missing));
  }
});
