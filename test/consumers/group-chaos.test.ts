// A consumer group under fire: 3 member processes (the typed client) on one consumer and a writer,
// while the server is kill -9'd and restarted 20 times on its port and, between those, a member
// is stopped until the group has events in flight, then kill -9'd and restarted. Each member logs
// what it got, acked, saw confirmed and when its stream was lost (member-worker.ts). From those
// logs the test checks, over every delivery logged:
//  - exclusivity: no two events of one task were ever in flight at once, a delivery being in
//    flight from its arrival until its ack, its stream's loss, its member's kill, or the kill of
//    the server run that made it (named by its delivery id), whichever came first;
//  - order: within one server run, each task's events arrived in sequence order, and a
//    sequence's attempts rose;
//  - nothing lost: every event up to the head was acked, and the consumer is at the head;
//  - an ack the member saw confirmed was never delivered again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import type { RiggerClient } from '../../src/client/index';
import { freePort, spawnTracked, startServer, tempDir, tempProject, type ServerProcess } from '../support/processes';
import { addTasks, clientOf, closeClients, whenAnswered } from './consumer-support';

const TASKS = 200;
const UPDATES = 8000;
const MEMBERS = 3;
const SERVER_KILLS = 20;
/** A member is killed before every this many server kills. */
const MEMBER_KILL_EVERY = 3;
/** Events the group has in flight, counted with one member stopped, before that member is killed. */
const HELD = 10;
const WORKER = path.join(__dirname, 'member-worker.js');

interface MemberRun {
  child: ChildProcess;
  log: string;
  /** When it was sent SIGKILL (same clock as the logs), if it was. */
  killedAt?: number;
}

interface ServerRun {
  startedAt: number;
  killedAt: number;
}

const now = () => performance.timeOrigin + performance.now();
let server: ServerProcess | undefined;
after(async () => {
  await closeClients();
  await server?.stop('SIGKILL');
});

test(
  `${MEMBERS} members and a writer through ${SERVER_KILLS} server kill -9s and member kill -9s: one event of a task in flight at a time, in order, nothing lost`,
  { timeout: 280_000 },
  async () => {
    const dir = tempProject();
    const port = await freePort();
    const serverRuns: ServerRun[] = [{ startedAt: now(), killedAt: Number.POSITIVE_INFINITY }];
    server = await startServer(dir, ['--port', String(port)]);
    let client: RiggerClient = clientOf(server);
    const ids = await addTasks(client, TASKS, 'chaos', 16);
    await client.createConsumer({ name: 'chaos', start_sequence: 0, max_in_flight: 300, ack_wait_ms: 2000 });

    const logs = tempDir('rigger-group-');
    const memberRuns: MemberRun[] = [];
    const startMember = (slot: number): MemberRun => {
      const log = path.join(logs, `member-${slot}-${memberRuns.length}.jsonl`);
      const child = spawnTracked(process.execPath, [WORKER, `127.0.0.1:${port}`, 'chaos', log, '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const run = { child, log };
      memberRuns.push(run);
      return run;
    };
    const slots = Array.from({ length: MEMBERS }, (_, i) => startMember(i));

    // The writer: assignee changes round-robin over the tasks, each retried until the server takes it.
    const writer = clientOf(server);
    let written = 0;
    let stopWriting = false;
    let next = 0;
    const writing = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < UPDATES && !stopWriting) {
          const i = next++;
          for (let tries = 0; tries < 400 && !stopWriting; tries++) {
            try {
              await writer.updateTask({ task_id: ids[i % TASKS]!, assignee: `a${i}` });
              written++;
              break;
            } catch {
              await new Promise((r) => setTimeout(r, 50)); // the server is restarting
            }
          }
        }
      }),
    );

    const consumer = () => whenAnswered(() => client.getConsumer('chaos'));
    const acked = async () => (await consumer()).acked_sequence ?? 0;
    const deadline = Date.now() + 200_000;
    let memberKills = 0;
    try {
      for (let kill = 1; kill <= SERVER_KILLS; kill++) {
        // A member dies first, holding events, so this server run sees its stream end and must hand
        // them to another member: the acked position below cannot pass them until they are redelivered.
        if (kill % MEMBER_KILL_EVERY === 0) {
          const slot = memberKills++ % MEMBERS;
          const victim = slots[slot]!;
          // Every member back on this server run first: the victim must be one of them.
          for (let members = (await consumer()).members!; members < MEMBERS; members = (await consumer()).members!) {
            assert.ok(Date.now() < deadline, `only ${members} of ${MEMBERS} members joined after server kill ${kill - 1}`);
            await new Promise((r) => setTimeout(r, 50));
          }
          // Stopped, it acks nothing while the server keeps sending it events of its share of the tasks.
          victim.child.kill('SIGSTOP');
          while ((await consumer()).in_flight! < HELD) {
            assert.ok(Date.now() < deadline, `the group's in-flight count never reached ${HELD} with member ${slot} stopped`);
            await new Promise((r) => setTimeout(r, 50));
          }
          victim.killedAt = now();
          victim.child.kill('SIGKILL');
          await new Promise((r) => victim.child.once('exit', r));
          slots[slot] = startMember(slot);
        }
        // Each run does some work before it dies: the consumer moves and the writer writes.
        const before = await acked();
        const writtenBefore = written;
        while ((await acked()) <= before + 100 || written < writtenBefore + 50) {
          assert.ok(Date.now() < deadline, `no progress before server kill ${kill}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        serverRuns.at(-1)!.killedAt = now();
        server.child.kill('SIGKILL');
        await new Promise((r) => server!.child.once('exit', r));
        serverRuns.push({ startedAt: now(), killedAt: Number.POSITIVE_INFINITY });
        server = await startServer(dir, ['--port', String(port)]);
        client = clientOf(server);
      }
    } finally {
      stopWriting = true;
      await writing;
    }
    for (;;) {
      assert.ok(Date.now() < deadline, 'the group did not ack every event within the time');
      const info = await consumer();
      if (info.acked_sequence === info.head_sequence && info.pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const head = (await consumer()).head_sequence!;
    for (const run of slots) run.child.kill('SIGTERM');
    await Promise.all(
      slots.map((run) => new Promise((r) => (run.child.exitCode !== null || run.child.signalCode !== null ? r(null) : run.child.once('exit', r)))),
    );

    // What the members saw.
    interface Delivery {
      s: number;
      t: string;
      a: number;
      d: string;
      at: number;
      end: number;
      run: number;
    }
    const deliveries: Delivery[] = [];
    const ackedSequences = new Set<number>();
    const confirmedAt = new Map<number, number>();
    memberRuns.forEach((run, index) => {
      const open = new Map<string, Delivery>();
      const text = fs.existsSync(run.log) ? fs.readFileSync(run.log, 'utf8') : '';
      for (const line of text.split('\n')) {
        let entry: { k: string; s: number; t: string; a: number; d: string; at: number };
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // empty, or torn by the kill
        }
        if (entry.k === 'got') {
          const delivery = { s: entry.s, t: entry.t, a: entry.a, d: entry.d, at: entry.at, end: run.killedAt ?? Number.POSITIVE_INFINITY, run: index };
          deliveries.push(delivery);
          open.set(entry.d, delivery);
        } else if (entry.k === 'ack') {
          ackedSequences.add(entry.s);
          const delivery = open.get(entry.d);
          if (delivery) delivery.end = Math.min(delivery.end, entry.at);
          open.delete(entry.d);
        } else if (entry.k === 'ok') {
          if (!confirmedAt.has(entry.s)) confirmedAt.set(entry.s, entry.at);
        } else if (entry.k === 'lost') {
          for (const delivery of open.values()) delivery.end = Math.min(delivery.end, entry.at);
          open.clear();
        }
      }
    });

    // Which server run made each delivery: its id's first part names the run; the run is the one
    // alive when the first delivery of that name arrived.
    const runOfName = new Map<string, number>();
    for (const delivery of [...deliveries].sort((x, y) => x.at - y.at)) {
      const name = delivery.d.split('.')[0]!;
      if (runOfName.has(name)) continue;
      const run = serverRuns.findIndex((r) => r.startedAt <= delivery.at && delivery.at < r.killedAt);
      assert.ok(run >= 0, `delivery ${delivery.d} arrived while no server ran`);
      runOfName.set(name, run);
    }
    const serverRunOf = (d: Delivery) => runOfName.get(d.d.split('.')[0]!)!;
    for (const delivery of deliveries) delivery.end = Math.min(delivery.end, serverRuns[serverRunOf(delivery)]!.killedAt);
    assert.ok(runOfName.size >= SERVER_KILLS / 2, `deliveries came from only ${runOfName.size} server runs`);

    const missing: number[] = [];
    for (let s = 1; s <= head; s++) if (!ackedSequences.has(s)) missing.push(s);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${head} sequences were never acked`);
    const afterConfirm = deliveries.filter((d) => confirmedAt.has(d.s) && d.at > confirmedAt.get(d.s)!);
    assert.deepEqual(
      afterConfirm.slice(0, 5).map((d) => d.d),
      [],
      'an event was delivered again after its ack was confirmed',
    );

    const byTask = new Map<string, Delivery[]>();
    for (const d of deliveries) (byTask.get(d.t) ?? byTask.set(d.t, []).get(d.t)!).push(d);
    assert.equal(byTask.size, TASKS);
    let overlaps = 0;
    let outOfOrder = 0;
    const examples: string[] = [];
    for (const [task, list] of byTask) {
      list.sort((x, y) => x.at - y.at);
      for (let i = 1; i < list.length; i++) {
        const current = list[i]!;
        for (let j = i - 1; j >= 0; j--) {
          const previous = list[j]!;
          if (current.at < previous.end) {
            overlaps++;
            if (examples.length < 5)
              examples.push(`task ${task}: ${current.d} (member run ${current.run}) arrived while ${previous.d} (run ${previous.run}) was in flight`);
          }
        }
        const previous = list[i - 1]!;
        if (serverRunOf(previous) === serverRunOf(current) && current.s < previous.s) {
          outOfOrder++;
          if (examples.length < 5) examples.push(`task ${task}: ${current.d} arrived after ${previous.d} in one server run`);
        }
      }
    }
    assert.equal(overlaps, 0, `two events of one task were in flight at once: ${examples.join('; ')}`);
    assert.equal(outOfOrder, 0, `a task's events arrived out of order: ${examples.join('; ')}`);

    const attemptsOf = new Map<string, number[]>();
    for (const d of [...deliveries].sort((x, y) => x.at - y.at)) {
      const key = `${serverRunOf(d)}:${d.s}`;
      (attemptsOf.get(key) ?? attemptsOf.set(key, []).get(key)!).push(d.a);
    }
    let redelivered = 0;
    for (const [key, attempts] of attemptsOf) {
      for (let i = 1; i < attempts.length; i++)
        assert.ok(attempts[i]! > attempts[i - 1]!, `run:sequence ${key} was delivered with attempts ${attempts.join(', ')}`);
      if (attempts.some((a) => a > 1)) redelivered++;
    }
    assert.ok(redelivered > 0, `no event was redelivered within a server run, after ${memberKills} kills of members holding events`);
    assert.ok(memberKills >= 3, `only ${memberKills} member kills`);
    process.stderr.write(
      `group chaos: ${SERVER_KILLS} server kills, ${memberKills} member kills, ${head} events, ${deliveries.length} deliveries logged, ${redelivered} redelivered within a run\n`,
    );
  },
);
