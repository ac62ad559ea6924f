// A consumer group under fire: 3 member processes on one consumer, 20,000 events over 500 tasks
// written while the members run, one member kill -9'd and restarted every 2 s. Each member logs
// what it got and acked (member-worker.ts); from those logs the test checks that in the end every
// sequence was acked and no ack was confirmed twice, that no two events of one task were ever in
// flight at once (a delivery's time in flight runs from its arrival to its ack, or to its member's
// kill), that each task's events arrived in sequence order, and that redeliveries carried rising
// attempt counts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked, startServer, tempDir, tempProject, type ServerProcess } from '../support/processes';
import { addTasks, clientOf, closeClients } from './consumer-support';

const TASKS = 500;
const EVENTS = 20_000;
const MEMBERS = 3;
const KILL_EVERY_MS = 2000;
/** A change of assignee writes UPDATED and ASSIGNED. */
const EVENTS_PER_UPDATE = 2;
const WORKER = path.join(__dirname, 'member-worker.js');

interface Run {
  child: ChildProcess;
  log: string;
  /** When it was sent SIGKILL (same clock as the logs), if it was. */
  killedAt?: number;
}

const now = () => performance.timeOrigin + performance.now();
let server: ServerProcess | undefined;
after(async () => {
  await closeClients();
  await server?.stop('SIGKILL');
});

test(`${MEMBERS} members, ${EVENTS} events over ${TASKS} tasks, a member kill -9'd every ${KILL_EVERY_MS / 1000} s: each acked, one task at a time, in order`, { timeout: 240_000 }, async () => {
  server = await startServer(tempProject());
  const client = clientOf(server);
  const logs = tempDir('rigger-group-');
  const runs: Run[] = [];
  const startMember = (slot: number): Run => {
    const log = path.join(logs, `member-${slot}-${runs.length}.jsonl`);
    const child = spawnTracked(process.execPath, [WORKER, server!.address, 'chaos', log, '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const run = { child, log };
    runs.push(run);
    return run;
  };
  const slots = Array.from({ length: MEMBERS }, (_, i) => startMember(i));

  // The writes: 500 creates, then updates round-robin over the tasks until 20,000 events.
  const writing = (async () => {
    const ids = await addTasks(client, TASKS, 'chaos', 16);
    let next = 0;
    const updates = (EVENTS - TASKS) / EVENTS_PER_UPDATE;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < updates) {
        const i = next++;
        await client.updateTask({ task_id: ids[i % TASKS]!, assignee: `a${i}` });
      }
    }));
  })();

  let kills = 0;
  const deadline = Date.now() + 180_000;
  let lastKill = Date.now();
  let writesDone = false;
  void writing.then(() => (writesDone = true));
  for (;;) {
    assert.ok(Date.now() < deadline, 'the group did not ack every event within 180 s');
    await new Promise((r) => setTimeout(r, 100));
    if (writesDone) {
      const info = await client.getConsumer('chaos');
      if (info.acked_sequence === EVENTS && info.pending === 0) break;
    }
    if (Date.now() - lastKill >= KILL_EVERY_MS) {
      lastKill = Date.now();
      const slot = kills++ % MEMBERS;
      const victim = slots[slot]!;
      victim.killedAt = now();
      victim.child.kill('SIGKILL');
      await new Promise((r) => victim.child.once('exit', r));
      slots[slot] = startMember(slot);
    }
  }
  await writing;
  assert.equal((await client.getConsumer('chaos')).head_sequence, EVENTS);
  for (const run of slots) run.child.kill('SIGTERM');
  await Promise.all(slots.map((run) => new Promise((r) => (run.child.exitCode !== null || run.child.signalCode !== null ? r(null) : run.child.once('exit', r)))));
  assert.ok(kills >= 3, `only ${kills} kills happened; the run was too short to prove anything`);

  // What the members saw.
  interface Delivery { s: number; t: string; a: number; at: number; end: number; run: number }
  const deliveries: Delivery[] = [];
  const acked = new Set<number>();
  const confirmed = new Map<number, number>();
  runs.forEach((run, index) => {
    const open = new Map<number, Delivery>();
    // A member stopped before it had opened its log got nothing.
    const text = fs.existsSync(run.log) ? fs.readFileSync(run.log, 'utf8') : '';
    for (const line of text.split('\n')) {
      let entry: { k: string; s: number; t: string; a: number; at: number };
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // empty, or torn by the kill
      }
      if (entry.k === 'got') {
        const delivery = { s: entry.s, t: entry.t, a: entry.a, at: entry.at, end: run.killedAt ?? Number.POSITIVE_INFINITY, run: index };
        deliveries.push(delivery);
        open.set(entry.s, delivery);
      } else if (entry.k === 'ack') {
        acked.add(entry.s);
        const delivery = open.get(entry.s);
        if (delivery) delivery.end = entry.at;
      } else if (entry.k === 'ok') {
        confirmed.set(entry.s, (confirmed.get(entry.s) ?? 0) + 1);
      }
    }
  });

  const missing = [];
  for (let s = 1; s <= EVENTS; s++) if (!acked.has(s)) missing.push(s);
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} sequences were never acked`);
  const twice = [...confirmed].filter(([, n]) => n > 1);
  assert.deepEqual(twice.slice(0, 10), [], 'an ack was confirmed more than once: a committed ack was delivered again');

  const byTask = new Map<string, Delivery[]>();
  for (const d of deliveries) (byTask.get(d.t) ?? byTask.set(d.t, []).get(d.t)!).push(d);
  assert.equal(byTask.size, TASKS);
  let overlaps = 0;
  let outOfOrder = 0;
  const examples: string[] = [];
  for (const [task, list] of byTask) {
    list.sort((x, y) => x.at - y.at);
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const current = list[i]!;
      if (current.at < previous.end) {
        overlaps++;
        if (examples.length < 5) examples.push(`task ${task}: ${current.s} (member run ${current.run}) arrived while ${previous.s} (run ${previous.run}) was in flight`);
      }
      if (current.s < previous.s) {
        outOfOrder++;
        if (examples.length < 5) examples.push(`task ${task}: ${current.s} arrived after ${previous.s}`);
      }
    }
  }
  assert.equal(overlaps, 0, `two events of one task were in flight at once: ${examples.join('; ')}`);
  assert.equal(outOfOrder, 0, `a task's events arrived out of order: ${examples.join('; ')}`);

  const bySequence = new Map<number, number[]>();
  for (const d of [...deliveries].sort((x, y) => x.at - y.at)) (bySequence.get(d.s) ?? bySequence.set(d.s, []).get(d.s)!).push(d.a);
  let redelivered = 0;
  for (const [sequence, attempts] of bySequence) {
    for (let i = 1; i < attempts.length; i++) assert.ok(attempts[i]! > attempts[i - 1]!, `sequence ${sequence} was delivered with attempts ${attempts.join(', ')}`);
    if (attempts.some((a) => a > 1)) redelivered++;
  }
  assert.ok(redelivered > 0, 'no event was redelivered: the kills did not hit members holding events');
  const info = await client.getConsumer('chaos');
  assert.equal(info.in_flight, 0);
  assert.ok((info.redeliveries ?? 0) >= redelivered, `the server counted ${info.redeliveries} redeliveries, the members saw ${redelivered}`);
  process.stderr.write(`group run: ${kills} kills, ${deliveries.length} deliveries logged, ${redelivered} sequences redelivered\n`);
});
