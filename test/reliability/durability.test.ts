// Acknowledged means on disk: by default (--durability full, synchronous=FULL) every commit of the
// real server syncs the WAL before the call is answered, so a power cut loses nothing acknowledged;
// --durability normal (synchronous=NORMAL) syncs only at checkpoints. Counted with strace attached
// to the running server: fsync/fdatasync calls on tasks.db-wal during 40 sequential AddTasks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { call, connect } from '../support/client';
import { requireTool, spawnTracked, startServer, tempDir, tempProject, waitFor } from '../support/processes';

const WRITES = 40;

/** Whether every thread of `pid` is traced by `tracer` (/proc/PID/task/TID/status). */
function tracedThreads(pid: number, tracer: number): boolean {
  const threads = fs.readdirSync(`/proc/${pid}/task`);
  return threads.every((tid) => {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      return true; // the thread has ended since the listing
    }
    return new RegExp(`^TracerPid:\\s+${tracer}$`, 'm').test(status);
  });
}

/** WAL syncs made by the server while `work` runs. */
async function walSyncsDuring(strace: string, pid: number, work: () => Promise<void>): Promise<number> {
  const out = path.join(tempDir(), 'strace.txt');
  const tracer = spawnTracked(strace, ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(pid)]);
  let err = '';
  tracer.stderr!.on('data', (d) => (err += d));
  // strace writes nothing until a sync: the kernel says when it has attached, as every thread's TracerPid.
  await waitFor(() => tracer.exitCode !== null || tracedThreads(pid, tracer.pid!), 15_000, 'strace to attach to every thread of the server');
  assert.equal(tracer.exitCode, null, `strace could not attach: ${err}`);
  await work();
  const exited = new Promise((resolve) => tracer.once('exit', resolve));
  tracer.kill('SIGINT'); // detaches
  await exited;
  const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n') : [];
  return lines.filter((line) => /sync\(\d+<[^>]*tasks\.db-wal>\)/.test(line)).length;
}

async function syncsOfSequentialWrites(strace: string, extraArgs: string[]): Promise<number> {
  const dir = tempProject();
  const server = await startServer(dir, extraArgs);
  const client = connect(server.address);
  try {
    await call(client, 'AddTask', { title: 'warm-up' });
    return await walSyncsDuring(strace, server.child.pid!, async () => {
      for (let i = 0; i < WRITES; i++) await call(client, 'AddTask', { title: `durable ${i}` });
    });
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
    await waitFor(() => server.child.exitCode !== null, 5_000, 'the server to exit');
  }
}

test(
  'by default every acknowledged commit syncs the WAL (synchronous=FULL); --durability normal leaves it to the checkpoints',
  { timeout: 60_000 },
  async (t) => {
    const strace = requireTool(t, 'strace', 'apt-get install strace');
    if (!strace) return;
    const full = await syncsOfSequentialWrites(strace, []);
    const normal = await syncsOfSequentialWrites(strace, ['--durability', 'normal']);
    t.diagnostic(`WAL syncs during ${WRITES} sequential AddTasks: default ${full}, --durability normal ${normal}`);
    assert.ok(full >= WRITES, `only ${full} WAL syncs for ${WRITES} acknowledged commits: some were answered before they were on disk`);
    assert.ok(normal < WRITES / 2, `${normal} WAL syncs for ${WRITES} commits with --durability normal (expected only the checkpoints')`);
  },
);

test('--durability accepts full or normal only, and RIGGER_DURABILITY sets it too', async () => {
  const dir = tempProject();
  await assert.rejects(startServer(dir, ['--durability', 'paranoid']), /--durability must be full or normal, got "paranoid"/);
  const server = await startServer(dir, [], { RIGGER_DURABILITY: 'normal' });
  assert.equal(await server.stop(), 0);
});
