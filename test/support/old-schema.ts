// A project database as an older release left it: made with the first migrations only, holding
// another project's tasks and events (the columns that release had), for the upgrade tests.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { APPLICATION_ID, MIGRATIONS } from '../../src/store/schema';

/**
 * Replaces `file` with a database at schema `version` holding `sourceFile`'s tasks and events in
 * their order; `check` sees it before it is closed.
 */
export function writeAtSchema(sourceFile: string, file: string, version: number, check: (db: Database.Database) => void = () => {}): void {
  fs.rmSync(file, { force: true });
  const old = new Database(file);
  try {
    for (const migration of MIGRATIONS.slice(0, version)) old.exec(migration);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma(`user_version = ${version}`);
    old.exec(`ATTACH DATABASE '${sourceFile.replace(/'/g, "''")}' AS source`);
    for (const table of ['tasks', 'events']) {
      const columns = (old.prepare(`PRAGMA main.table_info(${table})`).all() as { name: string }[]).map((c) => c.name).join(', ');
      old.exec(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM source.${table} ORDER BY rowid`);
    }
    old.exec('DETACH DATABASE source');
    check(old);
  } finally {
    old.close();
  }
}
