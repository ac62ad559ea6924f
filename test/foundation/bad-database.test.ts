// Start-up on a tasks.db that is not ours: random bytes, or another program's SQLite database.
// The server and the CLI refuse it with one clear line and leave every byte of it as it was.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/schema';
import { rig, tempProject, type RunResult } from '../support/processes';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A project whose tasks.db is replaced by `write(file)`; returns the file and its hash. */
function projectWithDatabase(write: (file: string) => void): { dir: string; file: string; hash: string } {
  const dir = tempProject();
  const file = path.join(dir, '.rigger', 'tasks.db');
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
  write(file);
  return { dir, file, hash: fs.existsSync(file) ? sha256(file) : '' };
}

function refusedWithOneLine(result: RunResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1, got ${result.code}; stdout: ${result.stdout}`);
  assert.match(result.stderr, /^rig: [^\n]+\n$/, `not exactly one line: ${JSON.stringify(result.stderr)}`);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stdout, /ready:/);
}

const commands = (dir: string) => [
  ['grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1'],
  ['task', 'list', '-C', dir],
  ['task', 'add', 'must not be written', '-C', dir],
];

test('a tasks.db of random bytes: exit 1, one line, the file unchanged', () => {
  const { dir, file, hash } = projectWithDatabase((f) => fs.writeFileSync(f, randomBytes(64 * 1024)));
  for (const args of commands(dir)) {
    refusedWithOneLine(rig(args, { env: { RIGGER_LOG_LEVEL: 'info' } }), new RegExp(`${file.replace(/[.]/g, '\\.')} is not a rigger database.*left untouched`));
    assert.equal(sha256(file), hash, `rig ${args[0]} changed the file`);
  }
});

test('a foreign SQLite database with its own table: exit 1, one line, the file unchanged', () => {
  const { dir, file, hash } = projectWithDatabase((f) => {
    const db = new Database(f);
    db.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices (amount) VALUES (12.5), (99);");
    db.close();
  });
  for (const args of commands(dir)) {
    refusedWithOneLine(rig(args, { env: { RIGGER_LOG_LEVEL: 'info' } }), /is an SQLite database that rigger did not create; it was left untouched/);
    assert.equal(sha256(file), hash, `rig ${args[0]} changed the file`);
  }
  for (const suffix of ['-wal', '-shm', '-journal']) assert.ok(!fs.existsSync(file + suffix), `${file}${suffix} was created`);
  const db = new Database(file, { readonly: true });
  assert.deepEqual(db.prepare('SELECT amount FROM invoices ORDER BY id').all(), [{ amount: 12.5 }, { amount: 99 }]);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'delete');
  db.close();
});

test('a missing default tasks.db (a fresh clone keeps config.json, never the database) is created', () => {
  const { dir, file } = projectWithDatabase(() => {});
  const listed = rig(['task', 'list', '--json', '-C', dir]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(JSON.parse(listed.stdout).total_count, 0);
  assert.ok(fs.existsSync(file), 'the default database was not created');
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  db.close();
});

test('a missing database named by --db or RIGGER_DB: exit 1, one line, nothing created', () => {
  const dir = tempProject();
  const missing = path.join(dir, 'elsewhere', 'typo.db');
  for (const args of commands(dir)) {
    refusedWithOneLine(rig([...args, '--db', missing]), /typo\.db does not exist; check --db/);
    refusedWithOneLine(rig(args, { env: { RIGGER_DB: missing } }), /typo\.db does not exist; check --db/);
    assert.ok(!fs.existsSync(missing));
  }
});
