import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { EventHub } from '../hub/event-hub';
import { DEFAULT_PRD_CONFIG, type PrdConfig } from '../prd/config';
import { RiggerError } from '../model/errors';
import { startCheckpointer } from '../store/checkpointer';
import { startCompactor } from '../store/compactor';
import type { Retention } from '../store/event-log';
import { watchLog } from '../store/log-watcher';
import type { Store } from '../store/store';
import { authInterceptor, type AuthOptions } from './auth';
import type { ServiceContext } from './context';
import { passThroughSerializer } from './event-codec';
import { eventHandlers } from './event-handlers';
import { DEFAULT_LIMITS, EVENT_STREAM_PATHS, serverChannelOptions, subscriberLimitInterceptor, type Limits } from './limits';
import { loadProto, loadReflectionDefinition, SERVICE_NAME } from './proto';
import { prdHandlers } from './prd-handlers';
import { eventStreamWriters } from './stream-writer';
import { taskHandlers } from './task-handlers';

export interface ServerOptions {
  projectDir: string;
  /** Host to bind; undefined binds both loopbacks (::1 and 127.0.0.1) so "localhost" always answers. */
  host?: string;
  port: number;
  bufferSize: number;
  retention: Retention;
  /** How often the log is checked for other processes' commits, in ms. */
  pollIntervalMs: number;
  compactIntervalMs: number;
  shutdownGraceMs: number;
  /** Bearer tokens; absent or empty: no authentication. */
  auth?: AuthOptions;
  /** PEM contents. `ca` set: clients must present a certificate it signed (mTLS). Absent: plaintext. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  limits?: Limits;
  /** Models for GenerateTasksFromPRD / OrchestrateTask; absent: DEFAULT_PRD_CONFIG. */
  prd?: PrdConfig;
}

export interface RunningServer {
  /** The bound addresses, e.g. ["[::1]:50051", "127.0.0.1:50051"]. */
  addresses: string[];
  port: number;
  hub: EventHub;
  /** Stops accepting, ends streams with UNAVAILABLE, lets in-flight calls finish (up to the grace period). */
  shutdown(): Promise<void>;
}

export class PortInUseError extends Error {}

/** How often the WAL is checkpointed, off the event loop. */
const CHECKPOINT_INTERVAL_MS = 1000;

export async function startServer(store: Store, options: ServerOptions, logger: Logger): Promise<RunningServer> {
  const { definition } = loadProto();
  const hub = new EventHub(store.log, options.bufferSize);
  store.tasks.onCommit((events) => hub.publish(events));

  const serviceDefinition = definition[SERVICE_NAME] as grpc.ServiceDefinition;
  const streamingDefinition: grpc.ServiceDefinition = {
    ...serviceDefinition,
    SubscribeToTaskEvents: { ...serviceDefinition.SubscribeToTaskEvents!, responseSerialize: passThroughSerializer },
    TaskEventStream: { ...serviceDefinition.TaskEventStream!, responseSerialize: passThroughSerializer },
  };

  const writers = eventStreamWriters(EVENT_STREAM_PATHS);
  const context: ServiceContext = { store, hub, writerFor: writers.writerFor, logger, projectDir: options.projectDir };
  const limits = options.limits ?? DEFAULT_LIMITS;
  const auth = options.auth && authInterceptor(options.auth);
  const server = new grpc.Server({
    ...serverChannelOptions(limits),
    // grpc-js nests these in order, the first innermost; the writers' must stay first (see stream-writer.ts).
    interceptors: [writers.interceptor, ...(auth ? [auth] : []), subscriberLimitInterceptor(limits.maxSubscribers, () => hub.subscriberCount)],
  });
  server.addService(streamingDefinition, {
    ...taskHandlers(context),
    ...eventHandlers(context),
    ...prdHandlers(context, options.prd ?? DEFAULT_PRD_CONFIG),
  } as grpc.UntypedServiceImplementation);
  new ReflectionService(loadReflectionDefinition()).addToServer(server);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);

  const addresses = await bindAll(server, options.host, options.port, serverCredentials(options.tls));
  const port = Number(addresses[0]!.slice(addresses[0]!.lastIndexOf(':') + 1));

  const stopWatching = watchLog(store.log, options.pollIntervalMs, () => hub.syncFromLog());
  const stopCompactor = startCompactor(store.log, options.retention, options.compactIntervalMs, logger);
  const stopCheckpointer = startCheckpointer(store.db, CHECKPOINT_INTERVAL_MS, logger);
  health.setStatus('', 'SERVING');
  health.setStatus(SERVICE_NAME, 'SERVING');

  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= new Promise<void>((resolve) => {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      stopWatching();
      stopCompactor();
      hub.close(new RiggerError('unavailable', 'server shutting down; reconnect and resume with since_sequence'));
      const force = setTimeout(() => {
        logger.warn('grace period over; closing the remaining calls');
        server.forceShutdown();
        resolve();
      }, options.shutdownGraceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }).then(stopCheckpointer));

  return { addresses, port, hub, shutdown };
}

function serverCredentials(tls: ServerOptions['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.ca !== undefined);
}

async function bindAll(server: grpc.Server, host: string | undefined, port: number, credentials: grpc.ServerCredentials): Promise<string[]> {
  const bind = (address: string) =>
    new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
    );
  const fail = (error: unknown, address: string): never => {
    if (/EADDRINUSE|address already in use/i.test(String((error as Error).message))) {
      throw new PortInUseError(`port ${port} is already in use on ${address}; stop the other server or choose another with --port`);
    }
    throw error;
  };
  if (host !== undefined) {
    const address = formatAddress(host, port);
    const bound = await bind(address).catch((error) => fail(error, address));
    return [formatAddress(host, bound)];
  }
  // Both loopbacks, on the same port (the first one picks it when port is 0).
  const addresses: string[] = [];
  let boundPort = port;
  for (const loopback of ['127.0.0.1', '::1']) {
    const address = formatAddress(loopback, boundPort);
    try {
      boundPort = await bind(address);
      addresses.push(formatAddress(loopback, boundPort));
    } catch (error) {
      if (loopback === '::1' && /EADDRNOTAVAIL|EAFNOSUPPORT/i.test(String((error as Error).message))) continue; // no IPv6
      fail(error, address);
    }
  }
  return addresses;
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
