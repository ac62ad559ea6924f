// The full integrity check (quick_check) of a start after an unclean stop, on a worker thread with
// its own read-only connection (integrity-worker.ts), so that the server can listen meanwhile and
// say why it is not serving yet. Nothing reads the file for serving or writes it before it passed.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { corruptFile } from './integrity';
import type { IntegrityReport, IntegrityWorkerData } from './integrity-worker';

export interface BackgroundCheck {
  /** Resolves when the file passed; rejects with the one-line refusal (integrity.ts) when not. */
  passed: Promise<{ ms: number }>;
  /** Where the check is, one line (for /readyz and the UNAVAILABLE refusals). */
  status(): string;
  /** Ends the check early (shutdown); resolves once the worker's connection is closed. */
  stop(): Promise<void>;
}

/** Starts quick_check of `file`, read ahead through `readAheadFd` when given (integrity.ts readAhead). */
export function startBackgroundCheck(file: string, reason: string, readAheadFd?: number): BackgroundCheck {
  const started = Date.now();
  const workerData: IntegrityWorkerData = { file, ...(readAheadFd !== undefined && { readAheadFd }) };
  const worker = new Worker(path.join(__dirname, 'integrity-worker.js'), { workerData });
  let phase = 'starting';
  let result: IntegrityReport | undefined;
  let failure: Error | undefined;
  worker.on('message', (report: IntegrityReport) => {
    if (report.readAhead) {
      const { bytes, size } = report.readAhead;
      phase = `reading the file ahead, ${Math.floor((100 * bytes) / size)}% of ${(size / 2 ** 20).toFixed(0)} MB`;
    } else if (report.checking) {
      phase = 'checking every page';
    } else {
      result = report;
    }
  });
  worker.once('error', (error) => (failure = error));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const passed = exited.then(() => {
    if (result?.problem !== undefined) throw corruptFile(file, result.problem);
    if (result?.failed !== undefined || !result)
      throw new Error(`the integrity check of ${file} could not run: ${result?.failed ?? failure?.message ?? 'its worker ended without a result'}`);
    return { ms: Date.now() - started };
  });
  passed.catch(() => undefined); // the owner awaits it; a stop before then is not a failure to report
  return {
    passed,
    status: () => `the integrity check (quick_check) of the database is running since ${((Date.now() - started) / 1000).toFixed(1)} s, ${phase}: ${reason}`,
    stop: async () => {
      await worker.terminate();
      await exited;
    },
  };
}
