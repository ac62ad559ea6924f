// Clients that are not ours consume a durable consumer and ack: Python grpcio with stubs compiled
// from the proto (joins, reads deliveries with their attempt, acks each, sees its acks confirmed
// by acks_committed), and `buf curl` (Go), which knows the schema from server reflection alone.
// grpcio missing: skipped locally with a loud reason, a failure under CI=true.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import path from 'node:path';
import {
  pythonGrpcStubs,
  REPO_ROOT,
  runAsync,
  spawnCollected,
  startServer,
  SYSTEM_PYTHON,
  tempDir,
  tempProject,
  type ServerProcess,
} from '../support/processes';
import { addTasks, clientOf, closeClients } from './consumer-support';

const SCRIPT = `
import json, queue, sys, grpc
from rigger.v1 import rigger_pb2 as pb, rigger_pb2_grpc as rpc

address, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
outgoing = queue.Queue()
outgoing.put(pb.ConsumeRequest(join=pb.ConsumerConfig(name=name, start_sequence=0, ack_wait_ms=60000)))
def requests():
    while True:
        item = outgoing.get()
        if item is None:
            return
        yield item
stub = rpc.RiggerServiceStub(grpc.insecure_channel(address))
got, confirmed = [], set()
for response in stub.ConsumeTaskEvents(requests(), timeout=30):
    kind = response.WhichOneof("response")
    if kind == "joined":
        print(json.dumps({"joined": response.joined.config.name, "acked": response.joined.acked_sequence}), flush=True)
    elif kind == "delivery":
        d = response.delivery
        got.append({"sequence": d.event.sequence, "attempt": d.attempt, "title": d.event.task.title})
        outgoing.put(pb.ConsumeRequest(ack=pb.ConsumerAck(sequences=[d.event.sequence])))
    elif kind == "acks_committed":
        confirmed.update(response.acks_committed.sequences)
        if len(confirmed) >= count:
            break
outgoing.put(None)
print(json.dumps({"got": got, "confirmed": sorted(confirmed)}), flush=True)
`;

let server: ServerProcess | undefined;
after(async () => {
  await closeClients();
  await server?.stop('SIGKILL');
});

test('Python grpcio consumes a durable consumer and acks', { timeout: 60_000 }, async (t) => {
  const stubs = pythonGrpcStubs(t);
  if (!stubs) return;
  server = await startServer(tempProject());
  const client = clientOf(server);
  await addTasks(client, 5, 'py', 1);
  const run = spawnCollected(SYSTEM_PYTHON, ['-c', SCRIPT, server.address, 'python-worker', '5'], { env: { ...process.env, PYTHONPATH: stubs } });
  assert.equal(await run.exited, 0, run.stderr());
  const lines = run
    .stdout()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(lines[0], { joined: 'python-worker', acked: 0 });
  const result = lines[1];
  assert.deepEqual(
    result.got.map((d: { sequence: number }) => d.sequence),
    [1, 2, 3, 4, 5],
  );
  assert.ok(result.got.every((d: { attempt: number }) => d.attempt === 1));
  assert.equal(result.got[0].title, 'py 0');
  assert.deepEqual(result.confirmed, [1, 2, 3, 4, 5]);
  const info = await client.getConsumer('python-worker');
  assert.equal(info.acked_sequence, 5);
  assert.equal(info.lag, 0);
});

test('buf curl (schema from reflection) creates a consumer, joins it, acks over the bidi stream', { timeout: 60_000 }, async () => {
  server ??= await startServer(tempProject());
  const client = clientOf(server);
  await addTasks(client, 1, 'buf', 1);
  const buf = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');
  const url = (method: string) => `http://${server!.address}/rigger.v1.RiggerService/${method}`;
  const flags = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
  const cwd = tempDir('rigger-buf-'); // no buf module here: the schema comes from reflection
  const created = await runAsync(buf, [...flags, '-d', '{"config": {"name": "go-worker", "start_sequence": 0, "max_deliver": 3}}', url('CreateConsumer')], {
    cwd,
  });
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).config.maxDeliver, 3);
  // join, then (read after the join is answered, so after the first delivery) the ack of sequence 1.
  const input = '{"join": {"name": "go-worker"}}\n{"ack": {"sequences": [1]}}\n';
  const consumed = await runAsync('sh', ['-c', `printf '%s' '${input}' | "$0" "$@"`, buf, ...flags, '--timeout', '3s', '-d', '@-', url('ConsumeTaskEvents')], {
    cwd,
    timeoutMs: 20_000,
  });
  assert.match(consumed.stdout, /"joined"/);
  assert.match(consumed.stdout, /"attempt": 1/);
  assert.match(consumed.stdout, /"title": "buf 0"/);
  const info = await client.getConsumer('go-worker');
  assert.equal(info.acked_sequence, 1);
});
