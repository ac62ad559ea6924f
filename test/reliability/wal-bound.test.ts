// The WAL stays bounded under sustained writes and shrinks when they stop: 8 writers call AddTask
// at full speed against the real server for 20 s while the -wal file's size is sampled every
// 100 ms; it must never pass 64 MB, and within 10 s of the last write it must be under 4 MB.
// (Before the bounded checkpoints, PASSIVE checkpoints never caught up: 2 GB in 60 s.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import Database from 'better-sqlite3';

const MB = 1024 * 1024;
const WRITERS = 8;
// The issue asks for 60 s; the suite writes for 20 s with the same bounds (RIGGER_WAL_WRITE_MS=60000 for the full run).
const WRITE_MS = Number(process.env.RIGGER_WAL_WRITE_MS ?? 20_000);
const IDLE_MS = 10_000;
const RETAINED_EVENTS = 100_000;
const WAL_BOUND = 64 * MB;
const IDLE_BOUND = 4 * MB;
/** Past this the bound is broken for sure: the writers stop early so a failing run does not fill the disk. */
const GIVE_UP = 4 * WAL_BOUND;

test(
  `8 writers at full speed for ${WRITE_MS / 1000} s: the WAL never passes 64 MB, and is under 4 MB within 10 s idle`,
  { timeout: WRITE_MS + 70_000 },
  async (t) => {
    const dir = tempProject();
    const dbFile = path.join(dir, '.rigger', 'tasks.db');
    const walFile = `${dbFile}-wal`;
    const server = await startServer(dir);
    const clients = Array.from({ length: WRITERS }, () => connect(server.address));
    const walSize = () => {
      try {
        return fs.statSync(walFile).size;
      } catch {
        return 0; // not there (yet, or truncated away)
      }
    };
    let peak = 0;
    let peakAt = 0;
    const started = Date.now();
    const sampler = setInterval(() => {
      const size = walSize();
      if (size > peak) {
        peak = size;
        peakAt = Date.now() - started;
      }
    }, 100);
    try {
      let writes = 0;
      let failures = 0;
      let firstFailure = '';
      let slowest = 0;
      const deadline = started + WRITE_MS;
      const writer = async (client: (typeof clients)[number], w: number) => {
        for (let i = 0; Date.now() < deadline && peak <= GIVE_UP && i < 1_000_000; i++) {
          const callStarted = Date.now();
          try {
            await call(client, 'AddTask', { title: `writer ${w} task ${i}` });
            writes++;
          } catch (error) {
            failures++;
            firstFailure ||= (error as Error).message;
          }
          slowest = Math.max(slowest, Date.now() - callStarted);
        }
      };
      await Promise.all(clients.map((client, w) => writer(client, w)));
      const writeSeconds = (Date.now() - started) / 1000;
      const peakWhileWriting = peak;
      // The checkpointer empties a WAL idle for a second: wait for that, up to IDLE_MS.
      const idleFrom = Date.now();
      while (walSize() >= IDLE_BOUND && Date.now() - idleFrom < IDLE_MS) await new Promise((resolve) => setTimeout(resolve, 100));
      const idleTook = Date.now() - idleFrom;
      const idle = walSize();
      t.diagnostic(
        `${writes} AddTasks in ${writeSeconds.toFixed(1)} s (${Math.round(writes / writeSeconds)}/s, slowest ${slowest} ms, ${failures} failed); ` +
          `WAL peak ${(peakWhileWriting / MB).toFixed(1)} MB at ${(peakAt / 1000).toFixed(1)} s, ${(idle / MB).toFixed(2)} MB after ${idleTook} ms idle; ` +
          `database ${(fs.statSync(dbFile).size / MB).toFixed(1)} MB`,
      );
      assert.equal(failures, 0, `writes failed: ${firstFailure}`);
      assert.ok(peakWhileWriting <= WAL_BOUND, `the WAL reached ${(peakWhileWriting / MB).toFixed(1)} MB (bound ${WAL_BOUND / MB} MB)`);
      assert.ok(idle < IDLE_BOUND, `the WAL was still ${(idle / MB).toFixed(1)} MB after ${idleTook} ms without writes`);
      assert.ok(writes > 1000, `only ${writes} writes: the load was not sustained`);
      for (const client of clients) client.close();
      assert.equal(await server.stop(), 0);
      // Every acknowledged write is in the file, once (db-check's per-task checks are quadratic at this size).
      const db = new Database(dbFile, { readonly: true, fileMustExist: true });
      try {
        assert.equal(db.pragma('quick_check', { simple: true }), 'ok');
        assert.equal((db.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number }).n, writes);
        // The log keeps its retention (100,000 events by default): the newest events, one per write, gap-free.
        const kept = Math.min(writes, RETAINED_EVENTS);
        const log = db.prepare('SELECT count(*) AS n, min(sequence) AS first, max(sequence) AS last FROM events WHERE event_type = 1').get() as {
          n: number;
          first: number;
          last: number;
        };
        assert.deepEqual(log, { n: kept, first: writes - kept + 1, last: writes });
        assert.equal((db.prepare('SELECT count(DISTINCT task_id) AS n FROM events').get() as { n: number }).n, kept);
      } finally {
        db.close();
      }
    } finally {
      clearInterval(sampler);
      for (const client of clients) client.close();
      await server.stop();
    }
  },
);
