import path from 'node:path';
import { forkWorker, type WorkerHandle } from './ipc';
import { BENCH_DIST } from './processes';

export const forkClient = (): WorkerHandle => forkWorker(path.join(BENCH_DIST, 'client-worker.js'));
export const forkProducer = (): WorkerHandle => forkWorker(path.join(BENCH_DIST, 'producer-worker.js'));
/** The client process of the peers a user would pick instead (JetStream, Redis, etcd): bench/peer-worker.ts. */
export const forkPeerClient = (): WorkerHandle => forkWorker(path.join(BENCH_DIST, 'peer-worker.js'));
export const forkPeer = (name: 'grpc-ceiling' | 'grpc-echo' | 'grpc-relay'): WorkerHandle => forkWorker(path.join(BENCH_DIST, 'peers', `${name}.js`));

export interface WindowResult {
  count: number;
  bytes: number;
  elapsedMs: number;
  failures: string[];
  complete?: boolean;
}
