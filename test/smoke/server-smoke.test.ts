import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, collectEvents, connect } from '../support/client';
import { rig, startServer, tempProject } from '../support/processes';

test('a CLI-added task reaches a live subscriber of the real server', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const sub = collectEvents(client, {});
    await sub.ready;
    const added = rig(['task', 'add', 'smoke', '--assignee', 'Alice', '--json', '-C', dir]);
    assert.equal(added.code, 0, added.stderr);
    const [event] = await sub.waitForCount(1);
    assert.equal(event!.task.title, 'smoke');
    const listed = await call(client, 'ListTasks', {});
    assert.equal(listed.total_count, 1);
    sub.cancel();
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
