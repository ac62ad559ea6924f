import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ConsumerRegistry } from '../hub/consumer-registry';
import type { EventHub } from '../hub/event-hub';
import { validateClientName } from '../protocol/client-name';
import { ACTOR_HEADER, CLIENT_NAME_HEADER } from '../protocol/metadata';
import type { Store } from '../store/store';
import { toServiceError } from './errors';
import type { EventStreamWriter } from './stream-writer';

/** What every handler may use. Handlers hold no SQL: they translate and call the store or hub. */
export interface ServiceContext {
  store: Store;
  hub: EventHub;
  consumers: ConsumerRegistry;
  /** The writer of an event stream's call, found by its request Metadata. */
  writerFor(metadata: grpc.Metadata): EventStreamWriter | undefined;
  logger: Logger;
  /** How long a consumer member's stream may stay full while its requests are held back (Limits). */
  memberStallMs: number;
  /** Writes one WriteTasks stream may have in flight before the server stops reading it (Limits). */
  maxWritesInFlight: number;
  /** The project directory (the one holding .rigger/). */
  projectDir: string;
}

/** The actor a mutation is recorded under: `x-rigger-actor` metadata, else the peer address. */
export function actorOf(call: { metadata: grpc.Metadata; getPeer(): string }): string {
  const given = call.metadata.get(ACTOR_HEADER)[0];
  if (typeof given === 'string' && given.trim() !== '') return given.trim().slice(0, 200);
  return call.getPeer();
}

/** The `x-rigger-client-name` the call sent, checked (invalid_argument when it is not short and printable); undefined when none. */
export function clientNameOf(metadata: grpc.Metadata): string | undefined {
  const given = metadata.get(CLIENT_NAME_HEADER)[0];
  if (given === undefined) return undefined;
  return validateClientName(typeof given === 'string' ? given : given.toString('latin1'));
}

/** Wraps a unary implementation: its result is the response, a thrown error becomes a status. */
export function unary<Req, Res>(
  context: ServiceContext,
  implementation: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => implementation(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, context.logger)),
      );
  };
}
