// Runs on a worker thread started by background-check.ts: reads the database file ahead (through
// the descriptor the store keeps open), then runs quick_check on a read-only connection of its own
// and reports the first problem, if any. It closes its connection before it ends.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { quickCheckProblem, readAhead } from './integrity';

export interface IntegrityWorkerData {
  file: string;
  readAheadFd?: number;
}

/** Progress, then one result: `problem` (the file is corrupt), `failed` (the check could not run), or neither (it passed). */
export interface IntegrityReport {
  readAhead?: { bytes: number; size: number };
  checking?: true;
  done?: true;
  problem?: string;
  failed?: string;
}

const { file, readAheadFd } = workerData as IntegrityWorkerData;
const report = (message: IntegrityReport) => parentPort!.postMessage(message);
let lastReport = 0;
if (readAheadFd !== undefined) {
  readAhead(readAheadFd, (bytes, size) => {
    if (Date.now() - lastReport < 250) return;
    lastReport = Date.now();
    report({ readAhead: { bytes, size } });
  });
}
report({ checking: true });
let db: Database.Database | undefined;
try {
  db = new Database(file, { readonly: true, fileMustExist: true });
  const problem = quickCheckProblem(db);
  report(problem === undefined ? { done: true } : { done: true, problem });
} catch (error) {
  report({ done: true, failed: (error as Error).message });
} finally {
  db?.close();
}
