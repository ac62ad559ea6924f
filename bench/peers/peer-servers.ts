// The systems a user would pick instead of Rigger, started by the bench from Debian's packages: each
// on 127.0.0.1 with free ports and a temp data dir, stopped and its dir removed by stop(). A missing
// binary is a loud note (the row leaves that peer out), and an error under CI=true.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopChild, track } from '../ipc';
import { commandPath, freePort } from '../processes';

export type PeerName = 'jetstream' | 'redis' | 'etcd';

export interface PeerServer {
  name: PeerName;
  /** nats://127.0.0.1:P, 127.0.0.1:P (Redis), 127.0.0.1:P (etcd's gRPC). */
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export interface PeerAbsent {
  name: PeerName;
  absent: string;
}

/** The Debian binary and package of each peer. */
const PACKAGES: Record<PeerName, { binary: string; apt: string }> = {
  jetstream: { binary: 'nats-server', apt: 'nats-server' },
  redis: { binary: 'redis-server', apt: 'redis-server' },
  etcd: { binary: 'etcd', apt: 'etcd-server' },
};

/** What each peer has written to disk, and synced, when it acknowledges a write (PEERS.md, these versions). */
export const PEER_SYNC: Record<PeerName, string> = {
  jetstream: 'JetStream 2.9 file storage acks once the message is in the file, not synced (the server syncs every 2 minutes)',
  redis: "Redis appendfsync always: the AOF is fsynced once per event-loop pass, before that pass's replies",
  etcd: 'etcd fsyncs its WAL before every reply',
};

const READY: Record<PeerName, RegExp> = {
  jetstream: /Server is ready/,
  redis: /Ready to accept connections/,
  etcd: /ready to serve client requests/,
};

const dataDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const isAbsent = (peer: PeerServer | PeerAbsent): peer is PeerAbsent => 'absent' in peer;
export { isAbsent };

/** Starts `name`, or says why not; under CI=true a missing binary throws (CI installs them all). */
export async function startPeerServer(name: PeerName): Promise<PeerServer | PeerAbsent> {
  const { binary: tool, apt } = PACKAGES[name];
  const binary = commandPath(tool);
  if (!binary) {
    const absent = `${tool} not installed: apt-get install ${apt}`;
    if (process.env.CI === 'true') throw new Error(`${absent} (required under CI=true)`);
    return { name, absent };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rigger-bench-${name}-`));
  dataDirs.add(dir); // removed at exit too, should the bench be interrupted before stop()
  const port = await freePort();
  let args: string[];
  if (name === 'jetstream') args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
  else if (name === 'redis') {
    args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  } else {
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    const clientUrl = `http://127.0.0.1:${port}`;
    args = [
      '--name',
      'bench',
      '--data-dir',
      dir,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `bench=${peerUrl}`,
    ];
  }
  const child = track(spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const stop = async () => {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
    dataDirs.delete(dir);
  };
  let log = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${tool} not ready in 20 s: ${log.slice(-2000)}`)), 20_000);
      const check = (data: Buffer) => {
        log += data;
        if (READY[name].test(log)) {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          child.stderr!.off('data', check);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${tool} exited with ${code}: ${log.slice(-2000)}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  const address = name === 'jetstream' ? `nats://127.0.0.1:${port}` : `127.0.0.1:${port}`;
  return { name, address, pid: child.pid!, stop };
}

/** Starts every peer in `names` (one at a time: they share two cores with nothing else measured then). */
export async function startPeerServers(names: PeerName[]): Promise<(PeerServer | PeerAbsent)[]> {
  const started: (PeerServer | PeerAbsent)[] = [];
  try {
    for (const name of names) started.push(await startPeerServer(name));
  } catch (error) {
    await stopPeerServers(started);
    throw error;
  }
  return started;
}

export async function stopPeerServers(peers: (PeerServer | PeerAbsent)[]): Promise<void> {
  await Promise.all(peers.map((peer) => (isAbsent(peer) ? undefined : peer.stop())));
}
