import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import { validateClientName } from '../protocol/client-name';
import { AUTHORIZATION_HEADER, CLIENT_NAME_HEADER } from '../protocol/metadata';
import { loadProto } from '../protocol/proto';

/** PEM file paths for a TLS connection. */
export interface TlsFiles {
  /** CA (or self-signed server certificate) to trust; the system roots when absent. */
  ca?: string;
  /** Client certificate and its key, for servers that require mTLS. */
  cert?: string;
  key?: string;
}

export interface ConnectOptions {
  /** Credentials; plaintext when absent (and no `tls`). Takes precedence over `tls`. */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Connect with TLS using these files. */
  tls?: TlsFiles;
  /**
   * Sent as `x-rigger-client-name` on every call, shown by GetHubStatus and `rig status`: what the
   * program is, then after a "/" what tells its instances apart (e.g. "logger/4711"). 1-100
   * printable ASCII characters.
   */
  clientName?: string;
}

/**
 * How grpc-js reconnects a channel whose connection attempt failed. Its defaults (1 s, growing
 * 1.6x up to 120 s) sit under the client's own backoff: after a long outage the channel's next
 * attempt can come tens of seconds after the server is back, and until then every call fails at
 * once with the cached `connect ECONNREFUSED`. Capped at 800 ms (+-20% jitter: under a second) the
 * channel is never more than a second behind the server; the client's backoff (backoff.ts) stays
 * the one that paces streams and that a user tunes. A failed attempt against a reachable host costs
 * one refused TCP connect. grpc-js has no `grpc.min_reconnect_backoff_ms` (C-core's minimum connect
 * timeout), nor a connect timeout: an attempt to a host that drops packets lasts as long as the
 * OS's TCP connect.
 */
export const RECONNECT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 800,
};

/**
 * Channel options every client of ours starts from: the reconnect timing above, and a 1 MiB HTTP/2
 * flow-control window. grpc-js receives with HTTP/2's default 64 KiB, so a subscriber catching up
 * waits a round trip for every 64 KiB of events; with 1 MiB the server keeps the connection full. A
 * stream never buffers more than this in the client.
 */
export const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  ...RECONNECT_CHANNEL_OPTIONS,
  'grpc-node.flow_control_window': 1024 * 1024,
};

/** A generated-typed client for rigger.v1.RiggerService at `address` (host:port). */
export function connectService(address: string, options: ConnectOptions = {}): RiggerServiceClient {
  const { grpcObject } = loadProto();
  const channelOptions: grpc.ChannelOptions = { ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions };
  const headers: [string, string][] = [];
  if (options.token !== undefined) headers.push([AUTHORIZATION_HEADER, `Bearer ${options.token}`]);
  if (options.clientName !== undefined) headers.push([CLIENT_NAME_HEADER, validateClientName(options.clientName)]);
  if (headers.length > 0) {
    channelOptions.interceptors = [...((channelOptions.interceptors as grpc.Interceptor[] | undefined) ?? []), headerInterceptor(headers)];
  }
  return new grpcObject.rigger.v1.RiggerService(address, channelCredentials(options), channelOptions);
}

export function channelCredentials(options: ConnectOptions): grpc.ChannelCredentials {
  if (options.credentials) return options.credentials;
  if (!options.tls) return grpc.credentials.createInsecure();
  const read = (file: string | undefined, what: string) => {
    if (file === undefined) return null;
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  if ((options.tls.cert === undefined) !== (options.tls.key === undefined)) throw new Error('a TLS client certificate needs both cert and key');
  return grpc.credentials.createSsl(read(options.tls.ca, 'CA'), read(options.tls.key, 'key'), read(options.tls.cert, 'certificate'));
}

// An interceptor, not call credentials: grpc-js refuses call credentials on a plaintext channel,
// and a token over plaintext loopback is a supported setup.
function headerInterceptor(headers: readonly [string, string][]): grpc.Interceptor {
  return (callOptions, nextCall) =>
    new grpc.InterceptingCall(nextCall(callOptions), {
      start(metadata, listener, next) {
        for (const [name, value] of headers) metadata.set(name, value);
        next(metadata, listener);
      },
    });
}
