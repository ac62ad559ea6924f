// Loads the wire contract once. Services and clients come from the .proto text (so the `metadata`
// map is a plain object); server reflection comes from the FileDescriptorSet that buf compiles in
// the build (dist/proto/rigger.binpb, by scripts/gen-proto.js), because Go-based clients (grpcurl,
// buf curl) reject the descriptors proto-loader reconstructs from text. protobufjs reads a map
// field from a descriptor set as a list of entries, hence the two loads.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/rigger';

/** Must match the flags given to proto-loader-gen-types in scripts/gen-proto.js. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: Number,
  arrays: true,
  oneofs: false,
  defaults: false,
};

const PROTO_DIR = path.resolve(__dirname, '../../../proto');
const DESCRIPTOR_SET_PATH = path.resolve(__dirname, '../../proto/rigger.binpb');

export const SERVICE_NAME = 'rigger.v1.RiggerService';

interface LoadedProto {
  definition: protoLoader.PackageDefinition;
  grpcObject: ProtoGrpcType;
}

let loaded: LoadedProto | undefined;

export function loadProto(): LoadedProto {
  if (!loaded) {
    const definition = protoLoader.loadSync('rigger/v1/rigger.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    loaded = { definition, grpcObject: grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType };
  }
  return loaded;
}

/** The compiled descriptors, for server reflection only. */
export function loadReflectionDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(DESCRIPTOR_SET_PATH), LOADER_OPTIONS);
}
