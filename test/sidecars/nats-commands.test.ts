// `rig sidecar nats-commands` as a real process between a real `nats-server` and a real `rig grpc`
// that requires a token: commands sent as NATS requests to rigger.<project>.commands are applied
// through the hub (its event stream shows them) and answered with the result; bad commands get a
// clear error reply and change nothing; without the token the hub's refusal is the reply.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { connect as connectNats, type NatsConnection } from 'nats';
import { RiggerClient } from '../../src/client/index';
import { REPO_ROOT, requireTool, spawnCollected, startServer, tempProject, waitFor } from '../support/processes';
import { natsServerAt } from './nats-support';

const TOKEN = 'nats-commands-test-token-8d2e';

interface Reply {
  ok: boolean;
  response?: { task?: { id: string; title: string; status: number | string; assignee?: string }; success?: boolean };
  error?: { code: string; message: string };
}

async function request(nc: NatsConnection, subject: string, body: string): Promise<Reply> {
  const message = await nc.request(subject, new TextEncoder().encode(body), { timeout: 10_000 });
  return JSON.parse(new TextDecoder().decode(message.data)) as Reply;
}

function startCommands(args: string[]) {
  return spawnCollected(process.execPath, [path.join(REPO_ROOT, 'dist', 'sidecars', 'nats-commands.js'), ...args], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'info' },
  });
}

test(
  'nats-commands: AddTask, UpdateTask, GetTask and DeleteTask over NATS, applied through the hub with its token; bad commands get one clear error each',
  { timeout: 60_000 },
  async (t) => {
    const binary = requireTool(t, 'nats-server', 'apt-get install nats-server');
    if (!binary) return;
    const nats = await natsServerAt(binary, { jetstream: false });
    await nats.start();
    const server = await startServer(tempProject(), ['--token', TOKEN]);
    const hub = new RiggerClient({ address: server.address, connect: { token: TOKEN } });
    const events: { sequence: number; type: number; title: string }[] = [];
    const feed = hub
      .subscribe({ sinceSequence: 0 })
      .subscribe({ next: (e) => void events.push({ sequence: e.sequence, type: e.event_type as number, title: e.task.title }) });
    const sidecar = startCommands(['--address', server.address, '--token', TOKEN, '--nats', nats.url, '--project', 'remote']);
    const tokenless = startCommands(['--address', server.address, '--nats', nats.url, '--project', 'tokenless']);
    const nc = await connectNats({ servers: nats.url });
    try {
      await waitFor(
        () => /ready: applying commands/.test(sidecar.stderr()) && /ready: applying commands/.test(tokenless.stderr()),
        20_000,
        `both sidecars ready; stderr: ${sidecar.stderr()}${tokenless.stderr()}`,
      );
      // Interest on the subject is registered once the subscription reaches the server: ask until one answers.
      let added: Reply | undefined;
      await waitFor(
        async () =>
          (added = await request(
            nc,
            'rigger.remote.commands',
            JSON.stringify({ command: 'AddTask', request: { title: 'from afar', assignee: 'Alice' } }),
          ).catch(() => undefined)) !== undefined,
        10_000,
        'a first reply',
      );
      assert.equal(added!.ok, true, JSON.stringify(added));
      const id = added!.response!.task!.id;
      assert.equal(added!.response!.task!.title, 'from afar');

      const updated = await request(
        nc,
        'rigger.remote.commands',
        JSON.stringify({ command: 'UpdateTask', request: { taskId: id, status: 'TASK_STATUS_IN_PROGRESS' } }),
      );
      assert.equal(updated.ok, true, JSON.stringify(updated));
      assert.equal((await hub.getTask({ task_id: id })).task!.status, 2, 'applied through the hub (IN_PROGRESS)');
      const got = await request(nc, 'rigger.remote.commands', JSON.stringify({ command: 'GetTask', request: { task_id: id } }));
      assert.equal(got.response!.task!.assignee, 'Alice');

      // Bad commands: each a one-line reason and the shape of a good one; nothing written.
      const before = (await hub.getLog()).newest_sequence;
      const notJson = await request(nc, 'rigger.remote.commands', 'add a task please');
      assert.equal(notJson.ok, false);
      assert.equal(notJson.error!.code, 'INVALID_ARGUMENT');
      assert.match(
        notJson.error!.message,
        /^the command is not JSON .*; a command is \{"command": "AddTask" \| "UpdateTask" \| "DeleteTask" \| "GetTask", "request"/,
      );
      const unknown = await request(nc, 'rigger.remote.commands', JSON.stringify({ command: 'DropDatabase' }));
      assert.match(unknown.error!.message, /^unknown command "DropDatabase"; a command is/);
      const badRequest = await request(nc, 'rigger.remote.commands', JSON.stringify({ command: 'AddTask', request: ['title'] }));
      assert.match(badRequest.error!.message, /^"request" of AddTask must be a JSON object/);
      const missing = await request(nc, 'rigger.remote.commands', JSON.stringify({ command: 'UpdateTask', request: { task_id: 'no-such-task', status: 2 } }));
      assert.equal(missing.error!.code, 'NOT_FOUND', JSON.stringify(missing));
      const untitled = await request(nc, 'rigger.remote.commands', JSON.stringify({ command: 'AddTask', request: {} }));
      assert.equal(untitled.error!.code, 'INVALID_ARGUMENT', JSON.stringify(untitled));
      assert.equal((await hub.getLog()).newest_sequence, before, 'a refused command writes nothing');

      // Without the token, the hub refuses, and the reply says so.
      const refused = await request(nc, 'rigger.tokenless.commands', JSON.stringify({ command: 'AddTask', request: { title: 'no token' } }));
      assert.equal(refused.error!.code, 'UNAUTHENTICATED', JSON.stringify(refused));

      const deleted = await request(nc, 'rigger.remote.commands', JSON.stringify({ command: 'DeleteTask', request: { task_id: id } }));
      assert.equal(deleted.response!.success, true);
      // The hub's own stream shows the remote writes, in order: created, the update's events, deleted.
      await waitFor(() => events.some((e) => e.type === 3), 10_000, 'the DELETED event');
      assert.deepEqual(
        events.map((e) => e.type),
        [1, ...events.slice(1, -1).map((e) => e.type), 3],
      );
      assert.ok(
        events.slice(1, -1).some((e) => e.type === 4),
        'STATUS_CHANGED from the UpdateTask command',
      );
      assert.match(sidecar.stderr(), /"msg":"command refused"/);
    } finally {
      feed.unsubscribe();
      await nc.close();
      sidecar.child.kill('SIGTERM');
      tokenless.child.kill('SIGTERM');
      await hub.close();
      await server.stop();
      await nats.stop();
    }
  },
);
