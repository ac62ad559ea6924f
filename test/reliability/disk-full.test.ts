// A full disk: the project lives on a small tmpfs that the test fills. Writes fail cleanly with
// RESOURCE_EXHAUSTED, reads and streams keep working, nothing is half-written, and writes succeed
// again once space is freed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, collectEvents, connect } from '../support/client';
import { rig, startServer } from '../support/processes';
import { assertConsistent } from './db-check';

const mounts: string[] = [];
const clients: grpc.Client[] = [];
after(() => {
  for (const c of clients) c.close();
  // Not a harness temp dir: a mount point must be unmounted before it can be removed.
  for (const m of mounts) {
    spawnSync('umount', ['-l', m]);
    fs.rmSync(m, { recursive: true, force: true });
  }
});

/** Mounts a tmpfs of `size` at a new directory; undefined when this machine does not allow it. */
function smallFileSystem(size: string): string | { error: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-full-'));
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (result.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { error: `mount -t tmpfs failed: ${result.stderr || result.error}` };
  }
  mounts.push(dir);
  return dir;
}

/** Writes filler until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  try {
    for (let i = 0; i < 100_000; i++) fs.writeSync(fd, chunk);
    throw new Error('the file system never filled up');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    // Also take the last partial block.
    try {
      for (let i = 0; i < 1000; i++) fs.writeSync(fd, Buffer.alloc(512, 0x61));
    } catch {
      /* full */
    }
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

test('a full disk: writes fail with RESOURCE_EXHAUSTED, reads and streams go on, nothing half-written, writes resume when space returns', async (t) => {
  const mount = smallFileSystem('8m');
  if (typeof mount !== 'string') {
    if (process.env.CI === 'true') throw new Error(mount.error);
    process.stderr.write(`\n*** SKIPPING: ${mount.error} (needs root and mount) ***\n\n`);
    t.skip(mount.error);
    return;
  }
  const dir = path.join(mount, 'project');
  fs.mkdirSync(dir);
  assert.equal(rig(['init', '-C', dir]).code, 0);
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  clients.push(client);

  const acknowledged: string[] = [];
  for (let i = 0; i < 20; i++) acknowledged.push((await call(client, 'AddTask', { title: `before full ${i}`, assignee: 'Alice' })).task.id);
  const subscriber = collectEvents(client, {});
  await subscriber.ready;

  const filler = fill(mount);
  // The WAL may still have room from earlier writes; keep writing (big titles) until the disk says no.
  let refusal: grpc.ServiceError | undefined;
  let written = 0;
  for (let i = 0; i < 5000 && !refusal; i++) {
    try {
      acknowledged.push((await call(client, 'AddTask', { title: `while full ${i} ${'x'.repeat(480)}` })).task.id);
      written++;
    } catch (error) {
      refusal = error as grpc.ServiceError;
    }
  }
  assert.ok(refusal, 'no write failed on a full disk');
  t.diagnostic(`disk filled; ${written} more writes fit in the WAL's free space, then: ${refusal.details}`);
  assert.equal(refusal.code, grpc.status.RESOURCE_EXHAUSTED, `${refusal.code}: ${refusal.details}`);
  assert.match(refusal.details, /disk holding the database is full; nothing was written/);

  // The server still serves reads and streams.
  const listed = await call(client, 'ListTasks', { limit: 1000 });
  assert.equal(listed.total_count, acknowledged.length, 'exactly the acknowledged writes exist');
  assert.deepEqual(new Set(listed.tasks.map((x: { id: string }) => x.id)), new Set(acknowledged));
  assert.equal((await call(client, 'GetTask', { task_id: acknowledged[0] })).task.title, 'before full 0');
  const events = await subscriber.waitForCount(written);
  assert.equal(events.length, written, 'the live subscriber got exactly the writes that succeeded');
  const replay = collectEvents(client, { since_sequence: 0, assignee_filter: 'Alice' });
  assert.equal((await replay.waitForCount(20)).length, 20);
  replay.cancel();

  fs.rmSync(filler);
  const { task } = await call(client, 'AddTask', { title: 'after space returned' });
  acknowledged.push(task.id);
  assert.equal((await subscriber.waitForCount(written + 1)).at(-1)!.task.title, 'after space returned');
  subscriber.cancel();
  assert.equal(await server.stop(), 0);

  const check = assertConsistent(dbFile, assert);
  assert.equal(check.tasks, acknowledged.length);
  assert.equal(check.events, acknowledged.length, 'one CREATED event per task, none for the refused write');
});
