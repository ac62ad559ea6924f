// `rig events` asks for bookmarks (--bookmark-interval-ms, default 5000) and prints none of them:
// one line per event in both formats. A bookmark moves the --since its failure message names, and
// a server that goes silent (SIGSTOP) ends it with that hint instead of leaving it hanging.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RiggerClient } from '../../src/client/index';
import { RIG_BIN, rigAsync, spawnCollected, startServer, tempProject, waitFor } from '../support/processes';

const INTERVAL_MS = 200;

function rigEvents(dir: string, address: string, args: string[]) {
  return spawnCollected(process.execPath, [RIG_BIN, 'events', '-C', dir, '--address', address, ...args], { env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' } });
}

test('rig events prints one line per event and nothing for the bookmarks between them (human and --json)', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = new RiggerClient({ address: server.address });
  const human = rigEvents(dir, server.address, ['--since', '0', '--bookmark-interval-ms', String(INTERVAL_MS)]);
  const json = rigEvents(dir, server.address, ['--since', '0', '--json', '--bookmark-interval-ms', String(INTERVAL_MS)]);
  try {
    await client.addTask({ title: 'one' });
    await waitFor(() => human.stdout().includes('\n') && json.stdout().includes('\n'), 10_000, 'the event printed');
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 8)); // several bookmarks go by
    await client.addTask({ title: 'two' });
    await waitFor(() => human.stdout().split('\n').length === 3 && json.stdout().split('\n').length === 3, 10_000, 'the second event printed');
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 3));
    human.child.kill('SIGINT');
    json.child.kill('SIGINT');
    assert.equal(await human.exited, 0, human.stderr());
    assert.equal(await json.exited, 0, json.stderr());
    const humanLines = human.stdout().trimEnd().split('\n');
    assert.equal(humanLines.length, 2, human.stdout());
    assert.match(humanLines[0]!, /^#1 \S+ CREATED \S+ "one"/);
    assert.match(humanLines[1]!, /^#2 \S+ CREATED \S+ "two"/);
    const jsonLines = json
      .stdout()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { sequence: number; event_type: string });
    assert.deepEqual(
      jsonLines.map((e) => [e.sequence, e.event_type]),
      [
        [1, 'CREATED'],
        [2, 'CREATED'],
      ],
    );
    assert.doesNotMatch(human.stdout() + json.stdout(), /BOOKMARK/);
  } finally {
    human.child.kill('SIGKILL');
    json.child.kill('SIGKILL');
    await client.close();
    await server.stop();
  }
});

test('rig events on a server that goes silent ends with exit 1 and the --since a bookmark moved it to', async (t) => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = new RiggerClient({ address: server.address });
  await client.addTask({ title: 'matching', assignee: 'Alice' }); // 1
  await client.addTask({ title: 'other' }); // 2
  const events = rigEvents(dir, server.address, ['--since', '0', '--assignee', 'Alice', '--bookmark-interval-ms', String(INTERVAL_MS)]);
  let stopped = false;
  try {
    await waitFor(() => events.stdout().includes('#1 '), 10_000, 'the matching event');
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 3)); // a bookmark at 2
    server.child.kill('SIGSTOP');
    stopped = true;
    const stoppedAt = Date.now();
    const code = await Promise.race([events.exited, new Promise<string>((r) => setTimeout(() => r('still running'), INTERVAL_MS * 10))]);
    const ms = Date.now() - stoppedAt;
    t.diagnostic(`rig events ended ${ms} ms after SIGSTOP: ${events.stderr().trim()}`);
    assert.equal(code, 1, events.stderr());
    assert.match(
      events.stderr(),
      /^rig: no message from the server at 127\.0\.0\.1:\d+ for \d+ ms \(bookmarks every 200 ms\): the connection looks dead; resume with --since 2 --since-log [0-9a-f]{16}\n$/,
    );
    assert.equal(events.stdout().trimEnd().split('\n').length, 1);
  } finally {
    if (stopped) server.child.kill('SIGCONT');
    events.child.kill('SIGKILL');
    await client.close();
    await server.stop();
  }
});

test('rig events refuses a bookmark interval the server would refuse, naming the flag', async () => {
  const dir = tempProject();
  const result = await rigAsync(['events', '-C', dir, '--address', '127.0.0.1:1', '--bookmark-interval-ms', '50']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^rig: --bookmark-interval-ms must be 0 \(no bookmarks\) or a whole number of ms from 100 to 3600000, got 50\n$/);
});
