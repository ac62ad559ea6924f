// The hub's gRPC service as the bench's worker processes call it: one client per address, kept for
// the process's life, and a unary call as a promise.
import type * as grpc from '@grpc/grpc-js';
import { connectService } from '../src/client/connect';
import type { RiggerServiceClient } from '../src/generated/rigger/v1/RiggerService';

const clients = new Map<string, RiggerServiceClient>();

/** The client for `address`, made on first use. */
export function serviceFor(address: string): RiggerServiceClient {
  let client = clients.get(address);
  if (!client) {
    client = connectService(address);
    clients.set(address, client);
  }
  return client;
}

/** Calls unary `method` with `request`; resolves with the response (untyped unless the caller names it), rejects with the ServiceError. */
export function unaryCall<T = any>(client: RiggerServiceClient, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.call(client, request, (error: grpc.ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response),
    );
  });
}
