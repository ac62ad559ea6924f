// Loads the wire contract once. Services and clients come from the .proto text (so the `metadata`
// map is a plain object); server reflection comes from the FileDescriptorSet that buf compiles in
// the build (dist/proto/rigger.binpb, by scripts/gen-proto.js), because Go-based clients (grpcurl,
// buf curl) reject the descriptors proto-loader reconstructs from text. protobufjs reads a map
// field from a descriptor set as a list of entries, hence the two loads.
import fs from 'node:fs';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
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

let definition: protoLoader.PackageDefinition | undefined;
let loaded: LoadedProto | undefined;

/** Loaded when first needed: encoding events (loadMessageType) takes only the protobufjs under it. */
const protoLoaderModule = () => require('@grpc/proto-loader') as typeof protoLoader;

/** The messages' and methods' codecs, without loading grpc-js. */
export function loadDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoaderModule().loadSync('rigger/v1/rigger.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  return definition;
}

/** What a protobufjs message type offers: proto-loader's serializers are fromObject, then encode. */
export interface MessageType {
  fromObject(value: object): object;
  encode(message: object): { finish(): Uint8Array };
}

/**
 * One message type, parsed from the .proto text by the protobufjs proto-loader uses, with the same
 * parse option (keepCase), so it encodes exactly as loadDefinition's serializers do; without
 * building loadDefinition's descriptors of every type and method, most of a CLI write's start.
 */
export function loadMessageType(name: string): MessageType {
  const protobufjs = require(require.resolve('protobufjs', { paths: [require.resolve('@grpc/proto-loader')] })) as {
    Root: new () => {
      resolvePath: (origin: string, target: string) => string;
      loadSync(file: string, options: { keepCase: boolean }): { lookupType(name: string): MessageType };
    };
  };
  const root = new protobufjs.Root();
  root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
  return root.loadSync('rigger/v1/rigger.proto', { keepCase: LOADER_OPTIONS.keepCase === true }).lookupType(name);
}

export function loadProto(): LoadedProto {
  if (!loaded) {
    const { loadPackageDefinition } = require('@grpc/grpc-js') as typeof grpc;
    loaded = { definition: loadDefinition(), grpcObject: loadPackageDefinition(loadDefinition()) as unknown as ProtoGrpcType };
  }
  return loaded;
}

/** The compiled descriptors, for server reflection only. */
export function loadReflectionDefinition(): protoLoader.PackageDefinition {
  const definition = protoLoaderModule().loadFileDescriptorSetFromBuffer(fs.readFileSync(DESCRIPTOR_SET_PATH), LOADER_OPTIONS);
  clearFalseMapEntries(definition);
  return definition;
}

interface MessageDescriptor {
  name?: string;
  field?: { label?: number | string; typeName?: string }[];
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}

/**
 * protobufjs, reading a descriptor set, marks every message that holds a map field as a map entry
 * itself (Type.fromDescriptor sets map_entry on the parent of each nested entry), and proto-loader
 * serves its descriptors from that. Go clients (grpcurl, buf curl) then refuse the whole file as
 * soon as any field refers to such a message (ConsumerDelivery.event is a TaskEvent, which has
 * `metadata`). Only a nested type that a repeated field of its parent refers to is a map entry:
 * the flag is cleared everywhere else, in the encoded files reflection hands out.
 */
function clearFalseMapEntries(definition: protoLoader.PackageDefinition): void {
  // Resolved from @grpc/reflection's own dependencies: it decodes these same descriptors with it.
  const descriptorModule = require.resolve('protobufjs/ext/descriptor', { paths: [require.resolve('@grpc/reflection')] });
  const { FileDescriptorProto } = require(descriptorModule) as {
    FileDescriptorProto: { decode(bytes: Buffer): { messageType: MessageDescriptor[] }; encode(message: object): { finish(): Uint8Array } };
  };
  const fix = (message: MessageDescriptor, parent: MessageDescriptor | undefined): boolean => {
    let changed = false;
    const isEntry = parent?.field?.some(
      (f) => (f.label === 3 || f.label === 'LABEL_REPEATED') && (f.typeName === message.name || f.typeName?.endsWith(`.${message.name}`)),
    );
    if (message.options?.mapEntry && !isEntry) {
      message.options.mapEntry = false;
      changed = true;
    }
    for (const nested of message.nestedType ?? []) changed = fix(nested, message) || changed;
    return changed;
  };
  const fixed = new Map<Buffer, Buffer>();
  for (const entry of Object.values(definition)) {
    const files = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    if (!Array.isArray(files)) continue;
    files.forEach((bytes, i) => {
      let replacement = fixed.get(bytes);
      if (!replacement) {
        const file = FileDescriptorProto.decode(bytes);
        const changed = file.messageType.map((m) => fix(m, undefined)).some(Boolean);
        replacement = changed ? Buffer.from(FileDescriptorProto.encode(file).finish()) : bytes;
        fixed.set(bytes, replacement);
      }
      files[i] = replacement;
    });
  }
}
