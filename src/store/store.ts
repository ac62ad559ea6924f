import fs from 'node:fs';
import type { LogLineage } from '../model/log-lineage';
import type { EventEncoder } from '../model/logged-event';
import { claimCleanStop, recordCleanStop, walHoldsFrames } from './clean-stop';
import { openCheckedDatabase, type OpenOptions, type SqliteDatabase } from './database';
import { ConsumerStore } from './consumer-store';
import { EventLog } from './event-log';
import { readLineage } from './log-identity';
import { forgetDatabase, rememberDatabase } from './open-files';
import { TaskSnapshots } from './snapshot';
import { TaskStore } from './task-store';

/** One open database: its writer (TaskStore) and the read side of its event log. */
export interface Store {
  readonly db: SqliteDatabase;
  readonly tasks: TaskStore;
  readonly log: EventLog;
  /** Consistent snapshots of the tasks, for subscriptions that start with one. */
  readonly snapshots: TaskSnapshots;
  /** Durable consumers' settings and progress. */
  readonly consumers: ConsumerStore;
  /** The log's identity and the ones it descends from, as of the open (only a stopped log gets a new one). */
  readonly lineage: LogLineage;
  /**
   * The full check (quick_check) this open owes before anything reads the file for serving or
   * writes it (StoreOptions.fullCheck), and why; undefined when none is owed. The owner runs it
   * (background-check.ts) and calls fullCheckPassed.
   */
  readonly fullCheckOwed: { reason: string; readAheadFd?: number } | undefined;
  fullCheckPassed(): void;
  /** Closes the connection; when the file was known whole and this was the last connection anywhere, records a clean stop (clean-stop.ts). */
  close(): void;
}

export interface StoreOptions extends Omit<OpenOptions, 'integrity' | 'readAheadFd'> {
  /**
   * `never` (the default, `rig task` and every direct-to-file command): the fast checks only;
   * `unless-clean-stop` (the server): quick_check too, unless the file is exactly as a clean stop
   * left it; run at once when the open must write, else owed (fullCheckOwed).
   */
  fullCheck?: 'never' | 'unless-clean-stop';
}

/** Opens `file`; every event written is stored with its bytes from `encoder` (what subscribers receive). */
export function openStore(file: string, encoder: EventEncoder, options: StoreOptions = {}): Store {
  // A file rigger is about to create, or one a clean stop left as it is, is known whole.
  const created = (fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) === 0 && !walHoldsFrames(file);
  const claim = created ? ({ clean: true } as const) : claimCleanStop(file);
  const mustCheck = options.fullCheck === 'unless-clean-stop' && !claim.clean;
  // Kept open until the connections are closed (integrity.ts readAhead says why).
  const readAheadFd = mustCheck && fs.existsSync(file) ? fs.openSync(file, 'r') : undefined;
  let opened;
  try {
    opened = openCheckedDatabase(file, { ...options, integrity: mustCheck ? 'deferred' : 'fast', ...(readAheadFd !== undefined && { readAheadFd }) });
  } catch (error) {
    if (readAheadFd !== undefined) fs.closeSync(readAheadFd);
    throw error;
  }
  const { db } = opened;
  // The file this connection has: a clean stop is recorded only for it, never for one put in its place meanwhile.
  const opens = fs.statSync(db.name);
  let knownWhole = claim.clean || opened.fullCheck === 'passed';
  let fullCheckOwed = opened.fullCheck === 'owed' && !claim.clean ? { reason: claim.reason, ...(readAheadFd !== undefined && { readAheadFd }) } : undefined;
  rememberDatabase(db.name);
  const lineage = readLineage(db);
  const tasks = new TaskStore(db, encoder, lineage.logId);
  const close = () => {
    tasks.closeWriter();
    db.close();
    tasks.closeFiles();
    forgetDatabase(db.name);
    if (readAheadFd !== undefined) fs.closeSync(readAheadFd);
    if (knownWhole) recordCleanStop(db.name, opens);
  };
  const log = new EventLog(db, encoder);
  log.holdVersionWhile(() => tasks.threadWritesInFlight());
  return {
    db,
    tasks,
    log,
    snapshots: new TaskSnapshots(db, encoder, lineage.logId),
    consumers: new ConsumerStore(db, tasks),
    lineage,
    get fullCheckOwed() {
      return fullCheckOwed;
    },
    fullCheckPassed() {
      knownWhole = true;
      fullCheckOwed = undefined;
    },
    close,
  };
}
