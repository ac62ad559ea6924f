// Request metrics for the operations endpoint (src/ops/): a server interceptor that counts every
// call by method and status code, times it, and keeps how many are open on each method. Installed
// right after the stream writers' interceptor (server.ts), so it sees the status of every call,
// the refusals of auth and limits included. Its cost per call: one closure and one listener; the
// label children are made once per method (and code) and reused, so no label object is allocated
// per call and nothing at all per message.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import client from 'prom-client';

/** Seconds: unary calls take well under a millisecond to a few seconds; streams land in the top buckets. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Status code number -> its name (0 -> "OK", 5 -> "NOT_FOUND"), as in the gRPC spec. */
const CODE_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, code] of Object.entries(grpc.status)) if (typeof code === 'number') names[code] = name;
  return names;
})();

interface MethodMetrics {
  open: number;
  service: string;
  method: string;
  /** The counter's child for each status code, made on first use. */
  byCode: (client.Counter.Internal | undefined)[];
  latency: client.Histogram.Internal<'service' | 'method'>;
}

export interface RequestMetrics {
  /** The interceptor to install (server.ts). */
  interceptor: grpc.ServerInterceptor;
  /** Calls open now on `path` ("/rigger.v1.RiggerService/SubscribeToTaskEvents"). */
  openCalls(path: string): number;
}

/** Registers the request metrics in `registry` and returns the interceptor that feeds them. */
export function createRequestMetrics(registry: client.Registry): RequestMetrics {
  const handled = new client.Counter({
    name: 'rigger_grpc_requests_total',
    help: 'gRPC calls finished, by service, method and status code (CANCELLED when the client went away)',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'rigger_grpc_request_duration_seconds',
    help: "Time from a gRPC call's arrival to its status, by service and method (for a stream: how long it was open)",
    labelNames: ['service', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const byPath = new Map<string, MethodMetrics>();
  new client.Gauge({
    name: 'rigger_grpc_requests_in_flight',
    help: 'gRPC calls open now, by service and method (event streams stay open)',
    labelNames: ['service', 'method'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of byPath.values()) this.set({ service: m.service, method: m.method }, m.open);
    },
  });

  const metricsOf = (path: string): MethodMetrics => {
    let m = byPath.get(path);
    if (!m) {
      // grpc-js runs interceptors only for registered methods, so there is one entry per method.
      const slash = path.lastIndexOf('/');
      const service = path.slice(1, slash);
      const method = path.slice(slash + 1);
      m = { open: 0, service, method, byCode: [], latency: duration.labels(service, method) };
      byPath.set(path, m);
    }
    return m;
  };

  const interceptor: grpc.ServerInterceptor = (descriptor, call) => {
    const m = metricsOf(descriptor.path);
    const started = performance.now();
    m.open++;
    let done = false;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      m.open--;
      (m.byCode[code] ??= handled.labels(m.service, m.method, CODE_NAMES[code] ?? String(code))).inc();
      m.latency.observe((performance.now() - started) / 1000);
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => finish(grpc.status.CANCELLED) }),
      sendStatus: (status, pass) => {
        finish(status.code);
        pass(status);
      },
    });
  };

  return { interceptor, openCalls: (path) => byPath.get(path)?.open ?? 0 };
}
