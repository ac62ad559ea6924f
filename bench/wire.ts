// Subscriber streams that keep each message as the raw bytes received, so a client process spends
// the same (small) work per message whether the hub or a transport peer sent it.
import * as grpc from '@grpc/grpc-js';
import type { SubscribeToTaskEventsRequest } from '../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { loadProto, SERVICE_NAME } from '../src/protocol/proto';

export const CEILING_STREAM_PATH = '/bench.Ceiling/Stream';
export const HUB_SUBSCRIBE_PATH = `/${SERVICE_NAME}/SubscribeToTaskEvents`;

/** Bytes in, the same bytes out: a serializer for messages already encoded. */
export const identity = (bytes: Buffer) => bytes;

/** A service definition whose methods carry bytes untouched both ways (for the peers). */
export function rawServerStreamDefinition(): grpc.ServiceDefinition {
  return {
    Stream: {
      path: CEILING_STREAM_PATH,
      requestStream: false,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
}

export function encodeSubscribeRequest(request: SubscribeToTaskEventsRequest): Buffer {
  const method = loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition;
  return method.SubscribeToTaskEvents!.requestSerialize(request);
}

/** Opens a server-streaming call whose messages arrive as Buffers. */
export function openRawStream(client: grpc.Client, path: string, request: Buffer): grpc.ClientReadableStream<Buffer> {
  return client.makeServerStreamRequest<Buffer, Buffer>(path, identity, identity, request);
}

/**
 * Walks the top-level fields of an encoded message without decoding it, cheap enough to run on
 * every one of 100,000 messages a second: `visit` gets each varint field's number and value (`end`
 * -1) and each length-delimited one's number and byte range [value, end); fixed-size fields are
 * skipped. Stops when `visit` returns true, or at a wire type it does not know.
 */
export function walkFields(bytes: Buffer, visit: (field: number, value: number, end: number) => boolean | void): void {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = tag >>> 3;
    switch (tag & 7) {
      case 0:
        if (visit(field, varint(), -1)) return;
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const length = varint(); // read before adding: `pos += varint()` would add to the position before the length
        const start = pos;
        pos += length;
        if (visit(field, start, pos)) return;
        break;
      }
      default:
        return;
    }
  }
}

/** The `timestamp` (field 2) of an encoded TaskEvent. */
export function eventTimestamp(bytes: Buffer): string | undefined {
  let timestamp: string | undefined;
  walkFields(bytes, (field, start, end) => {
    if (field !== 2 || end < 0) return false;
    timestamp = bytes.toString('latin1', start, end);
    return true;
  });
  return timestamp;
}
