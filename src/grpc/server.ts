// Assembles the gRPC server: the service with its handlers, reflection, health, interceptors and
// the bound addresses. What runs beside it (the hub, background jobs, shutdown order) is
// src/hub-server.ts.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { ConsumerRegistry } from '../hub/consumer-registry';
import type { EventHub } from '../hub/event-hub';
import { DEFAULT_PRD_CONFIG, type PrdConfig } from '../prd/config';
import { passThroughSerializer } from '../protocol/event-codec';
import { loadProto, loadReflectionDefinition, SERVICE_NAME } from '../protocol/proto';
import type { Store } from '../store/store';
import { authInterceptor, type AuthOptions } from './auth';
import type { ServiceContext } from './context';
import { consumerHandlers } from './consumer-handlers';
import { eventHandlers } from './event-handlers';
import { logHandlers } from './log-handlers';
import { DEFAULT_LIMITS, EVENT_STREAM_PATHS, healthWatchLimitInterceptor, serverChannelOptions, subscriberLimitInterceptor, type Limits } from './limits';
import { prdHandlers } from './prd-handlers';
import { eventStreamWriters } from './stream-writer';
import { taskHandlers } from './task-handlers';
import { limitInboundWindow } from './inbound-window';
import type { RequestMetrics } from './request-metrics';

/** PEM contents. `ca` set: clients must present a certificate it signed (mTLS). */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export interface GrpcServerOptions {
  projectDir: string;
  /** Host to bind; undefined binds both loopbacks (::1 and 127.0.0.1) so "localhost" always answers. */
  host?: string;
  port: number;
  /** Bearer tokens; absent or empty: no authentication. */
  auth?: AuthOptions;
  /** Absent: plaintext. */
  tls?: ServerTls;
  limits?: Limits;
  /** Models for GenerateTasksFromPRD / OrchestrateTask; absent: DEFAULT_PRD_CONFIG. */
  prd?: PrdConfig;
  /** Counts and times every call (the operations endpoint, src/ops/); absent: no request metrics. */
  requestMetrics?: RequestMetrics;
}

export interface GrpcServer {
  /** The bound addresses, e.g. ["127.0.0.1:50051", "[::1]:50051"]. */
  addresses: string[];
  port: number;
  /** What the health service reports, for the whole server and for rigger.v1.RiggerService. */
  setServing(serving: boolean): void;
  /** Stops accepting and lets calls in flight finish, closing any still open after `graceMs`. */
  stop(graceMs: number, logger: Logger): Promise<void>;
}

export class PortInUseError extends Error {}

/** Builds the server on `store` and `hub` and binds it; health reports NOT_SERVING until setServing(true). */
export async function startGrpcServer(store: Store, hub: EventHub, consumers: ConsumerRegistry, options: GrpcServerOptions, logger: Logger): Promise<GrpcServer> {
  const serviceDefinition = loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition;
  // The event streams send events encoded once at commit: their serializer passes the bytes through.
  const streamingDefinition: grpc.ServiceDefinition = {
    ...serviceDefinition,
    SubscribeToTaskEvents: { ...serviceDefinition.SubscribeToTaskEvents!, responseSerialize: passThroughSerializer },
    TaskEventStream: { ...serviceDefinition.TaskEventStream!, responseSerialize: passThroughSerializer },
    // Deliveries wrap the event's stored bytes (protocol/consumer-codec.ts); every response is sent encoded.
    ConsumeTaskEvents: { ...serviceDefinition.ConsumeTaskEvents!, responseSerialize: passThroughSerializer },
  };

  const writers = eventStreamWriters(EVENT_STREAM_PATHS);
  const limits = options.limits ?? DEFAULT_LIMITS;
  const context: ServiceContext = { store, hub, consumers, writerFor: writers.writerFor, logger, projectDir: options.projectDir, memberStallMs: limits.memberStallMs, maxWritesInFlight: limits.maxWritesInFlight };
  const auth = options.auth && authInterceptor(options.auth);
  const server = new grpc.Server({
    ...serverChannelOptions(limits),
    // grpc-js nests these in order, the first innermost; the writers' must stay first (see stream-writer.ts).
    interceptors: [
      writers.interceptor,
      // Next to the writers', so every status passes it: the refusals of auth and the limits too.
      ...(options.requestMetrics ? [options.requestMetrics.interceptor] : []),
      ...(auth ? [auth] : []),
      // Consumer groups without members give their hub subscriptions up first (ConsumerRegistry.releaseIdle).
      subscriberLimitInterceptor(limits, () => {
        if (hub.subscriberCount >= limits.maxSubscribers) consumers.releaseIdle(hub.subscriberCount - limits.maxSubscribers + 1);
        return hub.subscriberCount;
      }),
      healthWatchLimitInterceptor(limits.maxHealthWatchers),
    ],
  });
  server.addService(streamingDefinition, {
    ...taskHandlers(context),
    ...eventHandlers(context),
    ...logHandlers(context),
    ...consumerHandlers(context),
    ...prdHandlers(context, options.prd ?? DEFAULT_PRD_CONFIG),
  } as grpc.UntypedServiceImplementation);
  new ReflectionService(loadReflectionDefinition()).addToServer(server);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);

  const addresses = await bindAll(server, options.host, options.port, serverCredentials(options.tls));
  const port = Number(addresses[0]!.slice(addresses[0]!.lastIndexOf(':') + 1));
  return {
    addresses,
    port,
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(SERVICE_NAME, status);
    },
    stop: (graceMs, log) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          log.warn('grace period over; closing the remaining calls');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

function serverCredentials(tls: ServerTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.ca !== undefined);
}

async function bindAll(server: grpc.Server, host: string | undefined, port: number, credentials: grpc.ServerCredentials): Promise<string[]> {
  const bind = (address: string) =>
    new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (error, boundPort) => {
        if (error) return reject(error);
        // Before the first connection on this address can be accepted (I/O runs after this callback).
        limitInboundWindow(server);
        resolve(boundPort);
      }),
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

function formatAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
