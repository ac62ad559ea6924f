// The acceptance check with a Go client that knows the schema only from reflection (buf
// curl, like grpcurl): a subscriber with the contract's filter example sees exactly the matching
// events while another session adds and updates tasks with the same tool and with the CLI.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, rigAsync, spawnTracked, startServer, tempProject, waitFor } from '../support/processes';
import { matches, readLog } from './hub-support';

const BUF = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');

function bufCurl(port: number, method: string, body: object) {
  const child = spawnTracked(BUF, [
    'curl',
    '--protocol',
    'grpc',
    '--http2-prior-knowledge',
    '-d',
    JSON.stringify(body),
    `http://127.0.0.1:${port}/rigger.v1.RiggerService/${method}`,
  ]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

test('buf curl subscribed with {"event_types":[1,2,3],"assignee_filter":"Alice"} sees exactly the matching events', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, [], { RIGGER_LOG_LEVEL: 'debug' });
  try {
    const filter = { event_types: [1, 2, 3], assignee_filter: 'Alice' };
    const subscriber = bufCurl(server.port, 'SubscribeToTaskEvents', filter);
    await waitFor(() => server.stderr().includes('"msg":"subscription started"'), 30_000, 'the buf curl subscription');

    const added = bufCurl(server.port, 'AddTask', { title: 'Implement OAuth2 authentication', assignee: 'Alice', due_date: '2025-12-31' });
    assert.equal(await added.exited, 0, added.stderr());
    const id = JSON.parse(added.stdout()).task.id as string;
    const updated = bufCurl(server.port, 'UpdateTask', { task_id: id, status: 2 });
    assert.equal(await updated.exited, 0, updated.stderr());
    for (const args of [
      ['task', 'update', id, '--assignee', 'Bob'],
      ['task', 'add', "Bob's own", '--assignee', 'Bob'],
      ['task', 'add', 'Alice again', '--assignee', 'Alice'],
    ]) {
      const result = await rigAsync([...args, '-C', dir]);
      assert.equal(result.code, 0, result.stderr);
    }
    const deleted = bufCurl(server.port, 'DeleteTask', { task_id: id }); // Bob's now: not Alice's
    assert.equal(await deleted.exited, 0, deleted.stderr());

    // A task of hers written last: once buf curl has printed its event, it has printed all before it.
    const sentinel = bufCurl(server.port, 'AddTask', { title: 'sentinel', assignee: 'Alice' });
    assert.equal(await sentinel.exited, 0, sentinel.stderr());
    const expected = readLog(dir).filter((e) => matches(filter, e));
    const seen = () => [...subscriber.stdout().matchAll(/^ {2}"sequence": "(\d+)"/gm)].map((m) => Number(m[1]));
    await waitFor(() => seen().includes(expected.at(-1)!.sequence), 20_000, 'the sentinel in buf curl output');
    assert.deepEqual(
      seen(),
      expected.map((e) => e.sequence),
    );
    assert.deepEqual(
      [...subscriber.stdout().matchAll(/^ {2}"eventType": "(\w+)"/gm)].map((m) => m[1]),
      ['TASK_EVENT_TYPE_CREATED', 'TASK_EVENT_TYPE_UPDATED', 'TASK_EVENT_TYPE_UPDATED', 'TASK_EVENT_TYPE_CREATED', 'TASK_EVENT_TYPE_CREATED'],
      'created, status change, the move away from Alice, the CLI-added task of hers, the sentinel',
    );
    subscriber.child.kill('SIGTERM');
    await subscriber.exited;
  } finally {
    await server.stop();
  }
});
