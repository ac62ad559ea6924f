// A real grpc-js client for tests, with promise-returning unary calls and event collection.
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import type { RiggerServiceClient } from '../../src/generated/rigger/v1/RiggerService';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEvent } from '../../src/model/task';

export type { RiggerServiceClient };

export function connect(address: string): RiggerServiceClient {
  return connectService(address);
}

type UnaryMethod =
  'ListTasks' | 'AddTask' | 'UpdateTask' | 'GetTask' | 'DeleteTask' | 'ParsePRD' | 'GenerateTasksFromPRD' | 'OrchestrateTask' | 'GetLog' | 'GetHubStatus';

/** Calls a unary RPC; resolves with the response or rejects with the grpc.ServiceError. */
/** Call metadata carrying `token` as a bearer token, as the typed client sends it. */
export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export function call<T = any>(client: RiggerServiceClient, method: UnaryMethod, request: object, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => {
    (client[method] as (...args: unknown[]) => unknown).call(client, request, metadata, (error: grpc.ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/** Calls a unary RPC that must fail; resolves with its error. */
export async function callError(client: RiggerServiceClient, method: UnaryMethod, request: object, metadata?: grpc.Metadata): Promise<grpc.ServiceError> {
  try {
    await call(client, method, request, metadata);
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded but was expected to fail`);
}

export interface EventCollector {
  events: TaskEvent[];
  /** Resolves when the stream ends; with the error if it failed. */
  ended: Promise<grpc.ServiceError | undefined>;
  /** Resolves when the server has sent its response headers (the subscription is registered). */
  ready: Promise<void>;
  cancel(): void;
  waitForCount(n: number, timeoutMs?: number): Promise<TaskEvent[]>;
}

/** When an event stream ends (with its error, if it failed), when its headers are in, and its cancel. */
export function streamLifecycle(
  stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>,
): Pick<EventCollector, 'ended' | 'ready' | 'cancel'> {
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on('error', (error: grpc.ServiceError) => resolve(error));
    stream.on('end', () => resolve(undefined));
  });
  const ready = new Promise<void>((resolve) => {
    stream.once('metadata', () => resolve());
    void ended.then(() => resolve());
  });
  return { ended, ready, cancel: () => stream.cancel() };
}

/** Opens SubscribeToTaskEvents and collects what arrives. */
export function collectEvents(client: RiggerServiceClient, request: SubscribeToTaskEventsRequest = {}): EventCollector {
  const stream = client.SubscribeToTaskEvents(request);
  const events: TaskEvent[] = [];
  stream.on('data', (event) => events.push(event as unknown as TaskEvent));
  return {
    events,
    ...streamLifecycle(stream),
    async waitForCount(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} events, got ${events.length} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return events;
    },
  };
}
