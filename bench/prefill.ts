import { taskEventEncoder } from '../src/protocol/event-codec';
import { openStore } from '../src/store/store';
import { wallClockMs } from './stats';

/** The title of the n-th bench task: fixed length, so every event is the same size. */
export function benchTitle(n: number): string {
  return `bench task ${String(n).padStart(9, '0')}`;
}

/**
 * Writes `events` CREATED events (one new task each) into `dbFile` through TaskStore.write,
 * `perTransaction` tasks per transaction: the store's own write path, without gRPC in front.
 */
export function writeEvents(dbFile: string, events: number, perTransaction = 1000): { events: number; elapsedMs: number } {
  const store = openStore(dbFile, taskEventEncoder);
  const startedAt = wallClockMs();
  try {
    for (let written = 0; written < events;) {
      const batch = Math.min(perTransaction, events - written);
      store.tasks.write('bench-bulk', (m) => {
        for (let i = 0; i < batch; i++) m.createTask({ title: benchTitle(written + i), assignee: 'bench' });
      });
      written += batch;
    }
  } finally {
    store.close();
  }
  return { events, elapsedMs: wallClockMs() - startedAt };
}
