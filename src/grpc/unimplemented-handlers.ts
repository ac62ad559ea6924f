import * as grpc from '@grpc/grpc-js';

const PENDING = ['ParsePRD', 'GenerateTasksFromPRD', 'OrchestrateTask'] as const;

/** RPCs of the contract this server does not serve yet: UNIMPLEMENTED, saying so. */
export function unimplementedHandlers(): Record<string, grpc.handleUnaryCall<unknown, unknown>> {
  return Object.fromEntries(
    PENDING.map((name) => [
      name,
      (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        callback({ code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented by this server yet` }),
    ]),
  );
}
