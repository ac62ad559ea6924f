// Assembles the gRPC server: the service with its handlers, reflection, health, interceptors and
// the bound addresses. What runs beside it (the hub, background jobs, shutdown order) is
// src/hub-server.ts.
import * as grpc from '@grpc/grpc-js';
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
import { statusHandlers } from './status-handlers';
import { DEFAULT_LIMITS, EVENT_STREAM_PATHS, healthWatchLimitInterceptor, serverChannelOptions, subscriberLimitInterceptor, type Limits } from './limits';
import { prdHandlers } from './prd-handlers';
import { eventStreamWriters } from './stream-writer';
import { taskHandlers } from './task-handlers';
import { limitInboundWindow } from './inbound-window';
import { addLazyReflection } from './lazy-reflection';
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
}

/** What the service's handlers serve from. */
export interface GrpcBackend {
  store: Store;
  hub: EventHub;
  consumers: ConsumerRegistry;
  /** Counts and times every call (the operations endpoint, src/ops/); absent: no request metrics. */
  requestMetrics?: RequestMetrics;
}

export interface GrpcServer {
  /** The bound addresses, e.g. ["127.0.0.1:50051", "[::1]:50051"]. */
  addresses: string[];
  port: number;
  /** Installs the service's handlers; until then every call of rigger.v1.RiggerService gets UNAVAILABLE. */
  serve(backend: GrpcBackend): void;
  /** What the health service reports, for the whole server and for rigger.v1.RiggerService. */
  setServing(serving: boolean): void;
  /** Stops accepting and lets calls in flight finish, closing any still open after `graceMs`. */
  stop(graceMs: number, logger: Logger): Promise<void>;
}

export class PortInUseError extends Error {}

/**
 * Builds the server and binds it; health reports NOT_SERVING until setServing(true), and the
 * service's calls get UNAVAILABLE with `notServing()`'s reason until serve() (the server listens
 * while the database's integrity check runs: hub-server.ts).
 */
export async function startGrpcServer(options: GrpcServerOptions, logger: Logger, notServing: () => string): Promise<GrpcServer> {
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
  let backend: GrpcBackend | undefined;
  let handlers: grpc.UntypedServiceImplementation | undefined;
  const auth = options.auth && authInterceptor(options.auth);
  // Installed by serve(); calls before it pass on uncounted.
  const requestMetrics: grpc.ServerInterceptor = (method, call) =>
    backend?.requestMetrics ? backend.requestMetrics.interceptor(method, call) : new grpc.ServerInterceptingCall(call);
  const server = new grpc.Server({
    ...serverChannelOptions(limits),
    // grpc-js nests these in order, the first innermost; the writers' must stay first (see stream-writer.ts).
    interceptors: [
      writers.interceptor,
      // Next to the writers', so every status passes it: the refusals of auth and the limits too.
      requestMetrics,
      ...(auth ? [auth] : []),
      // Consumer groups without members give their hub subscriptions up first (ConsumerRegistry.releaseIdle).
      subscriberLimitInterceptor(limits, () => {
        if (!backend) return 0;
        const { hub, consumers } = backend;
        if (hub.subscriberCount >= limits.maxSubscribers) consumers.releaseIdle(hub.subscriberCount - limits.maxSubscribers + 1);
        return hub.subscriberCount;
      }),
      healthWatchLimitInterceptor(limits.maxHealthWatchers),
    ],
  });
  server.addService(
    streamingDefinition,
    forwardingTo(streamingDefinition, () => handlers, notServing),
  );
  addLazyReflection(server, loadReflectionDefinition);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);

  const addresses = await bindAll(server, options.host, options.port, serverCredentials(options.tls));
  const port = Number(addresses[0]!.slice(addresses[0]!.lastIndexOf(':') + 1));
  return {
    addresses,
    port,
    serve(served) {
      const context: ServiceContext = {
        ...served,
        writerFor: writers.writerFor,
        logger,
        projectDir: options.projectDir,
        memberStallMs: limits.memberStallMs,
        maxWritesInFlight: limits.maxWritesInFlight,
      };
      handlers = {
        ...taskHandlers(context),
        ...eventHandlers(context),
        ...logHandlers(context),
        ...statusHandlers(context),
        ...consumerHandlers(context),
        ...prdHandlers(context, options.prd ?? DEFAULT_PRD_CONFIG),
      } as grpc.UntypedServiceImplementation;
      backend = served;
    },
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

/** Every method of `definition` calls the handler of that name once there are handlers, and until then ends with UNAVAILABLE and `why()`. */
function forwardingTo(
  definition: grpc.ServiceDefinition,
  current: () => grpc.UntypedServiceImplementation | undefined,
  why: () => string,
): grpc.UntypedServiceImplementation {
  const unavailable = (): Partial<grpc.StatusObject> => ({ code: grpc.status.UNAVAILABLE, details: `${why()}; retry when the health service says SERVING` });
  const forwarding: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    forwarding[name] = method.responseStream
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const handler = current()?.[name] as ((call: unknown) => void) | undefined;
          if (handler) handler(call);
          else call.emit('error', unavailable());
        }
      : (call: unknown, callback: grpc.sendUnaryData<unknown>) => {
          const handler = current()?.[name] as ((call: unknown, callback: grpc.sendUnaryData<unknown>) => void) | undefined;
          if (handler) handler(call, callback);
          else callback(unavailable());
        };
  }
  return forwarding as grpc.UntypedServiceImplementation;
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
