import * as grpc from '@grpc/grpc-js';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import { loadProto } from '../grpc/proto';

export interface ConnectOptions {
  /** Credentials; plaintext when absent. */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** A generated-typed client for rigger.v1.RiggerService at `address` (host:port). */
export function connectService(address: string, options: ConnectOptions = {}): RiggerServiceClient {
  const { grpcObject } = loadProto();
  return new grpcObject.rigger.v1.RiggerService(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    options.channelOptions,
  );
}
