// When the typed client reopens a lost stream. Its backoff is the longest it waits; once the
// channel has failed to connect and then connects again (the server is back) it reopens at once,
// whatever the delay it announced; and a server that keeps ending streams while its connection is
// fine is retried at the backoff's pace, never in a loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RiggerClient, type StreamStatus, type TaskEvent } from '../../src/client/index';
import { loadProto } from '../../src/protocol/proto';
import { addTaskByCli, restartServer } from '../sidecars/sidecar-support';
import { startServer, tempProject, waitFor } from '../support/processes';

test('a subscription whose own backoff says 20 s reopens within a second or so of the server answering again', async (t) => {
  const dir = tempProject();
  let server = await startServer(dir);
  const client = new RiggerClient({ address: server.address });
  const events: { event: TaskEvent; at: number }[] = [];
  const statuses: StreamStatus[] = [];
  const subscription = client
    .subscribe({ sinceSequence: 0, backoff: { initialDelayMs: 20_000, maxDelayMs: 20_000 }, onStatus: (s) => statuses.push(s) })
    .subscribe({ next: (event) => events.push({ event, at: Date.now() }) });
  try {
    await waitFor(() => statuses.some((s) => s.state === 'connected'), 10_000, 'connected');
    server.child.kill('SIGKILL');
    await waitFor(() => server.child.signalCode !== null, 5_000, 'server death');
    await addTaskByCli(dir, 'while down');
    await new Promise((r) => setTimeout(r, 2000));
    server = await restartServer(server);
    const backAt = Date.now();
    await waitFor(() => events.length === 1, 10_000, 'the event written while down');
    const lost = statuses.find((s) => s.state === 'disconnected');
    assert.ok(lost && lost.state === 'disconnected' && lost.retryInMs >= 10_000, `the announced delay: ${JSON.stringify(lost)}`);
    const ms = events[0]!.at - backAt;
    t.diagnostic(`resumed ${ms} ms after the server answered (announced delay ${lost.retryInMs} ms)`);
    assert.ok(ms < 3000, `resumed ${ms} ms after the server answered`);
    assert.equal(events[0]!.event.task.title, 'while down');
  } finally {
    subscription.unsubscribe();
    await client.close();
    await server.stop();
  }
});

test('a server that ends every stream with UNAVAILABLE on a healthy connection is retried at the backoff pace', async (t) => {
  const server = new grpc.Server();
  let calls = 0;
  const { grpcObject } = loadProto();
  const unavailable = { code: grpc.status.UNAVAILABLE, details: 'not today' };
  server.addService(grpcObject.rigger.v1.RiggerService.service, {
    SubscribeToTaskEvents: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      calls++;
      call.emit('error', unavailable);
    },
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const client = new RiggerClient({ address: `127.0.0.1:${port}` });
  const subscription = client.subscribe({ sinceSequence: 0, backoff: { initialDelayMs: 200, maxDelayMs: 400 } }).subscribe({ error: () => undefined });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    t.diagnostic(`${calls} streams opened in 2 s`);
    // Delays of 100-200, 200-400, then 200-400 ms: about 7 attempts in 2 s, never more than 11.
    assert.ok(calls >= 3 && calls <= 11, `${calls} streams opened in 2 s`);
  } finally {
    subscription.unsubscribe();
    await client.close();
    server.forceShutdown();
  }
});
