// What the writer thread (writer-worker.ts) and the store's side of it (writer-thread.ts) send each
// other. Events cross as one transferred buffer per commit: their bytes, encoded once in the
// thread, become the main thread's LoggedEvent.encoded views without a copy.
import { RiggerError, type ErrorKind } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import type { Task } from '../model/task';
import type { TaskCommand } from './task-command';

export interface WriterWorkerData {
  file: string;
  logId: string;
  /** How long a write waits for a lock held elsewhere, in ms (TaskStore.neverBlock). */
  lockWaitMs: number;
  /** PRAGMA synchronous the server was opened with: with FULL, the thread syncs the WAL after each commit, as the main thread does. */
  synchronous: number;
  /** The module and export of the event encoder (the store does not import the protocol layer). */
  encoderModule: string;
  encoderExport: string;
  /** Int32 flags shared with the main thread (FLAG_* below). */
  flags: SharedArrayBuffer;
}

/** flags[FLAG_MAIN_WAITS] = 1 while the main thread's own writes wait for the lock: the thread lets them in. */
export const FLAG_MAIN_WAITS = 0;
/** flags[FLAG_CLOSED] = 1 once the thread has closed its connection. */
export const FLAG_CLOSED = 1;

/** `writes`: the task writes of one turn of the main thread, in order, each with its id. */
export type ToWriter = { type: 'writes'; ids: number[]; commands: TaskCommand[] } | { type: 'fence'; kind: ErrorKind; message: string } | { type: 'close' };

export interface WireError {
  kind?: ErrorKind;
  message: string;
  details?: Record<string, string>;
}

/** The events of one commit: the filter fields, and every event's bytes back to back in `bytes`. */
export interface PackedEvents {
  fields: (string | number | undefined)[];
  bytes: ArrayBuffer;
}

export type WriterItem =
  | { events: PackedEvents }
  | { id: number; task: Task }
  | { id: number; error: WireError }
  /** A commit of this many writes (the server's metrics). */
  | { committed: number };

export interface FromWriter {
  items: WriterItem[];
}

const FIELDS = 8;

export function packEvents(events: readonly LoggedEvent[]): PackedEvents {
  let size = 0;
  for (const event of events) size += event.encoded.length;
  const bytes = new ArrayBuffer(size);
  const view = new Uint8Array(bytes);
  const fields: (string | number | undefined)[] = [];
  let at = 0;
  for (const e of events) {
    view.set(e.encoded, at);
    fields.push(e.sequence, e.eventType, e.taskId, e.assignee, e.previousAssignee, e.status, e.previousStatus, e.encoded.length);
    at += e.encoded.length;
  }
  return { fields, bytes };
}

export function unpackEvents({ fields, bytes }: PackedEvents): LoggedEvent[] {
  const events: LoggedEvent[] = [];
  let at = 0;
  for (let i = 0; i < fields.length; i += FIELDS) {
    const length = fields[i + 7] as number;
    events.push({
      sequence: fields[i] as number,
      eventType: fields[i + 1] as LoggedEvent['eventType'],
      taskId: fields[i + 2] as string,
      assignee: fields[i + 3] as string | undefined,
      previousAssignee: fields[i + 4] as string | undefined,
      status: fields[i + 5] as LoggedEvent['status'],
      previousStatus: fields[i + 6] as LoggedEvent['previousStatus'],
      encoded: Buffer.from(bytes, at, length),
    });
    at += length;
  }
  return events;
}

export function wireError(error: unknown): WireError {
  if (error instanceof RiggerError) return { kind: error.kind, message: error.message, details: error.details };
  return { message: error instanceof Error ? error.message : String(error) };
}

export function errorOfWire(error: WireError): Error {
  return error.kind ? new RiggerError(error.kind, error.message, error.details ?? {}) : new Error(error.message);
}
