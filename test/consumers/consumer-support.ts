// Helpers of the durable-consumer tests: a typed client per server, writing events, and reading a
// consumer's deliveries with a bound on count and time.
import { RiggerClient, type ConsumedEvent, type ConsumeOptions } from '../../src/client/index';
import type { ServerProcess } from '../support/processes';

const clients = new Set<RiggerClient>();

export function clientOf(server: ServerProcess, token?: string): RiggerClient {
  const client = new RiggerClient({ address: server.address, ...(token !== undefined && { connect: { token } }) });
  clients.add(client);
  return client;
}

/** Closes every client made by clientOf (call in after()). */
export async function closeClients(): Promise<void> {
  await Promise.all([...clients].map((c) => c.close().catch(() => {})));
  clients.clear();
}

/** Creates `count` tasks, `concurrency` calls at a time; resolves with their ids in order. */
export async function addTasks(client: RiggerClient, count: number, prefix = 'task', concurrency = 32, assignee?: string): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        ids[i] = (await client.addTask({ title: `${prefix} ${i}`, ...(assignee !== undefined && { assignee }) })).task!.id!;
      }
    }),
  );
  return ids;
}

/**
 * Takes deliveries from a consumer until `stop` says so or `timeoutMs` passes (then it rejects),
 * handing each to `handle` (which acks, naks or does nothing); ends the iterator.
 */
export async function consumeUntil(
  client: RiggerClient,
  name: string,
  options: ConsumeOptions,
  handle: (delivery: ConsumedEvent) => Promise<void> | void,
  stop: () => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const iterator = client.consume(name, options);
  const timer = setTimeout(() => void iterator.return?.(), timeoutMs);
  try {
    if (stop()) return;
    for await (const delivery of iterator) {
      await handle(delivery);
      if (stop()) return;
    }
    throw new Error(`consumer ${name} ended or timed out after ${timeoutMs} ms before it was done`);
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
}

/**
 * `call`, asked again while it fails UNAVAILABLE (at most ~5 s): right after a server restart on
 * the same port, grpc-js's shared subchannel may still be in its reconnect backoff from the old one.
 */
export async function whenAnswered<T>(call: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await call();
    } catch (error) {
      if (tries >= 100 || (error as { code?: number }).code !== 14) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
