// Connection and call limits: the grpc-js channel options for them, and an interceptor capping
// how many event streams may be open at once.
import * as grpc from '@grpc/grpc-js';
import { SERVICE_NAME } from '../protocol/proto';

export interface Limits {
  /** Largest request message accepted, in bytes (larger -> RESOURCE_EXHAUSTED). */
  maxRequestBytes: number;
  /** Concurrent HTTP/2 streams (calls) one connection may have open. */
  maxConcurrentStreams: number;
  /** Event streams (SubscribeToTaskEvents + TaskEventStream) open at once, over all connections. */
  maxSubscribers: number;
  /** Ping an idle connection after this long, in ms ... */
  keepaliveTimeMs: number;
  /** ... and close it (releasing its streams) when the ping is not answered within this, in ms. */
  keepaliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxConcurrentStreams: 1000,
  maxSubscribers: 10_000,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
};

export function serverChannelOptions(limits: Limits): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': limits.maxRequestBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    // Sidecars ping to keep long-lived streams alive through NATs; allow it without calling it abuse.
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  };
}

export const EVENT_STREAM_PATHS: ReadonlySet<string> = new Set([`/${SERVICE_NAME}/SubscribeToTaskEvents`, `/${SERVICE_NAME}/TaskEventStream`]);

/**
 * Refuses a new event stream with RESOURCE_EXHAUSTED when `max` are open. Counts the open calls
 * itself (exact even when many start at once) and also asks the hub, so a subscription that
 * outlived its call would count against the limit too.
 */
export function subscriberLimitInterceptor(max: number, hubSubscribers: () => number): grpc.ServerInterceptor {
  let open = 0;
  return (method, call) => {
    if (!EVENT_STREAM_PATHS.has(method.path)) return new grpc.ServerInterceptingCall(call);
    let counted = false;
    let ended = false;
    const release = () => {
      if (counted && !ended) open--;
      ended = true;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (Math.max(open, hubSubscribers()) >= max) {
              ended = true;
              call.sendStatus({
                code: grpc.status.RESOURCE_EXHAUSTED,
                details: `this server already has ${max} event subscribers (its --max-subscribers limit); close an unused stream or raise the limit`,
                metadata: new grpc.Metadata(),
              });
              return;
            }
            open++;
            counted = true;
            pass(metadata);
          },
          onCancel: release,
        }),
      sendStatus: (status, pass) => {
        release();
        pass(status);
      },
    });
  };
}
