// `rig status` and GetHubStatus against a real server with real sidecars: a logger, a board, a NATS
// bridge (real nats-server) and a consumer group of two loggers. Each shows with its client name
// and lag, the lags fall to 0 once writes stop; the same through buf curl (reflection); a read-only
// token reads it, no token secret appears, bad requests get INVALID_ARGUMENT; /metrics counts the
// streams per client; `rig status --watch` refreshes and exits 0 on SIGINT.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectService, RiggerClient } from '../../src/client/index';
import { freePort, REPO_ROOT, RIG_BIN, requireTool, rigAsync, spawnCollected, startServer, tempDir, tempProject, waitFor } from '../support/processes';
import { natsServerAt } from '../sidecars/nats-support';
import { boardUrl } from '../sidecars/board-support';
import { sample, startSidecar, type SidecarProcess } from '../sidecars/sidecar-support';

const WRITE = 'status-rw-token-0123456789';
const READ = 'status-ro-token-0123456789';
const BUF = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');
const WRITES = 300;
const STALL_WRITES = 3000;

interface StatusStream {
  kind: string;
  client_name: string;
  peer: string;
  position: number | null;
  lag: number;
  consumer: string;
  bookmark_interval_ms: number;
  bytes_queued: number;
  filter: { event_types: string[]; assignee_filter?: string };
}
interface StatusConsumer {
  name: string;
  lag: number;
  members: number;
  acked_sequence: number;
}
interface Status {
  server: { version: string; uptime_ms: number; pid: number };
  log: { log_id: string; oldest_sequence: number; newest_sequence: number };
  head_sequence: number;
  database_bytes: number;
  wal_bytes: number;
  streams: StatusStream[];
  stream_count: number;
  consumers: StatusConsumer[];
  consumer_count: number;
}

async function rigStatus(address: string, token = READ): Promise<{ status: Status; stdout: string }> {
  const result = await rigAsync(['status', '--json', '--address', address, '--token', token], { timeoutMs: 30_000 });
  assert.equal(result.code, 0, result.stderr);
  return { status: JSON.parse(result.stdout) as Status, stdout: result.stdout };
}

const named = (status: Status, kind: string) => status.streams.filter((s) => s.client_name.startsWith(`${kind}/`));

test('rig status and GetHubStatus show every sidecar with its name and lag, which falls to 0 once writes stop', { timeout: 240_000 }, async (t) => {
  const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsServer) return;
  const nats = await natsServerAt(natsServer);
  await nats.start();
  const dir = tempProject();
  const work = tempDir('rigger-status-');
  const server = await startServer(dir, ['--token', WRITE, '--read-only-token', READ, '--http-listen', '127.0.0.1:0']);
  const connection = ['--address', server.address, '--token', WRITE];
  const sidecars: SidecarProcess[] = [];
  const writer = new RiggerClient({ address: server.address, connect: { token: WRITE }, clientName: 'status-test-writer' });
  try {
    sidecars.push(startSidecar('logger', [...connection, '--file', path.join(work, 'all.log'), '--assignee', 'Alice']));
    sidecars.push(startSidecar('board', [...connection, '--http-port', '0']));
    sidecars.push(startSidecar('nats-bridge', [...connection, '--nats', nats.url]));
    for (const n of [1, 2])
      sidecars.push(startSidecar('logger', [...connection, '--consumer', 'status-group', '--since', '0', '--file', path.join(work, `group-${n}.log`)]));
    await boardUrl(sidecars[1]!);

    // Every sidecar's stream is listed under its own name, the group's two members under the consumer.
    let status!: Status;
    await waitFor(
      async () => {
        ({ status } = await rigStatus(server.address));
        return (
          named(status, 'logger').length === 3 &&
          named(status, 'board').length === 1 &&
          named(status, 'nats-bridge').length === 1 &&
          status.consumers.some((c) => c.name === 'status-group' && c.members === 2)
        );
      },
      60_000,
      `every sidecar in rig status; last: ${JSON.stringify(status?.streams)}; stderr: ${sidecars.map((s) => s.stderr().slice(-500)).join('\n')}`,
    );
    const members = status.streams.filter((s) => s.kind === 'consume');
    assert.equal(members.length, 2);
    assert.ok(members.every((m) => m.consumer === 'status-group' && m.client_name.startsWith('logger/')));
    assert.notEqual(members[0]!.client_name, members[1]!.client_name, 'two instances of one sidecar are told apart');
    const filtered = named(status, 'logger').find((s) => s.kind === 'subscribe')!;
    assert.equal(filtered.filter.assignee_filter, 'Alice');
    assert.ok(filtered.bookmark_interval_ms > 0, 'the sidecars ask for bookmarks');
    assert.equal(named(status, 'board')[0]!.kind, 'subscribe');
    for (const s of status.streams) assert.match(s.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(status.stream_count, status.streams.length);
    assert.equal(status.log.log_id.length, 16);
    assert.match(status.server.version, /^\d+\.\d+\.\d+/);
    assert.ok(status.database_bytes > 0);

    // Writes, then none: every stream and the consumer reach the head, lag 0.
    const tasks = writer.writer();
    const written = await Promise.all(
      Array.from({ length: WRITES }, (_, i) => tasks.add({ title: `status task ${i}`, ...(i % 3 === 0 && { assignee: 'Alice' }) })),
    );
    await tasks.close();
    assert.equal(written.length, WRITES);
    const head = WRITES;
    await waitFor(
      async () => {
        ({ status } = await rigStatus(server.address));
        return status.head_sequence === head && status.streams.every((s) => s.lag === 0) && status.consumers.every((c) => c.lag === 0);
      },
      90_000,
      `every lag at 0; last: ${JSON.stringify(status?.streams.map((s) => [s.client_name, s.lag]))} ${JSON.stringify(status?.consumers)}`,
    );
    for (const s of status.streams.filter((x) => x.kind === 'subscribe')) assert.equal(s.position, head, `${s.client_name} at the head`);
    assert.equal(status.consumers.find((c) => c.name === 'status-group')!.acked_sequence, head);
    assert.equal(status.log.newest_sequence, head);

    const typed = await writer.hubStatus();
    assert.equal(typed.stream_count, 5, 'the typed client reads the same status');
    assert.equal(typed.head_sequence, head);

    // Nothing secret: no token, no address but the peers'.
    const { stdout } = await rigStatus(server.address);
    assert.ok(!stdout.includes(WRITE) && !stdout.includes(READ), 'no token in the status');

    // The text form: one line per stream, named.
    const text = await rigAsync(['status', '--address', server.address, '--token', READ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^server {2}rigger \d+\.\d+\.\d+ \(pid \d+\), up .*; log [0-9a-f]{16}, head 300, oldest 1;/m);
    assert.match(text.stdout, /^5 stream\(s\) open$/m);
    for (const name of ['board', 'nats-bridge']) assert.match(text.stdout, new RegExp(`^${name}/\\d+ +subscribe +127\\.0\\.0\\.1:\\d+ +all +300 +0 `, 'm'));
    assert.match(text.stdout, /^logger\/\d+ +subscribe +127\.0\.0\.1:\d+ +assignee=Alice +300 +0 /m);
    assert.equal(text.stdout.match(/^logger\/\d+ +consume status-group /gm)?.length, 2, text.stdout);
    assert.match(text.stdout, /^status-group +all +300 +0 +2 +0 +0 +ok$/m);

    // The same RPC through buf curl, from reflection alone (no .proto), with the read-only token.
    assert.ok(fs.existsSync(BUF), `${BUF} is missing; run npm install`);
    const buf = (body: string) =>
      spawnSync(
        BUF,
        [
          'curl',
          '--protocol',
          'grpc',
          '--http2-prior-knowledge',
          '-H',
          `authorization: Bearer ${READ}`,
          '-d',
          body,
          `http://${server.address}/rigger.v1.RiggerService/GetHubStatus`,
        ],
        { cwd: work, encoding: 'utf8', timeout: 30_000 },
      );
    const viaBuf = buf('{}');
    assert.equal(viaBuf.status, 0, viaBuf.stderr);
    const wire = JSON.parse(viaBuf.stdout) as {
      headSequence: string;
      streamCount: number;
      streams: { clientName: string; kind: string; position?: string; lag?: string }[];
      consumers: { config: { name: string }; members: number }[];
    };
    assert.equal(Number(wire.headSequence), head);
    assert.equal(wire.streamCount, 5);
    assert.deepEqual(wire.streams.map((s) => s.clientName.split('/')[0]).sort(), ['board', 'logger', 'logger', 'logger', 'nats-bridge']);
    assert.ok(wire.streams.every((s) => Number(s.lag ?? 0) === 0));
    assert.equal(wire.consumers.find((c) => c.config.name === 'status-group')?.members, 2);
    const badLimit = buf('{"limit": 0}');
    assert.notEqual(badLimit.status, 0);
    assert.match(badLimit.stderr, /invalid_argument[\s\S]*limit must be 1 to 5000/i);

    // A bad client name, no token: the right codes.
    const raw = connectService(server.address, { token: READ });
    const unary = (metadata: grpc.Metadata, request: object = {}) =>
      new Promise<grpc.ServiceError | null>((resolve) => raw.GetHubStatus(request, metadata, (error) => resolve(error)));
    const badName = new grpc.Metadata();
    badName.set('x-rigger-client-name', 'x'.repeat(101));
    assert.equal((await unary(badName))?.code, grpc.status.INVALID_ARGUMENT);
    assert.match((await unary(badName))!.details, /x-rigger-client-name must be 1-100 printable ASCII characters/);
    assert.equal((await unary(new grpc.Metadata(), { limit: 5001 }))?.code, grpc.status.INVALID_ARGUMENT);
    const stream = raw.SubscribeToTaskEvents({}, badName);
    const streamError = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    assert.equal(streamError.code, grpc.status.INVALID_ARGUMENT, 'a stream with a bad client name is refused too');
    raw.close();
    const nobody = await rigAsync(['status', '--address', `127.0.0.1:${await freePort()}`]);
    assert.equal(nobody.code, 1);
    assert.equal(nobody.stderr.trim().split('\n').length, 1, nobody.stderr);
    assert.match(nobody.stderr, /^rig: /);
    const anonymous = await rigAsync(['status', '--address', server.address]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /^rig: .*token/m);

    // /metrics: streams per client kind, bounded by name, not by instance.
    const opsUrl = /^ {2}operations: +(http:\/\/\S+?)\/metrics/m.exec(server.stdout())![1]!;
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text();
    assert.equal(sample(metrics, 'rigger_streams_by_client{client="logger"}'), 3);
    assert.equal(sample(metrics, 'rigger_streams_by_client{client="board"}'), 1);
    assert.equal(sample(metrics, 'rigger_streams_by_client{client="nats-bridge"}'), 1);
    assert.equal(sample(metrics, 'rigger_stream_max_lag_events_by_client{client="board"}'), 0);

    // A TaskEventStream is listed from its start, and shows its filter once it subscribes.
    const duplexClient = connectService(server.address, { token: READ, clientName: 'status-test/duplex' });
    const duplex = duplexClient.TaskEventStream();
    duplex.on('error', () => {}); // cancelled below
    const duplexStream = async () => (await rigStatus(server.address)).status.streams.find((s) => s.client_name === 'status-test/duplex');
    await waitFor(async () => (await duplexStream())?.position === null, 30_000, 'the TaskEventStream listed before it subscribes');
    assert.equal((await duplexStream())!.kind, 'task_event_stream');
    duplex.write({ subscribe: { event_types: [1], bookmark_interval_ms: 1000 } });
    await waitFor(
      async () => {
        const listed = await duplexStream();
        return listed?.position === head && listed.filter.event_types.join() === 'CREATED' && listed.bookmark_interval_ms === 1000;
      },
      30_000,
      'the TaskEventStream with its filter at the head',
    );
    duplex.cancel();
    duplexClient.close();
    await waitFor(async () => (await duplexStream()) === undefined, 30_000, 'the cancelled TaskEventStream gone');

    // A subscriber that stops reading: bytes queued to it, behind the head, off the live path.
    const stalledClient = connectService(server.address, {
      token: READ,
      clientName: 'status-test/stalled',
      channelOptions: { 'grpc-node.flow_control_window': 65_535 },
    });
    const stalled = stalledClient.SubscribeToTaskEvents({ since_sequence: 0 });
    let stalledError: grpc.ServiceError | undefined;
    stalled.on('error', (error: grpc.ServiceError) => (stalledError = error)); // cancelled below
    stalled.on('data', () => {});
    await new Promise((resolve) => stalled.once('metadata', resolve));
    stalled.pause(); // grpc-js stops taking data; HTTP/2 flow control closes the window
    // More than the flow-control windows and socket buffers hold, so the server's side fills.
    const more = writer.writer();
    await Promise.all(Array.from({ length: STALL_WRITES }, (_, i) => more.add({ title: `stall ${i} ${'x'.repeat(400)}` })));
    await more.close();
    let stalledStatus: StatusStream | undefined;
    let names: string[] = [];
    await waitFor(
      async () => {
        const listed = (await rigStatus(server.address)).status.streams;
        names = listed.map((s) => s.client_name);
        stalledStatus = listed.find((s) => s.client_name === 'status-test/stalled');
        return stalledStatus !== undefined && stalledStatus.bytes_queued > 0 && stalledStatus.lag > 0;
      },
      30_000,
      `the stalled stream with bytes queued; last: ${JSON.stringify(stalledStatus)}; its error: ${stalledError?.message}; streams: ${names.join()}`,
    );
    assert.ok(stalledStatus!.position! < head + STALL_WRITES);
    const stalledText = await rigAsync(['status', '--address', server.address, '--token', READ]);
    assert.match(stalledText.stdout, /^status-test\/stalled +subscribe .* catching up$/m);
    stalled.cancel();
    stalledClient.close();

    // --watch refreshes until SIGINT, then exits 0.
    const watch = spawnCollected(process.execPath, [RIG_BIN, 'status', '--watch', '--interval', '0.5', '--address', server.address, '--token', READ]);
    await waitFor(
      () => (watch.stdout().match(/stream\(s\) open/g)?.length ?? 0) >= 2 || watch.child.exitCode !== null,
      30_000,
      `two refreshes; stderr: ${watch.stderr()}`,
    );
    watch.child.kill('SIGINT');
    assert.equal(await watch.exited, 0, watch.stderr());
    assert.equal(watch.stderr(), '');

    // A stopped sidecar leaves the list.
    assert.equal(await sidecars[1]!.stop('SIGTERM'), 0);
    await waitFor(async () => named((await rigStatus(server.address)).status, 'board').length === 0, 30_000, 'the board gone from rig status');
  } finally {
    await writer.close();
    for (const sidecar of sidecars) await sidecar.stop('SIGTERM');
    await server.stop();
    await nats.stop();
  }
});
