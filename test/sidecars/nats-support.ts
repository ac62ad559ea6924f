// A real `nats-server -js` for tests: on a fixed free loopback port and its own store folder, so it
// can be killed and started again at the same URL with the same streams; and the stream read back.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connect as connectNats, type NatsConnection, type StreamConfig } from 'nats';
import { freePort, spawnTracked, tempDir, waitFor } from '../support/processes';

export interface NatsProcess {
  url: string;
  port: number;
  storeDir: string;
  /** Starts the server (again) on the same port and store; resolves once it accepts clients. */
  start(): Promise<void>;
  /** Stops it with `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  running(): boolean;
  log(): string;
}

/** A node of a JetStream cluster: its name, its route port and every node's route port. */
interface ClusterNode {
  serverName: string;
  clusterName: string;
  clusterPort: number;
  routePorts: number[];
}

/** A nats-server that is not started yet; `jetstream: false` runs it without -js; `cluster` makes it a cluster node (a config file with routes). */
export async function natsServerAt(binary: string, options: { jetstream?: boolean; port?: number; cluster?: ClusterNode } = {}): Promise<NatsProcess> {
  const port = options.port ?? (await freePort());
  const storeDir = tempDir('rigger-nats-');
  const args = options.cluster ? ['-c', clusterConfig(port, storeDir, options.cluster)] : options.jetstream === false ? [] : ['-js', '-sd', storeDir];
  let child: ChildProcess | undefined;
  let log = '';
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    running,
    log: () => log,
    async start() {
      assert.ok(!running(), 'nats-server is already running');
      const started = spawnTracked(binary, options.cluster ? args : [...args, '-a', '127.0.0.1', '-p', String(port)]);
      child = started;
      let own = '';
      const collect = (d: Buffer) => ((own += d), (log += d));
      started.stderr!.on('data', collect);
      started.stdout!.on('data', collect);
      await waitFor(() => /Server is ready/.test(own) || started.exitCode !== null, 15_000, 'nats-server ready');
      if (started.exitCode !== null) throw new Error(`nats-server exited with ${started.exitCode}: ${own}`);
    },
    async stop(signal = 'SIGKILL') {
      const current = child;
      if (!current || !running()) return;
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current.kill(signal);
      const timer = setTimeout(() => current.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface StoredEvent {
  subject: string;
  /** The Rigger-Project header. */
  project: string | undefined;
  msgId: string | undefined;
  /** The Rigger-Log-Id header, when it matches the payload's log_id (else a mismatch marker). */
  logId: string | undefined;
  sequence: number;
  event_type: number;
  taskId: string;
  /** When JetStream stored it (the server's clock; the same machine as the test's). */
  time: Date;
}

/** Every message of `stream`, in stream order; none when the stream does not exist. */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredEvent[]> {
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
    const event = JSON.parse(text) as { sequence: number; event_type: number; task: { id: string }; log_id?: string };
    const headerLogId = message.header?.get('Rigger-Log-Id') || undefined;
    stored.push({
      subject: message.subject,
      project: message.header?.get('Rigger-Project') || undefined,
      msgId: message.header?.get('Nats-Msg-Id'),
      logId: headerLogId === event.log_id ? headerLogId : `header ${headerLogId} != payload ${event.log_id}`,
      sequence: event.sequence,
      event_type: event.event_type,
      taskId: event.task.id,
      time: message.time,
    });
  }
  return stored;
}

function clusterConfig(port: number, storeDir: string, node: ClusterNode): string {
  const file = path.join(storeDir, '..', `${path.basename(storeDir)}.conf`);
  const routes = node.routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
  fs.writeFileSync(
    file,
    `server_name: ${node.serverName}\nlisten: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(storeDir)} }\n` +
      `cluster { name: ${node.clusterName}, listen: 127.0.0.1:${node.clusterPort}, routes: [${routes}] }\n`,
  );
  return file;
}

export interface NatsCluster {
  nodes: (NatsProcess & { name: string })[];
  /** Every node's URL, comma-separated, as --nats takes them. */
  urls: string;
  node(name: string): NatsProcess & { name: string };
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A JetStream cluster of `size` nodes on loopback ports, each with its own store folder; not started yet. */
export async function natsClusterAt(binary: string, size = 3): Promise<NatsCluster> {
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const nodes = await Promise.all(
    clientPorts.map(async (port, i) => {
      const name = `n${i + 1}`;
      const node = await natsServerAt(binary, { port, cluster: { serverName: name, clusterName: 'rigger-test', clusterPort: routePorts[i]!, routePorts } });
      return Object.assign(node, { name });
    }),
  );
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    node: (name) => nodes.find((n) => n.name === name)!,
    start: async () => void (await Promise.all(nodes.map((n) => n.start()))),
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}

/** A connection to whichever nodes of `urls` are up, that rides through node kills. */
export function connectCluster(urls: string): Promise<NatsConnection> {
  return connectNats({ servers: urls.split(','), reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 5000 });
}

/** Creates `config` once the cluster's JetStream answers (the meta leader elected): the fact a cluster test starts from. */
export async function addStreamWhenReady(nc: NatsConnection, config: Partial<StreamConfig> & { name: string }, timeoutMs = 30_000): Promise<void> {
  let last: unknown;
  await waitFor(
    async () => {
      try {
        const jsm = await nc.jetstreamManager({ timeout: 2000 });
        await jsm.streams.add(config);
        return true;
      } catch (error) {
        last = error;
        return false;
      }
    },
    timeoutMs,
    `stream ${config.name} created on the cluster (last error: ${String(last)})`,
  );
}

/** The stream's leader, its replicas and whether each is current, as the cluster reports them (undefined while none leads). */
export async function streamCluster(
  nc: NatsConnection,
  stream: string,
): Promise<{ leader: string; replicas: { name: string; current: boolean }[] } | undefined> {
  try {
    const info = await (await nc.jetstreamManager({ timeout: 2000 })).streams.info(stream);
    const leader = info.cluster?.leader;
    return leader ? { leader, replicas: (info.cluster?.replicas ?? []).map((r) => ({ name: r.name, current: r.current })) } : undefined;
  } catch {
    return undefined;
  }
}
