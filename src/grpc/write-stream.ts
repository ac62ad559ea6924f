// WriteTasks: pipelined writes on one stream. Every request is an add, update or delete, started at
// once (so the writes in flight share group commits) and answered in the order sent, once its
// commit is durable, with what the unary call would answer. A write that fails is answered with its
// status code and message and the stream goes on. What one stream makes the server hold is bounded:
// at most `maxInFlight` writes unanswered (or answered, waiting for the client to read), beyond
// which the server stops reading the stream and HTTP/2 flow control holds the client back.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { WriteTaskRequest__Output } from '../generated/rigger/v1/WriteTaskRequest';
import type { WriteTaskResponse } from '../generated/rigger/v1/WriteTaskResponse';
import type { EventHub } from '../hub/event-hub';
import { invalidArgument, type RiggerError } from '../model/errors';
import { actorOf } from './context';
import { toServiceError } from './errors';
import type { TaskWrites } from './task-writes';

type WriteCall = grpc.ServerDuplexStream<WriteTaskRequest__Output, WriteTaskResponse>;

export interface WriteStreamOptions {
  writes: TaskWrites;
  hub: EventHub;
  logger: Logger;
  /** Writes one stream may have in flight (read, not yet answered and read back) before the server stops reading it. */
  maxInFlight: number;
}

/** One request's answer, filled in when its write settles; sent when every earlier one has been. */
interface Pending {
  response: WriteTaskResponse | undefined;
}

/** Compact the answered head of the queue once this many have gone. */
const COMPACT_AFTER = 1024;

export function writeTasks(call: WriteCall, options: WriteStreamOptions): void {
  const { writes, logger, maxInFlight } = options;
  const actor = actorOf(call);
  const queue: Pending[] = [];
  let head = 0;
  let ended = false;
  let inputEnded = false;
  let reading = true;
  let waitingForDrain = false;

  /** Set when the server shuts down: nothing more is read, the writes read are answered, then the stream ends with it. */
  let closing: RiggerError | undefined;
  const stopWaitingForClose = options.hub.onClose((reason: RiggerError) => {
    closing = reason;
    reading = false;
    call.pause();
    flush();
  });
  const finish = (error?: unknown) => {
    if (ended) return;
    ended = true;
    stopWaitingForClose();
    if (error === undefined) call.end();
    else call.emit('error', toServiceError(error, logger));
  };
  // Cancelled or broken: writes already started still commit; their answers have nowhere to go.
  for (const event of ['cancelled', 'close', 'error'] as const) {
    call.once(event, () => {
      ended = true;
      stopWaitingForClose();
    });
  }

  const inFlight = () => queue.length - head;
  const updateReading = () => {
    if (ended) return;
    const shouldRead = inFlight() < maxInFlight && !waitingForDrain;
    if (shouldRead === reading) return;
    reading = shouldRead;
    if (reading) call.resume();
    else call.pause();
  };

  /** Sends the answers at the head that are ready, in order, until the stream is full. */
  const flush = () => {
    while (!ended && !waitingForDrain && head < queue.length && queue[head]!.response !== undefined) {
      const response = queue[head]!.response!;
      queue[head++] = undefined as unknown as Pending;
      if (!call.write(response)) {
        waitingForDrain = true;
        call.once('drain', () => {
          waitingForDrain = false;
          flush();
        });
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head >= COMPACT_AFTER) {
      queue.splice(0, head);
      head = 0;
    }
    if ((inputEnded || closing) && inFlight() === 0 && !waitingForDrain) finish(closing);
    else if (!closing) updateReading();
  };

  const failure = (requestId: number, error: unknown): WriteTaskResponse => {
    const status = toServiceError(error, logger);
    return { request_id: requestId, error: { code: status.code, message: status.details } };
  };

  /** Starts one write; resolves with its answer (never rejects). */
  const start = (message: WriteTaskRequest__Output): Promise<WriteTaskResponse> => {
    const requestId = message.request_id ?? 0;
    try {
      let done: Promise<WriteTaskResponse>;
      if (message.add) done = writes.add(message.add, actor).then((task) => ({ request_id: requestId, task }));
      else if (message.update) done = writes.update(message.update, actor).then((task) => ({ request_id: requestId, task }));
      else if (message.delete) done = writes.delete(message.delete, actor).then(() => ({ request_id: requestId, deleted: true }));
      else throw invalidArgument('a WriteTaskRequest must set one of add, update or delete');
      return done.catch((error: unknown) => failure(requestId, error));
    } catch (error) {
      return Promise.resolve(failure(requestId, error));
    }
  };

  call.on('data', (message: WriteTaskRequest__Output) => {
    if (ended || closing) return;
    const pending: Pending = { response: undefined };
    queue.push(pending);
    updateReading();
    void start(message).then((response) => {
      pending.response = response;
      flush();
    });
  });
  // The client has sent its last write: the stream ends OK once every write is answered.
  call.on('end', () => {
    inputEnded = true;
    flush();
  });
}
