// Barriers for "nothing more arrives": a check ends once the server has said that everything up to
// the log's head reached the stream (a bookmark at the head), or once an event known to come later
// has arrived in order, never after a fixed sleep that a slower fault would outlast.
import { TaskEventType } from '../../src/model/task';
import { call, type RiggerServiceClient } from './client';
import { waitFor } from './processes';

/** A bookmark's event_type on the wire, as the raw gRPC client decodes it (a number). */
export const BOOKMARK = TaskEventType.BOOKMARK;

/** The newest sequence the log holds (GetLog): the head a bookmark barrier waits for. */
export async function headSequence(client: RiggerServiceClient): Promise<number> {
  return Number((await call(client, 'GetLog', {})).newest_sequence);
}

/**
 * Waits until a stream that asked for bookmarks (bookmark_interval_ms) has had one at or past
 * `sequence`: every event up to it that matches the stream's filter has then been delivered.
 */
export async function bookmarkReached(bookmarks: () => readonly number[], sequence: number, what = 'the stream', timeoutMs = 20_000): Promise<void> {
  await waitFor(() => (bookmarks().at(-1) ?? -1) >= sequence, timeoutMs, `${what}: a bookmark at ${sequence} (last ${bookmarks().at(-1)})`);
}

/**
 * On a TaskEventStream: sends BookmarkRequests until one is answered at or past the head the log
 * had when called (a stream behind the head answers at its own position, so it asks again).
 * Answers come in order with the events, so every matching event up to the head came before it.
 */
export async function askedBookmarkAtHead(
  client: RiggerServiceClient,
  stream: { write(message: object): unknown },
  bookmarks: () => readonly number[],
  timeoutMs = 20_000,
): Promise<number> {
  const head = await headSequence(client);
  const deadline = Date.now() + timeoutMs;
  for (let asked = 1; asked <= 200; asked++) {
    const before = bookmarks().length;
    stream.write({ bookmark: {} });
    await waitFor(() => bookmarks().length > before, Math.max(0, deadline - Date.now()), `the answer to BookmarkRequest ${asked}`);
    if (bookmarks().at(-1)! >= head) return head;
  }
  throw new Error(`200 BookmarkRequests answered below the head ${head} (last ${bookmarks().at(-1)})`);
}

/**
 * The "sequence known to follow" barrier, for a sink that keeps the order (a stream, a sidecar's
 * output): adds a sentinel task and waits until `arrived(id)` sees its event come through, so
 * anything the server or sidecar sent before it has arrived too. Returns the sentinel's id.
 */
export async function sentinelThrough(
  client: RiggerServiceClient,
  arrived: (taskId: string) => boolean,
  what: string,
  fields: object = {},
  timeoutMs = 20_000,
): Promise<string> {
  const { task } = await call(client, 'AddTask', { title: 'sentinel', ...fields });
  await waitFor(() => arrived(task.id as string), timeoutMs, `${what}: the sentinel task ${task.id}`);
  return task.id as string;
}

/**
 * Waits until GetHubStatus lists at least `count` streams, each at or past `sequence` (its
 * position: every matching event up to there delivered, or for a consumer, acked).
 */
export async function streamsAt(client: RiggerServiceClient, sequence: number, count: number, timeoutMs = 20_000): Promise<void> {
  const at = async () => {
    const { streams } = await call(client, 'GetHubStatus', {});
    return (streams as { position?: string | number | null }[]).filter((s) => s.position != null && Number(s.position) >= sequence).length >= count;
  };
  await waitFor(at, timeoutMs, `${count} streams at sequence ${sequence} in GetHubStatus`);
}

/** Waits until a durable consumer has acked through `sequence` with nothing in flight (GetConsumer): its members are done with every event up to there. */
export async function consumerAckedThrough(
  info: () => Promise<{ acked_sequence?: unknown; in_flight?: number }>,
  sequence: number,
  what = 'the consumer',
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    async () => {
      const now = await info();
      return Number(now.acked_sequence ?? 0) >= sequence && (now.in_flight ?? 0) === 0;
    },
    timeoutMs,
    `${what} acked through ${sequence} with nothing in flight`,
  );
}

/** Waits until GetHubStatus lists a subscribed stream whose client sent `clientName` (x-rigger-client-name): later writes reach it. */
export async function streamSubscribed(client: RiggerServiceClient, clientName: string, timeoutMs = 20_000): Promise<void> {
  const listed = async () => {
    const { streams } = await call(client, 'GetHubStatus', {});
    return (streams as { client_name: string; position?: unknown }[]).some((s) => s.client_name === clientName && s.position != null);
  };
  await waitFor(listed, timeoutMs, `a subscribed stream named ${clientName} in GetHubStatus`);
}
