// A corrupt or foreign tasks.db: `rig grpc` refuses it at start with one clear line and exit 1,
// and leaves the file byte-for-byte as it was (no WAL, no migration, no repair attempt).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { rig, tempProject } from '../support/processes';

function digest(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function siblings(file: string): string[] {
  return fs
    .readdirSync(path.dirname(file))
    .filter((name) => name.startsWith(path.basename(file)))
    .sort();
}

/** Replaces the project's tasks.db with what `make` writes; returns the path. */
function projectWith(make: (file: string) => void): { dir: string; file: string } {
  const dir = tempProject();
  const file = path.join(dir, '.rigger', 'tasks.db');
  for (const name of siblings(file)) fs.rmSync(path.join(path.dirname(file), name));
  make(file);
  return { dir, file };
}

const cases: [string, (file: string) => void, RegExp][] = [
  ['random bytes', (file) => fs.writeFileSync(file, randomBytes(64 * 1024)), /is not a rigger database .*left untouched/],
  ['a text file', (file) => fs.writeFileSync(file, 'these are my notes, not a database\n'.repeat(200)), /is not a rigger database .*left untouched/],
  [
    "another application's SQLite database",
    (file) => {
      const db = new Database(file);
      db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (9.5)');
      db.close();
    },
    /is an SQLite database that rigger did not create; it was left untouched/,
  ],
  [
    'a rigger database from a newer version',
    (file) => {
      const db = new Database(file);
      db.pragma('application_id = 0x52494747');
      db.pragma('user_version = 999');
      db.close();
    },
    /has schema version 999, newer than this rig supports .*upgrade rigger/,
  ],
  [
    'a rigger database whose pages were overwritten',
    (file) => {
      const db = new Database(file);
      db.pragma('application_id = 0x52494747');
      db.exec('CREATE TABLE filler (x TEXT)');
      const insert = db.prepare('INSERT INTO filler VALUES (?)');
      for (let i = 0; i < 200; i++) insert.run('y'.repeat(500));
      db.close();
      // Keep the 100-byte header, scribble over the schema page and beyond.
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, randomBytes(16 * 1024), 0, 16 * 1024, 100);
      fs.closeSync(fd);
    },
    /not a rigger database|malformed|rigger did not create/,
  ],
];

const commands = (dir: string) => [
  ['grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1'],
  ['task', 'list', '-C', dir],
  ['task', 'add', 'must not be written', '-C', dir],
];

for (const [what, make, message] of cases) {
  test(`rig grpc and rig task refuse ${what}: one line, exit 1, the file untouched`, () => {
    const { dir, file } = projectWith(make);
    const before = digest(file);
    const filesBefore = siblings(file);
    for (const args of commands(dir)) {
      const result = rig(args);
      assert.equal(result.code, 1, `rig ${args[0]}: exit ${result.code}; stdout: ${result.stdout}`);
      assert.match(result.stderr, /^rig: [^\n]+\n$/, `not one line: ${JSON.stringify(result.stderr)}`);
      assert.match(result.stderr, message);
      assert.equal(digest(file), before, `rig ${args[0]} changed the file`);
      assert.deepEqual(siblings(file), filesBefore, 'journal or WAL files were left behind');
      assert.doesNotMatch(result.stdout, /ready: listening/);
    }
  });
}
