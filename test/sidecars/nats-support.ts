// A real `nats-server -js` for tests: on a fixed free loopback port and its own store folder, so it
// can be killed and started again at the same URL with the same streams; and the stream read back.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { NatsConnection } from 'nats';
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

/** A nats-server that is not started yet; `jetstream: false` runs it without -js. */
export async function natsServerAt(binary: string, options: { jetstream?: boolean } = {}): Promise<NatsProcess> {
  const port = await freePort();
  const storeDir = tempDir('rigger-nats-');
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
      const jetstream = options.jetstream === false ? [] : ['-js', '-sd', storeDir];
      const started = spawnTracked(binary, [...jetstream, '-a', '127.0.0.1', '-p', String(port)]);
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
