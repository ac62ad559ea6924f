// Beyond one machine, all real processes on loopback: a 3-node JetStream cluster (routes, a store
// folder each), an R3 stream, two Rigger projects each with its `rig grpc` and NATS bridge (alpha on
// a durable Rigger consumer, beta on the hub stream), writes in both while the stream's leader is
// kill -9'd twice and each bridge twice; then the stream holds every (project, log id, sequence)
// exactly once, in order per project, and a consumer process reading the cluster through a durable
// pull consumer saw every event of both projects, in order per task, through the node kills.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test, after } from 'node:test';
import type { NatsConnection } from 'nats';
import { RiggerClient } from '../../src/client/index';
import { REPO_ROOT, requireTool, spawnCollected, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { addStreamWhenReady, connectCluster, natsClusterAt, readStream, streamCluster, type NatsCluster } from '../sidecars/nats-support';
import { startSidecar, type SidecarProcess } from '../sidecars/sidecar-support';

/** Writes per project: the count; about 50 s here on the shared 2-core machine (RIGGER_CLUSTER_WRITES overrides). */
const WRITES = Number(process.env.RIGGER_CLUSTER_WRITES ?? 5000);
const STREAM = 'RIGGER_TASKS';
const WAIT_MS = 60_000;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface Project {
  name: string;
  server: ServerProcess;
  client: RiggerClient;
  bridge: SidecarProcess;
  bridgeArgs: string[];
  written: number;
  taskIds: string[];
}

/** One line per event from the consumer process. */
interface Seen {
  project: string;
  log_id: string;
  sequence: number;
  task_id: string;
}

async function killAndRestartBridge(project: Project): Promise<void> {
  project.bridge.child.kill('SIGKILL');
  await waitFor(() => project.bridge.child.signalCode !== null, 10_000, `bridge ${project.name} death`);
  project.bridge = startSidecar('nats-bridge', project.bridgeArgs);
  cleanups.push(() => project.bridge.stop('SIGKILL'));
}

/** kill -9 the stream's leader; once another node leads, start it again and wait until every replica is current. */
async function killLeader(cluster: NatsCluster, admin: NatsConnection, log: (line: string) => void): Promise<string> {
  const before = await streamCluster(admin, STREAM);
  assert.ok(before, 'the stream has a leader');
  const node = cluster.node(before.leader);
  await node.stop('SIGKILL');
  const startedAt = Date.now();
  await waitFor(
    async () => ((await streamCluster(admin, STREAM))?.leader ?? before.leader) !== before.leader,
    WAIT_MS,
    `a stream leader other than ${before.leader}`,
  );
  log(`killed leader ${before.leader}; ${(await streamCluster(admin, STREAM))?.leader} leads after ${Date.now() - startedAt} ms`);
  await node.start();
  await waitFor(
    async () => {
      const now = await streamCluster(admin, STREAM);
      return now !== undefined && now.replicas.length === 2 && now.replicas.every((r) => r.current);
    },
    WAIT_MS,
    `${before.leader} back and every replica current`,
  );
  return before.leader;
}

test(
  `a 3-node JetStream cluster, two projects, ${WRITES} writes each: every event exactly once in the R3 stream, in order per project, through leader and bridge kills; a remote consumer sees them all`,
  { timeout: 300_000 },
  async (t) => {
    const binary = requireTool(t, 'nats-server', 'apt-get install nats-server');
    if (!binary) return;
    const startedAt = Date.now();
    const cluster = await natsClusterAt(binary, 3);
    await cluster.start();
    cleanups.push(() => cluster.stop());
    const admin = await connectCluster(cluster.urls);
    cleanups.push(() => admin.close());
    await addStreamWhenReady(admin, { name: STREAM, subjects: ['rigger.*.*.*'], num_replicas: 3 });

    const projects: Project[] = [];
    for (const [name, mode] of [
      ['alpha', ['--consumer', 'to-nats']],
      ['beta', []],
    ] as const) {
      const server = await startServer(tempProject());
      cleanups.push(() => server.stop('SIGKILL'));
      const client = new RiggerClient({ address: server.address, actor: `writer-${name}` });
      cleanups.push(() => client.close());
      const bridgeArgs = ['--address', server.address, '--nats', cluster.urls, '--project', name, '--since', '0', '--replicas', '3', ...mode];
      const bridge = startSidecar('nats-bridge', bridgeArgs);
      cleanups.push(() => bridge.stop('SIGKILL'));
      projects.push({ name, server, client, bridge, bridgeArgs, written: 0, taskIds: [] });
    }
    const consumer = spawnCollected(process.execPath, [
      path.join(REPO_ROOT, 'dist', 'sidecars', 'nats-remote-consumer.js'),
      '--nats',
      cluster.urls,
      '--durable',
      'remote',
      '--filter',
      'rigger.>',
      '--ack-wait-ms',
      '3000',
    ]);
    cleanups.push(async () => void consumer.child.kill('SIGKILL'));
    const seen = (): Seen[] =>
      consumer
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Seen);

    // The faults, each at a point of the writes; the writers wait at each gate until its fault is done, so every fault lands mid-writes.
    const faults: [number, string, () => Promise<unknown>][] = [
      [0.1, 'bridge alpha', () => killAndRestartBridge(projects[0]!)],
      [0.2, 'bridge beta', () => killAndRestartBridge(projects[1]!)],
      [0.35, 'stream leader', () => killLeader(cluster, admin, (l) => t.diagnostic(l))],
      [0.5, 'bridge alpha again', () => killAndRestartBridge(projects[0]!)],
      [0.6, 'bridge beta again', () => killAndRestartBridge(projects[1]!)],
      // Last, so the bridges running at the end went through a leader change (their logs say how).
      [0.75, 'stream leader again', () => killLeader(cluster, admin, (l) => t.diagnostic(l))],
    ];
    // Write i waits until every fault whose gate it passed is done: fault k's gate is fault k+1's point (the last one's, 90%).
    const gates = faults.map((_, k) => (faults[k + 1]?.[0] ?? 0.9) * WRITES);
    let faultsDone = 0;
    const least = () => Math.min(...projects.map((p) => p.written));
    const chaos = (async () => {
      for (const [at, what, fault] of faults) {
        await waitFor(() => least() >= at * WRITES, WAIT_MS * 2, `${Math.round(at * 100)}% of the writes before killing the ${what}`);
        await fault();
        faultsDone++;
      }
    })();
    chaos.catch(() => undefined);

    const write = async (project: Project, lane: number, lanes: number) => {
      for (let i = lane; i < WRITES; i += lanes) {
        const mustBeDone = gates.filter((g) => i >= g).length;
        if (faultsDone < mustBeDone) await waitFor(() => faultsDone >= mustBeDone, WAIT_MS * 2, `fault ${mustBeDone} done before write ${i}`);
        if (i % 4 === 3 && project.taskIds.length > 0) {
          await project.client.updateTask({
            task_id: project.taskIds[i % project.taskIds.length]!,
            status: (['TASK_STATUS_IN_PROGRESS', 'TASK_STATUS_COMPLETED', 'TASK_STATUS_TODO'] as const)[i % 3],
          });
        } else {
          project.taskIds.push((await project.client.addTask({ title: `${project.name} ${i}` })).task!.id!);
        }
        project.written++;
      }
    };
    await Promise.all(projects.flatMap((p) => [0, 1, 2, 3].map((lane) => write(p, lane, 4))));
    await chaos;
    assert.equal(faultsDone, faults.length);
    const writtenAt = Date.now();

    // Every event of each project reached the stream: the fact each bridge's mode gives.
    const heads = new Map<string, number>();
    for (const p of projects) heads.set(p.name, (await p.client.getLog()).newest_sequence!);
    await waitFor(
      async () => (await projects[0]!.client.getConsumer('to-nats')).acked_sequence === heads.get('alpha'),
      WAIT_MS,
      'alpha: the bridge acked every event',
    );
    const lastOf = async (name: string) => {
      const jsm = await admin.jetstreamManager();
      const m = await jsm.streams.getMessage(STREAM, { last_by_subj: `rigger.${name}.>` }).catch(() => undefined);
      return Number(m?.header?.get('Rigger-Sequence') ?? 0);
    };
    await waitFor(async () => (await lastOf('beta')) === heads.get('beta'), WAIT_MS, 'beta: the last message in the stream is the head');
    await waitFor(async () => (await streamCluster(admin, STREAM))?.replicas.every((r) => r.current) === true, WAIT_MS, 'every replica current');

    const stored = await readStream(admin, STREAM);
    t.diagnostic(
      `${stored.length} messages; heads ${JSON.stringify([...heads])}; writes took ${((writtenAt - startedAt) / 1000).toFixed(1)} s, all ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    for (const p of projects) {
      const mine = stored.filter((s) => s.project === p.name);
      const head = heads.get(p.name)!;
      assert.deepEqual(
        mine.map((s) => s.sequence),
        Array.from({ length: head }, (_, i) => i + 1),
        `${p.name}: every sequence once, in stream order; bridge stderr ends:\n${p.bridge.stderr().slice(-2000)}`,
      );
      assert.deepEqual(
        mine.map((s) => s.msgId),
        mine.map((s) => `${p.name}:${s.logId}:${s.sequence}`),
        `${p.name}: Nats-Msg-Id = <project>:<log id>:<sequence>`,
      );
      for (const s of mine) assert.match(s.subject, new RegExp(`^rigger\\.${p.name}\\.[a-z_]+\\.${s.taskId}$`));
    }
    assert.equal(
      stored.length,
      [...heads.values()].reduce((a, b) => a + b, 0),
      'nothing else in the stream',
    );

    // The remote consumer: every event of both projects, each task's in order (each project's too), no repeat.
    const total = stored.length;
    await waitFor(
      () => seen().length >= total,
      WAIT_MS,
      `the remote consumer's ${total} events; it has ${seen().length}; stderr: ${consumer.stderr().slice(-2000)}`,
    );
    const lines = seen();
    assert.equal(lines.length, total, 'no repeat handed on');
    for (const p of projects) {
      const mine = lines.filter((l) => l.project === p.name);
      assert.deepEqual(
        mine.map((l) => l.sequence),
        Array.from({ length: heads.get(p.name)! }, (_, i) => i + 1),
        `${p.name}: the consumer saw each event once, in order`,
      );
      const byTask = new Map<string, number[]>();
      for (const l of mine) byTask.set(l.task_id, [...(byTask.get(l.task_id) ?? []), l.sequence]);
      for (const [task, sequences] of byTask)
        assert.deepEqual(
          sequences,
          [...sequences].sort((a, b) => a - b),
          `${p.name} task ${task} in order`,
        );
    }
    for (const p of projects) assert.equal(p.bridge.child.exitCode, null, `bridge ${p.name} still running`);
    // A bridge whose publishes all landed before or after the election needs neither, so at least one
    // of them must show it went through the last leader change (else the test did not test it).
    const wentThrough = projects.map((p) => {
      const count = (msg: string) =>
        p.bridge
          .stderr()
          .split('\n')
          .filter((l) => l.includes(`"msg":"${msg}`)).length;
      const [resent, reconnects] = [count('publish not acknowledged'), count('NATS unavailable')];
      t.diagnostic(
        `bridge ${p.name} (since its last start): ${count('NATS connected; publishing')} NATS sessions, ${resent} publishes sent again, ${reconnects} reconnects`,
      );
      return resent + reconnects;
    });
    assert.ok(
      wentThrough.some((n) => n >= 1),
      `no bridge sent again or reconnected through the last leader change: ${projects.map((p) => p.bridge.stderr().slice(-1500)).join('\n')}`,
    );
    // One session line per NATS session, naming how it resumes: the consumer for alpha, the stream's last message (or --since) for beta.
    const sessions = (p: Project) =>
      p.bridge
        .stderr()
        .split('\n')
        .filter((l) => l.includes('"NATS connected; publishing"'))
        .map((l) => JSON.parse(l) as { decided_by: string });
    assert.ok(
      sessions(projects[0]!).length >= 1 && sessions(projects[0]!).every((l) => l.decided_by === 'rigger consumer to-nats'),
      projects[0]!.bridge.stderr().slice(-2000),
    );
    assert.ok(
      sessions(projects[1]!).length >= 1 && sessions(projects[1]!).every((l) => l.decided_by !== 'rigger consumer to-nats'),
      projects[1]!.bridge.stderr().slice(-2000),
    );
  },
);
