import * as grpc from '@grpc/grpc-js';

/** Binds a peer's server to an ephemeral 127.0.0.1 port (insecure, as the hub under test runs). */
export function listenOnLoopback(server: grpc.Server): Promise<{ address: string }> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve({ address: `127.0.0.1:${port}` }),
    ),
  );
}
