// The NATS bridge as a real process between the real `rig grpc` and a real `nats-server -js`:
// two bridges racing, SIGKILLs and restarts of the bridge and the server, changes while either is
// down; the JetStream stream must hold every event exactly once, in order, on the right subject.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect as connectNats, type NatsConnection } from 'nats';
import { requireTool, spawnTracked, startServer, tempDir, tempProject, waitFor } from '../support/processes';
import { addTaskByCli, assertExactlyOnceInOrder, restartServer, setStatusByCli, startSidecar, type SidecarProcess } from './sidecar-support';

interface StoredEvent {
  subject: string;
  msgId: string | undefined;
  sequence: number;
  event_type: number;
  taskId: string;
}

async function startNats(natsServer: string): Promise<string> {
  const store = tempDir('rigger-nats-');
  const child = spawnTracked(natsServer, ['-js', '-a', '127.0.0.1', '-p', '-1', '-sd', store]);
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  child.stdout!.on('data', (d) => (log += d));
  await waitFor(() => /Server is ready/.test(log), 15_000, 'nats-server ready');
  const port = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(log)![1];
  return `nats://127.0.0.1:${port}`;
}

async function readStream(nc: NatsConnection, stream: string): Promise<StoredEvent[]> {
  const jsm = await nc.jetstreamManager();
  let info;
  try {
    info = await jsm.streams.info(stream);
  } catch {
    return [];
  }
  const stored: StoredEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const message = await jsm.streams.getMessage(stream, { seq });
    const text = new TextDecoder().decode(message.data);
    assert.doesNotMatch(text, /"_[a-z_]+":/, 'no proto-loader oneof markers in the payload');
    const event = JSON.parse(text) as { sequence: number; event_type: number; task: { id: string } };
    stored.push({ subject: message.subject, msgId: message.header?.get('Nats-Msg-Id'), sequence: event.sequence, event_type: event.event_type, taskId: event.task.id });
  }
  return stored;
}

async function waitForStored(nc: NatsConnection, n: number, bridges: SidecarProcess[]): Promise<void> {
  try {
    await waitFor(async () => (await readStream(nc, 'RIGGER_TASKS')).length >= n, 20_000, `${n} messages in RIGGER_TASKS`);
  } catch (error) {
    const have = (await readStream(nc, 'RIGGER_TASKS')).map((s) => s.sequence);
    throw new Error(`${(error as Error).message}; have ${JSON.stringify(have)}; bridge stderr:\n${bridges.map((b) => b.stderr()).join('\n---\n')}`);
  }
}

test('nats-bridge: every event exactly once and in order in JetStream across racing bridges, SIGKILLs and server restarts', async (t) => {
  const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsServer) return;
  const natsUrl = await startNats(natsServer);
  const nc = await connectNats({ servers: natsUrl });
  const dir = tempProject();
  const first = await addTaskByCli(dir, 'before the bridge', 'Alice');
  await setStatusByCli(dir, first, 'in_progress'); // events 1..3
  let server = await startServer(dir);
  const args = () => ['--address', server.address, '--nats', natsUrl, '--since', '0'];
  // Two bridges at once, both replaying from 0: the message ids keep the stream free of repeats.
  let bridge = startSidecar('nats-bridge', args());
  const twin = startSidecar('nats-bridge', args(), 'rig');
  try {
    await waitForStored(nc, 3, [bridge, twin]);
    await addTaskByCli(dir, 'seen by both bridges'); // 4
    await waitForStored(nc, 4, [bridge, twin]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await twin.stop('SIGTERM'), 0, twin.stderr());

    // The bridge dies hard; a change; it comes back and resumes from the stream's last message.
    bridge.child.kill('SIGKILL');
    await waitFor(() => bridge.child.signalCode !== null, 5_000, 'bridge death');
    await addTaskByCli(dir, 'while the bridge is down'); // 5
    bridge = startSidecar('nats-bridge', args());
    await waitForStored(nc, 5, [bridge]);

    // The server stops, then later dies hard; changes land while it is down.
    assert.equal(await server.stop('SIGTERM'), 0);
    await addTaskByCli(dir, 'while the server is down'); // 6
    server = await restartServer(server);
    await waitForStored(nc, 6, [bridge]);
    server.child.kill('SIGKILL');
    await waitFor(() => server.child.signalCode !== null, 5_000, 'server death');
    await setStatusByCli(dir, first, 'completed'); // 7, 8
    server = await restartServer(server);
    await waitForStored(nc, 8, [bridge]);
    await new Promise((r) => setTimeout(r, 500)); // a repeat would land now

    assert.equal(await bridge.stop('SIGTERM'), 0, bridge.stderr());
    const stored = await readStream(nc, 'RIGGER_TASKS');
    assertExactlyOnceInOrder(stored.map((s) => s.sequence), 8);
    assert.deepEqual(stored.map((s) => s.msgId), stored.map((s) => String(s.sequence)), 'Nats-Msg-Id is the sequence');
    assert.equal(stored[0]!.subject, `rigger.tasks.created.${first}`);
    assert.equal(stored[1]!.subject, `rigger.tasks.updated.${first}`);
    assert.equal(stored[2]!.subject, `rigger.tasks.status_changed.${first}`);
    for (const s of stored) assert.match(s.subject, new RegExp(`^rigger\\.tasks\\.[a-z_]+\\.${s.taskId}$`));
    const jsm = await nc.jetstreamManager();
    assert.deepEqual((await jsm.streams.info('RIGGER_TASKS')).config.subjects, ['rigger.tasks.>'], 'the bridge created the stream');
  } finally {
    await twin.stop('SIGKILL');
    await bridge.stop('SIGKILL');
    await nc.close();
    await server.stop();
  }
});
