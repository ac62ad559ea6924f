// Connection and call limits: the grpc-js channel options for them, and interceptors capping how
// many long-lived streams (event streams, health watches) may be open at once.
import * as grpc from '@grpc/grpc-js';
import { SERVICE_NAME } from '../protocol/proto';

export interface Limits {
  /** Largest request message accepted, in bytes (larger -> RESOURCE_EXHAUSTED). */
  maxRequestBytes: number;
  /** Concurrent HTTP/2 streams (calls) one connection may have open. */
  maxConcurrentStreams: number;
  /** Event streams (SubscribeToTaskEvents, TaskEventStream, ConsumeTaskEvents) open at once, over all connections. */
  maxSubscribers: number;
  /** ... and on one connection. */
  maxSubscribersPerConnection: number;
  /** grpc.health.v1 Watch streams open at once (with tokens set they need none). */
  maxHealthWatchers: number;
  /** Ping an idle connection after this long, in ms ... */
  keepaliveTimeMs: number;
  /** ... and close it (releasing its streams) when the ping is not answered within this, in ms. */
  keepaliveTimeoutMs: number;
  /** A consumer member whose stream stays full this long while its requests are held back is ended, in ms. */
  memberStallMs: number;
  /** Writes one WriteTasks stream may have in flight (unanswered or unread) before the server stops reading it. */
  maxWritesInFlight: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxConcurrentStreams: 1000,
  maxSubscribers: 10_000,
  maxSubscribersPerConnection: 1000,
  maxHealthWatchers: 100,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  memberStallMs: 30_000,
  maxWritesInFlight: 1024,
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

export const EVENT_STREAM_PATHS: ReadonlySet<string> = new Set([
  `/${SERVICE_NAME}/SubscribeToTaskEvents`,
  `/${SERVICE_NAME}/TaskEventStream`,
  `/${SERVICE_NAME}/ConsumeTaskEvents`,
]);

const HEALTH_WATCH_PATHS: ReadonlySet<string> = new Set(['/grpc.health.v1.Health/Watch']);

/**
 * Refuses a new event stream with RESOURCE_EXHAUSTED when `limits.maxSubscribers` are open, or
 * `limits.maxSubscribersPerConnection` on its connection. Counts the open calls itself (exact
 * even when many start at once) and also asks the hub, so a subscription that outlived its call
 * would count against the limit too.
 */
export function subscriberLimitInterceptor(limits: Limits, hubSubscribers: () => number): grpc.ServerInterceptor {
  return streamLimitInterceptor(
    EVENT_STREAM_PATHS,
    (open) => {
      if (Math.max(open, hubSubscribers()) >= limits.maxSubscribers) {
        return `this server already has ${limits.maxSubscribers} event subscribers (its --max-subscribers limit); close an unused stream or raise the limit`;
      }
      return undefined;
    },
    {
      max: limits.maxSubscribersPerConnection,
      refusal: `this connection already holds ${limits.maxSubscribersPerConnection} event streams (the server's --max-subscribers-per-connection limit); close an unused stream or open another connection`,
    },
  );
}

/** Refuses a new health Watch stream with RESOURCE_EXHAUSTED when `max` are open. */
export function healthWatchLimitInterceptor(max: number): grpc.ServerInterceptor {
  return streamLimitInterceptor(HEALTH_WATCH_PATHS, (open) =>
    open >= max ? `this server already has ${max} health Watch streams (its --max-health-watchers limit); poll Check instead, or raise the limit` : undefined,
  );
}

/**
 * Counts the open calls on `paths` (over all connections, and per connection when `perConnection`
 * is given) and refuses a new one with the message `refusal` returns, before the handler sees it.
 */
function streamLimitInterceptor(
  paths: ReadonlySet<string>,
  refusal: (open: number) => string | undefined,
  perConnection?: { max: number; refusal: string },
): grpc.ServerInterceptor {
  let open = 0;
  const openByPeer = new Map<string, number>();
  return (method, call) => {
    if (!paths.has(method.path)) return new grpc.ServerInterceptingCall(call);
    const peer = call.getPeer();
    let counted = false;
    let ended = false;
    const release = () => {
      if (counted && !ended) {
        open--;
        const left = (openByPeer.get(peer) ?? 1) - 1;
        if (left === 0) openByPeer.delete(peer);
        else openByPeer.set(peer, left);
      }
      ended = true;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const onPeer = openByPeer.get(peer) ?? 0;
            const refused = refusal(open) ?? (perConnection && onPeer >= perConnection.max ? perConnection.refusal : undefined);
            if (refused !== undefined) {
              ended = true;
              call.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: refused, metadata: new grpc.Metadata() });
              return;
            }
            open++;
            openByPeer.set(peer, onPeer + 1);
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
