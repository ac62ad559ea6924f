// Randomized (seeded, bounded): 20 subscribers with random filters connect, disconnect and resume
// with since_sequence at random points while random gRPC and CLI mutations run against a server
// whose replay buffer holds only 16 events. Each subscriber's received sequence list, across all
// its streams, must equal the SQLite log filtered by its filter after its start point.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { rigAsync, startServer, tempProject } from '../support/processes';
import { seededRandom } from '../support/seeded-random';
import { readLog, ResumingSubscriber, sequences, sleep, type Filter } from './hub-support';

const SEED = Number(process.env.RIGGER_TEST_SEED ?? 20261123);
const SUBSCRIBERS = 20;
const MUTATIONS = 400;
const CLI_MUTATIONS = 8;
const PEOPLE = ['Alice', 'Bob', 'Carol'];

test(`random subscribers resuming at random points see exactly their filtered log (seed ${SEED})`, { timeout: 240_000 }, async (t) => {
  t.diagnostic(`seed ${SEED}; rerun with RIGGER_TEST_SEED=${SEED}`);
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const chance = (p: number) => random() < p;
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '16']);
  const client = connect(server.address);
  try {
    const taskIds: string[] = [];
    for (let i = 0; i < 10; i++) taskIds.push((await call(client, 'AddTask', { title: `seed ${i}`, assignee: pick(PEOPLE) })).task.id);

    const randomFilter = (): Filter => ({
      ...(chance(0.5) && { event_types: [1, 2, 3, 4, 5].filter(() => chance(0.5)) }),
      ...(chance(0.4) && { assignee_filter: pick(PEOPLE) }),
      ...(chance(0.3) && { statuses: [1, 2, 9].filter(() => chance(0.5)) }),
      ...(chance(0.2) && { task_ids: [pick(taskIds), pick(taskIds)] }),
    });
    const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => {
      // A third start live, a third replay everything, a third resume from a random earlier point.
      const start = i % 3 === 0 ? undefined : i % 3 === 1 ? 0 : between(0, 10);
      return new ResumingSubscriber(client, randomFilter(), start);
    });

    let writing = true;
    // Each subscriber's own schedule, drawn up front so the run does not depend on timing.
    const churn = subscribers.map(async (subscriber) => {
      const plan = Array.from({ length: 40 }, () => ({ online: between(10, 250), offline: between(0, 200) }));
      for (const { online, offline } of plan) {
        if (!writing) break;
        await subscriber.connect();
        await sleep(online);
        await subscriber.disconnect();
        await sleep(offline); // long enough, often, to fall more than 16 events behind
      }
    });

    const mutate = async () => {
      if (chance(0.25)) {
        const { task } = await call(client, 'AddTask', { title: 'random', ...(chance(0.8) && { assignee: pick(PEOPLE) }) });
        taskIds.push(task.id);
      } else if (chance(0.1)) {
        await call(client, 'DeleteTask', { task_id: pick(taskIds) });
      } else {
        await call(client, 'UpdateTask', {
          task_id: pick(taskIds),
          ...(chance(0.7) && { status: pick([1, 2, 9]) }),
          ...(chance(0.5) && { assignee: pick(PEOPLE) }),
        });
      }
    };
    const cliMutations = Array.from({ length: CLI_MUTATIONS }, (_, i) =>
      i % 2 === 0
        ? ['task', 'add', `from the CLI ${i}`, '--assignee', pick(PEOPLE), '-C', dir]
        : ['task', 'update', pick(taskIds.slice(0, 10)), '--status', pick(['todo', 'in_progress', 'completed']), '--assignee', pick(PEOPLE), '-C', dir],
    );
    const writers = async () => {
      const cli = (async () => {
        for (const args of cliMutations) {
          const result = await rigAsync(args);
          assert.equal(result.code, 0, result.stderr);
        }
      })();
      for (let i = 0; i < MUTATIONS; i++) {
        await mutate();
        if (i % 20 === 0) await sleep(between(5, 60));
      }
      await cli;
    };
    await writers();
    writing = false;
    await Promise.all(churn);

    // Every subscriber comes back once more and catches up to the end of the log.
    const log = readLog(dir);
    await Promise.all(subscribers.map((s) => s.connect()));
    // A bookmark at the log's end: each has had every event of its filter, so any extra or repeat came before it.
    const head = log.at(-1)!.sequence;
    await Promise.all(subscribers.map((s) => s.caughtUp(head, 30_000)));
    for (const s of subscribers) await s.disconnect();

    let resumedBehindBuffer = 0;
    subscribers.forEach((subscriber, i) => {
      assert.deepEqual(subscriber.errors, [], `subscriber ${i} had stream errors`);
      assert.deepEqual(
        sequences(subscriber.received),
        sequences(subscriber.expected(log)),
        `subscriber ${i} ${JSON.stringify(subscriber.filter)} from ${subscriber.startAfter}: no gap, no duplicate, in order`,
      );
      if (subscriber.startAfter !== undefined && log.length - subscriber.startAfter > 16) resumedBehindBuffer++;
    });
    assert.ok(log.length > MUTATIONS, `the log has ${log.length} events`);
    assert.ok(resumedBehindBuffer >= SUBSCRIBERS / 2, 'most subscribers started further back than the 16-event buffer');
  } finally {
    client.close();
    await server.stop();
  }
});
