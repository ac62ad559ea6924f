// The metrics sidecar as a real process: its gauges built from the stream's snapshot on a project
// that already has tasks (no ListTasks), kept from the changes after it, never counting an event
// twice across a server SIGKILL and restart (the reconnect resumes from the stream's position, the
// server's log shows no second snapshot), rebuilt from a new snapshot after its own SIGKILL, and its
// exposition accepted by the real `promtool check metrics`. Its label sets are bounded: 200
// assignees give the 50 busiest their own series and one "(other)" for the rest, 30 consumers with
// --top-consumers 5 give 5 per-consumer series and totals over all 30.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { RiggerClient } from '../../src/client/index';
import { requireTool, rigAsync, startServer, tempProject, waitFor } from '../support/processes';
import { metricsUrl, sample, scrape, startSidecar } from './sidecar-support';
import { addTaskToFile, setStatusInFile } from '../support/project-writes';

const DEBUG = { RIGGER_LOG_LEVEL: 'debug' };

/** The server's `subscription started` log lines (debug): what each stream asked for. */
function subscriptionsStarted(stderr: string): { since_sequence?: number; snapshot_sequence?: number; bookmark_interval_ms?: number }[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"subscription started"'))
    .map((line) => JSON.parse(line) as { since_sequence?: number; snapshot_sequence?: number; bookmark_interval_ms?: number });
}

function promtoolCheck(promtool: string, text: string): void {
  const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(result.status, 0, `promtool check metrics: ${result.stdout}${result.stderr}`);
}

test('metrics: gauges from the snapshot, event counters without double counting across a server SIGKILL, a new snapshot after a sidecar SIGKILL, promtool-valid', async (t) => {
  const promtool = requireTool(t, 'promtool', 'apt-get install prometheus');
  if (!promtool) return;
  const dir = tempProject();
  // History before the sidecar starts: only the snapshot can tell it.
  const alice = addTaskToFile(dir, 'alice', 'Alice');
  setStatusInFile(dir, alice, 'completed');
  const bob = addTaskToFile(dir, 'bob', 'Bob');
  const gone = addTaskToFile(dir, 'gone');
  const deleted = await rigAsync(['task', 'delete', gone, '-C', dir]);
  assert.equal(deleted.code, 0, deleted.stderr);

  let server = await startServer(dir, [], DEBUG);
  let sidecar = startSidecar('metrics', ['--address', server.address, '--listen', '127.0.0.1:0']);
  try {
    let url = await metricsUrl(sidecar);
    let text = await scrape(url);
    promtoolCheck(promtool, text);
    assert.equal(sample(text, 'rigger_tasks{status="COMPLETED"}'), 1);
    assert.equal(sample(text, 'rigger_tasks{status="TODO"}'), 1);
    assert.equal(sample(text, 'rigger_tasks{status="ARCHIVED"}'), 1, 'archived tasks are seeded too');
    assert.equal(sample(text, 'rigger_tasks_by_assignee{assignee="Alice"}'), 1);
    assert.equal(sample(text, 'rigger_tasks_by_assignee{assignee="Bob"}'), 1);
    assert.equal(sample(text, 'rigger_tasks_by_assignee{assignee=""}'), undefined, 'the archived unassigned task is not open work');
    assert.equal(sample(text, 'rigger_stream_connected'), 1);
    assert.equal(sample(text, 'rigger_last_event_sequence'), 6);
    assert.equal(sample(text, 'rigger_events_total{type="CREATED"}'), undefined, 'the snapshot is state, not counted as events');
    await waitFor(() => subscriptionsStarted(server.stderr()).length === 1, 5_000, 'the server logs the subscription');
    assert.deepEqual(
      subscriptionsStarted(server.stderr()).map((s) => [s.snapshot_sequence, s.since_sequence, s.bookmark_interval_ms]),
      [[6, undefined, 5000]],
      'one stream, a snapshot at 6, bookmarks every 5 s',
    );

    addTaskToFile(dir, 'carol', 'Carol');
    setStatusInFile(dir, bob, 'completed');
    await waitFor(async () => sample(await scrape(url), 'rigger_last_event_sequence') === 9, 15_000, 'sequence 9');
    text = await scrape(url);
    assert.equal(sample(text, 'rigger_events_total{type="CREATED"}'), 1);
    assert.equal(sample(text, 'rigger_events_total{type="UPDATED"}'), 1);
    assert.equal(sample(text, 'rigger_events_total{type="STATUS_CHANGED"}'), 1);
    assert.equal(sample(text, 'rigger_tasks{status="COMPLETED"}'), 2);
    assert.equal(sample(text, 'rigger_tasks{status="TODO"}'), 1);
    assert.equal(sample(text, 'rigger_tasks_by_assignee{assignee="Carol"}'), 1);
    assert.equal(sample(text, 'rigger_task_completion_seconds_count'), 1, 'bob went from creation to COMPLETED');

    // The server dies; a change lands meanwhile; the server returns on the same port.
    server.child.kill('SIGKILL');
    await waitFor(async () => sample(await scrape(url), 'rigger_stream_connected') === 0, 15_000, 'disconnected');
    addTaskToFile(dir, 'dave', 'Dave');
    server = await startServer(dir, ['--port', String(server.port)], DEBUG);
    await waitFor(async () => sample(await scrape(url), 'rigger_last_event_sequence') === 10, 20_000, 'sequence 10 after the restart');
    assert.deepEqual(
      subscriptionsStarted(server.stderr()).map((s) => [s.snapshot_sequence, s.since_sequence]),
      [[undefined, 9]],
      'the reconnect resumes after 9, no new snapshot',
    );
    addTaskToFile(dir, 'erin');
    await waitFor(async () => sample(await scrape(url), 'rigger_last_event_sequence') === 11, 15_000, 'sequence 11');
    text = await scrape(url);
    promtoolCheck(promtool, text);
    assert.equal(sample(text, 'rigger_events_total{type="CREATED"}'), 3, 'carol, dave, erin: each counted once');
    assert.equal(sample(text, 'rigger_events_total{type="UPDATED"}'), 1);
    assert.equal(sample(text, 'rigger_stream_connected'), 1);
    assert.ok((sample(text, 'rigger_stream_reconnects_total') ?? 0) >= 1);
    assert.equal(sample(text, 'rigger_tasks{status="TODO"}'), 3);

    // The sidecar dies; its replacement builds the same task counts from a new snapshot.
    sidecar.child.kill('SIGKILL');
    sidecar = startSidecar('metrics', ['--address', server.address, '--listen', '127.0.0.1:0']);
    url = await metricsUrl(sidecar);
    text = await scrape(url);
    promtoolCheck(promtool, text);
    assert.equal(sample(text, 'rigger_tasks{status="TODO"}'), 3);
    assert.equal(sample(text, 'rigger_tasks{status="COMPLETED"}'), 2);
    assert.equal(sample(text, 'rigger_tasks{status="ARCHIVED"}'), 1);
    assert.equal(sample(text, 'rigger_tasks_by_assignee{assignee="Dave"}'), 1);
    assert.equal(sample(text, 'rigger_last_event_sequence'), 11);

    assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr());
    await assert.rejects(fetch(url), 'the metrics port is closed after shutdown');
  } finally {
    await sidecar.stop('SIGKILL');
    await server.stop();
  }
});

/** Every labelled series of `name`, as `name{labels}` → value. */
function seriesOf(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const space = line.lastIndexOf(' ');
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

test('metrics: 200 assignees export the 50 busiest and "(other)"; 30 consumers with --top-consumers 5 export the 5 most lagging and totals', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = new RiggerClient({ address: server.address, actor: 'metrics-bounds-test' });
  const assignee = (i: number) => `a-${String(i).padStart(3, '0')}`;
  let sidecar: ReturnType<typeof startSidecar> | undefined;
  try {
    // a-000 .. a-049 have two open tasks, a-050 .. a-199 one: 250 tasks, 250 events.
    await Promise.all(Array.from({ length: 250 }, (_, i) => client.addTask({ title: `t${i}`, assignee: assignee(i % 200) })));
    // c-00 .. c-29 start at sequence 8 * i, the head being 250: lags 250, 242, ... 18.
    for (let i = 0; i < 30; i++) await client.createConsumer({ name: `c-${String(i).padStart(2, '0')}`, start_sequence: 8 * i });
    sidecar = startSidecar('metrics', ['--address', server.address, '--listen', '127.0.0.1:0', '--top-consumers', '5', '--consumers-interval-ms', '100']);
    const url = await metricsUrl(sidecar);
    let text = '';
    await waitFor(async () => sample((text = await scrape(url)), 'rigger_consumers') === 30, 15_000, 'the consumers listed');

    const byAssignee = seriesOf(text, 'rigger_tasks_by_assignee');
    assert.equal(byAssignee.size, 51, 'the default --top-assignees 50, and one (other)');
    for (let i = 0; i < 50; i++) assert.equal(byAssignee.get(`rigger_tasks_by_assignee{assignee="${assignee(i)}"}`), 2, assignee(i));
    assert.equal(byAssignee.get('rigger_tasks_by_assignee{assignee="(other)"}'), 150);
    assert.equal(sample(text, 'rigger_assignees'), 200);

    assert.deepEqual(
      seriesOf(text, 'rigger_consumer_lag'),
      new Map(Array.from({ length: 5 }, (_, i) => [`rigger_consumer_lag{consumer="c-0${i}"}`, 250 - 8 * i])),
      'the 5 most lagging',
    );
    assert.equal(seriesOf(text, 'rigger_consumer_in_flight').size, 5);
    assert.equal(sample(text, 'rigger_consumers_max_lag'), 250);
    assert.equal(
      sample(text, 'rigger_consumers_total_lag'),
      Array.from({ length: 30 }, (_, i) => 250 - 8 * i).reduce((a, b) => a + b),
    );
    assert.equal(sample(text, 'rigger_consumers_lost'), 0);
    assert.equal(sample(text, 'rigger_consumers_dead_letters'), 0);
  } finally {
    await sidecar?.stop('SIGKILL');
    await client.close();
    await server.stop();
  }
});

test('metrics: `rig sidecar metrics` refuses a bad --top-assignees with one line', async () => {
  const result = await rigAsync(['sidecar', 'metrics', '--address', '127.0.0.1:1', '--top-assignees', '-1']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^rig: --top-assignees must be a whole number from 0 to 10000, got -1$/m);
});

test('metrics: `rig sidecar metrics` refuses a bad --listen with one line', async () => {
  const result = await rigAsync(['sidecar', 'metrics', '--address', '127.0.0.1:1', '--listen', 'nonsense']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^rig: --listen must be host:port/m);
});
