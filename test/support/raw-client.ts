// A raw grpc-js client: sends and receives bytes, no protobuf, so a test can call any method
// (health, reflection, or a RiggerService method with hostile bytes).
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer) => b;

export interface RawOutcome {
  /** The status the call ended with (OK for success). */
  code: grpc.status;
  details: string;
  response?: Buffer;
}

export function rawClient(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(address, credentials, { 'grpc.max_send_message_length': -1, ...options });
}

/** One unary call with raw request bytes; resolves with its status, never rejects. */
export function rawUnary(client: grpc.Client, path: string, request: Buffer, metadata = new grpc.Metadata(), deadlineMs = 10_000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
      if (error) resolve({ code: error.code, details: error.details });
      else resolve({ code: grpc.status.OK, details: '', ...(response && { response }) });
    });
  });
}

/**
 * Ends a bidi call on a fact instead of a wait: a request written after the others, which the server
 * answers only once it has handled them (TaskEventStream's BookmarkRequest takes its turn in order).
 */
export interface StreamBarrier {
  request: Buffer;
  /** A response message that answers the barrier: everything before it was accepted. */
  answeredBy(response: Buffer): boolean;
  /** The status details of the barrier's own refusal (e.g. no subscribe before it): everything before it was accepted too. */
  refusal: RegExp;
}

/**
 * A server-streaming or bidi call with raw request bytes. Resolves with the status when the call
 * ends, or with `headers: true` once the stream is live and then cancels it: for a bidi call, once
 * the server has answered (or refused) `barrier`; for a server stream, once it has sent response
 * headers. Resolves with `open: true` when neither happened within `waitMs`.
 */
export function rawStream(
  client: grpc.Client,
  path: string,
  requests: Buffer[],
  kind: 'server' | 'bidi',
  metadata = new grpc.Metadata(),
  waitMs = 2000,
  barrier?: StreamBarrier,
): Promise<RawOutcome & { headers?: boolean; open?: boolean }> {
  return new Promise((resolve) => {
    const call =
      kind === 'server'
        ? client.makeServerStreamRequest(path, identity, identity, requests[0] ?? Buffer.alloc(0), metadata, {})
        : client.makeBidiStreamRequest(path, identity, identity, metadata, {});
    let settled = false;
    const settle = (outcome: RawOutcome & { headers?: boolean; open?: boolean }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      call.cancel();
    };
    const timer = setTimeout(() => settle({ code: grpc.status.OK, details: '', open: true }), waitMs);
    const live = () => settle({ code: grpc.status.OK, details: '', headers: true });
    const ended = (code: grpc.status, details: string) => (barrier?.refusal.test(details) ? live() : settle({ code, details }));
    call.on('data', (response: Buffer) => {
      if (barrier?.answeredBy(response)) live();
    });
    call.on('error', (error: grpc.ServiceError) => ended(error.code, error.details));
    call.on('status', (status: grpc.StatusObject) => ended(status.code, status.details));
    if (kind === 'bidi') {
      if (!barrier) throw new Error('a bidi rawStream needs a barrier: headers alone do not say the server has read the requests');
      const duplex = call as grpc.ClientDuplexStream<Buffer, Buffer>;
      for (const request of [...requests, barrier.request]) duplex.write(request);
    } else {
      call.on('metadata', () => setTimeout(() => settle({ code: grpc.status.OK, details: '', headers: true }), 50));
    }
  });
}
