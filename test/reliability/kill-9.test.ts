// kill -9 while many writers are mid-flight, several times over: after each restart the database
// is intact, every acknowledged write is there, and no task or event exists without the other.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import { startServer, tempProject } from '../support/processes';
import { assertConsistent } from './db-check';
import { seededRandom } from '../support/seeded-random';

const CYCLES = 5;
const WRITERS = 8;

function unary(client: grpc.Client, method: string, request: object): Promise<any> {
  return new Promise((resolve, reject) =>
    (client as any)[method](request, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))),
  );
}

test(`SIGKILL at random moments under ${WRITERS} concurrent writers, ${CYCLES} times: no partial task or event, every acknowledged write kept`, async (t) => {
  const seed = Number(process.env.RIGGER_TEST_SEED ?? 20261123);
  t.diagnostic(`seed ${seed} (set RIGGER_TEST_SEED to repeat)`);
  const random = seededRandom(seed);
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  /** Task id -> the highest version a writer was told was committed. */
  const acknowledged = new Map<string, number>();
  let inFlightAtKill = 0;

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const server = await startServer(dir);
    const client = connectService(server.address);
    if (cycle > 0) {
      // The restarted server serves everything acknowledged before the previous kill.
      for (const [id, version] of acknowledged) {
        const { task } = await unary(client, 'GetTask', { task_id: id });
        assert.ok(task.version >= version, `task ${id} lost acknowledged version ${version} (has ${task.version})`);
      }
      assertConsistent(dbFile, assert);
    }
    let running = true;
    let inFlight = 0;
    const writer = async () => {
      const own: string[] = [];
      while (running) {
        inFlight++;
        try {
          if (own.length === 0 || random() < 0.5) {
            const { task } = await unary(client, 'AddTask', { title: `cycle ${cycle}`, assignee: random() < 0.5 ? 'Alice' : 'Bob' });
            own.push(task.id);
            acknowledged.set(task.id, task.version);
          } else {
            const id = own[Math.floor(random() * own.length)]!;
            const { task } = await unary(client, 'UpdateTask', {
              task_id: id,
              status: 1 + Math.floor(random() * 9),
              assignee: random() < 0.5 ? 'Carol' : 'Dan',
            });
            acknowledged.set(id, Math.max(acknowledged.get(id) ?? 0, task.version));
          }
        } catch {
          running = false; // the server is gone
        } finally {
          inFlight--;
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, writer);
    await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 1200)));
    inFlightAtKill += inFlight;
    server.child.kill('SIGKILL');
    await Promise.all(writers);
    client.close();
    await server.stop();
  }

  // A last restart recovers the WAL the way a user's would; then check the file.
  const server = await startServer(dir);
  const started = Date.now();
  const code = await server.stop();
  assert.equal(
    code,
    0,
    `the restarted server exited ${code} (signal ${server.child.signalCode}) after ${Date.now() - started} ms; stdout: ${server.stdout()} stderr: ${server.stderr()}`,
  );
  const check = assertConsistent(dbFile, assert);
  assert.ok(check.tasks >= acknowledged.size, `${check.tasks} tasks, but ${acknowledged.size} were acknowledged`);
  t.diagnostic(`${check.tasks} tasks, ${check.events} events after ${CYCLES} kills; ${inFlightAtKill} calls were in flight at the kills`);
});
