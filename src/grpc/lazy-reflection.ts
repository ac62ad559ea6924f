// Server reflection (grpcurl, buf curl, Postman), built on its first call. @grpc/reflection indexes
// and encodes every descriptor and parses its own two .proto files when it is added to a server, a
// large part of a server's start, and most servers are never asked. The two services are
// registered at once under their real paths; the first message of either builds the real service.
import * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

const PATHS = ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'];

interface Method {
  handler: grpc.handleBidiStreamingCall<unknown, unknown>;
  serialize: grpc.serialize<unknown>;
  deserialize: grpc.deserialize<unknown>;
}

/** A server that is never bound: it only keeps what ReflectionService.addToServer hands it. */
class Recorder extends grpc.Server {
  readonly methods = new Map<string, Method>();

  constructor() {
    super({ 'grpc.enable_channelz': 0 });
  }

  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    for (const [name, method] of Object.entries(service)) {
      const handler = implementation[name] as grpc.handleBidiStreamingCall<unknown, unknown>;
      this.methods.set(method.path, { handler, serialize: method.responseSerialize, deserialize: method.requestDeserialize });
    }
  }
}

/** Registers reflection v1 and v1alpha on `server`; `definition` is read when a client first uses either. */
export function addLazyReflection(server: grpc.Server, definition: () => PackageDefinition): void {
  let methods: Map<string, Method> | undefined;
  const method = (path: string): Method => {
    if (!methods) {
      const recorder = new Recorder();
      new ReflectionService(definition()).addToServer(recorder);
      methods = recorder.methods;
    }
    const found = methods.get(path);
    if (!found) throw new Error(`@grpc/reflection no longer serves ${path}`);
    return found;
  };
  for (const path of PATHS) {
    server.register(
      path,
      (call: grpc.ServerDuplexStream<unknown, unknown>) => method(path).handler(call),
      (value: unknown) => method(path).serialize(value),
      (bytes: Buffer) => method(path).deserialize(bytes),
      'bidi',
    );
  }
}
