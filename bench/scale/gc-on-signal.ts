// Preloaded into the server by the scale run only (NODE_OPTIONS="--expose-gc --require ..."): on
// SIGUSR2 it runs a full garbage collection and writes the heap's figures to the file named by
// RIGGER_BENCH_HEAP_FILE, so an RSS read after it counts live memory, not garbage not yet collected.
import fs from 'node:fs';
import v8 from 'node:v8';

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const file = process.env.RIGGER_BENCH_HEAP_FILE;
  if (!file) return;
  const heap = v8.getHeapStatistics();
  const memory = process.memoryUsage();
  const figures = {
    at: Date.now(),
    gc: gc !== undefined,
    used_heap_size: heap.used_heap_size,
    total_heap_size: heap.total_heap_size,
    external: memory.external,
    array_buffers: memory.arrayBuffers,
    rss: memory.rss,
  };
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(figures));
  fs.renameSync(`${file}.tmp`, file);
});
