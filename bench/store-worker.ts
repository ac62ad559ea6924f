// The store alone, in its own process: AddTask's write (createTask and its CREATED event) through
// TaskStore.writeGrouped, `perCommit` at a time, set up as `rig grpc` sets it up (server mode, WAL
// synced off the loop, checkpoints on their worker thread), no gRPC in front. CPU is the whole
// process's (every thread), so the sync and the checkpoints are counted with the writes.
import { createLogger } from '../src/logging';
import { taskEventEncoder } from '../src/protocol/event-codec';
import { SERVER_CHECKPOINT_INTERVAL_MS, startCheckpointer } from '../src/store/checkpointer';
import { openStore, type Store } from '../src/store/store';
import { serveCommands } from './ipc';
import { benchTitle } from './prefill';

interface StoreLoad {
  file: string;
  writes: number;
  warmupWrites: number;
  perCommit: number;
}

async function writeTasks(store: Store, from: number, count: number, perCommit: number): Promise<void> {
  for (let done = 0; done < count; done += perCommit) {
    const group: Promise<unknown>[] = [];
    for (let i = 0; i < perCommit; i++) {
      const n = from + done + i;
      group.push(store.tasks.writeGrouped('bench', (m) => m.createTask({ title: benchTitle(n), assignee: `user-${n % 100}` })));
    }
    await Promise.all(group);
  }
}

serveCommands({
  async storeLoad({ file, writes, warmupWrites, perCommit }: StoreLoad) {
    const store = openStore(file, taskEventEncoder);
    store.tasks.neverBlock(5000);
    const stopCheckpointer = startCheckpointer(store.db, SERVER_CHECKPOINT_INTERVAL_MS, createLogger({ level: 'warn', format: 'json' }));
    try {
      await writeTasks(store, 0, warmupWrites, perCommit);
      const cpuBefore = process.cpuUsage();
      const startedAt = process.hrtime.bigint();
      await writeTasks(store, warmupWrites, writes, perCommit);
      const elapsedMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
      const cpu = process.cpuUsage(cpuBefore);
      return { writes, elapsedMs, userUs: cpu.user, systemUs: cpu.system };
    } finally {
      await stopCheckpointer();
      await store.tasks.synced();
      store.close();
    }
  },
});
