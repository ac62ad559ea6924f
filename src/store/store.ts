import type { LogLineage } from '../model/log-lineage';
import type { EventEncoder } from '../model/logged-event';
import { openDatabase, type OpenOptions, type SqliteDatabase } from './database';
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
  close(): void;
}

/** Opens `file`; every event written is stored with its bytes from `encoder` (what subscribers receive). */
export function openStore(file: string, encoder: EventEncoder, options: OpenOptions = {}): Store {
  const db = openDatabase(file, options);
  rememberDatabase(db.name);
  const lineage = readLineage(db);
  const tasks = new TaskStore(db, encoder, lineage.logId);
  const close = () => {
    db.close();
    tasks.closeFiles();
    forgetDatabase(db.name);
  };
  return { db, tasks, log: new EventLog(db, encoder), snapshots: new TaskSnapshots(db, encoder, lineage.logId), consumers: new ConsumerStore(db, tasks), lineage, close };
}
