// Pipelined writes over one WriteTasks stream: add, update and delete each return a promise of its
// answer, and any number may be in flight at once (the server answers in order, each once durable).
// The stream opens on the first write and again on the first write after it was lost.
import * as grpc from '@grpc/grpc-js';
import type { AddTaskRequest } from '../generated/rigger/v1/AddTaskRequest';
import type { DeleteTaskRequest } from '../generated/rigger/v1/DeleteTaskRequest';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import type { Task__Output } from '../generated/rigger/v1/Task';
import type { UpdateTaskRequest } from '../generated/rigger/v1/UpdateTaskRequest';
import type { WriteTaskRequest } from '../generated/rigger/v1/WriteTaskRequest';
import type { WriteTaskResponse__Output } from '../generated/rigger/v1/WriteTaskResponse';

/** One write the server refused: the same status code and message the unary call would have failed with. Nothing was changed. */
export class WriteError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${grpc.status[code] ?? code}: ${details}`);
    this.name = 'WriteError';
  }
}

/**
 * The stream ended before this write was answered: it may or may not have committed (a write the
 * server had read commits even when its answer is lost). Read the task back before retrying an
 * update or delete; a retried add may make a second task.
 */
export class WriteOutcomeUnknown extends Error {
  constructor(
    /** The status the stream ended with. */
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(
      `the WriteTasks stream ended before this write was answered (${grpc.status[code] ?? code}: ${details}); it may or may not have been committed: read the task back before retrying`,
    );
    this.name = 'WriteOutcomeUnknown';
  }
}

interface Waiting {
  requestId: number;
  settle(response: WriteTaskResponse__Output): void;
  reject(error: Error): void;
}

type WriteStream = grpc.ClientDuplexStream<WriteTaskRequest, WriteTaskResponse__Output>;

export class TaskWriter {
  private stream: WriteStream | undefined;
  /** Sent and not answered, oldest first: answers come back in this order. */
  private waiting: Waiting[] = [];
  private head = 0;
  private nextRequestId = 1;
  private closed = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly service: RiggerServiceClient,
    private readonly metadata: () => grpc.Metadata,
  ) {}

  /** Writes sent and not yet answered. */
  get pending(): number {
    return this.waiting.length - this.head;
  }

  /** Resolves with the new task once it is durable. */
  add(request: AddTaskRequest): Promise<Task__Output> {
    return this.send({ add: request }, (response) => response.task!);
  }

  /** Resolves with the updated task once it is durable. */
  update(request: UpdateTaskRequest): Promise<Task__Output> {
    return this.send({ update: request }, (response) => response.task!);
  }

  /** Resolves once the delete (the task archived) is durable. */
  delete(request: DeleteTaskRequest): Promise<void> {
    return this.send({ delete: request }, () => undefined);
  }

  /** Ends the stream after the writes sent so far are answered; resolves once they all are. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.stream) return;
    const done = new Promise<void>((resolve) => {
      if (this.pending === 0) resolve();
      else this.drained = resolve;
    });
    this.stream.end();
    await done;
  }

  private send<T>(write: Omit<WriteTaskRequest, 'request_id'>, result: (response: WriteTaskResponse__Output) => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('this TaskWriter is closed; make another with client.writer()'));
    const stream = (this.stream ??= this.open());
    const requestId = this.nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        requestId,
        settle: (response) =>
          response.error ? reject(new WriteError(response.error.code ?? grpc.status.UNKNOWN, response.error.message ?? '')) : resolve(result(response)),
        reject,
      });
      stream.write({ ...write, request_id: requestId });
    });
  }

  private open(): WriteStream {
    const stream = this.service.WriteTasks(this.metadata());
    stream.on('data', (response: WriteTaskResponse__Output) => {
      const next = this.waiting[this.head];
      if (!next || next.requestId !== response.request_id) {
        stream.cancel();
        this.lost(stream, grpc.status.INTERNAL, `the server answered request ${response.request_id}, expected ${next?.requestId ?? 'none'}`);
        return;
      }
      this.head++;
      this.compact();
      next.settle(response);
    });
    stream.on('error', (error: grpc.ServiceError) => this.lost(stream, error.code, error.details));
    stream.on('end', () => this.lost(stream, grpc.status.UNAVAILABLE, 'the server ended the stream'));
    return stream;
  }

  private compact(): void {
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
      this.drained?.();
      this.drained = undefined;
    } else if (this.head >= 1024) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
  }

  /** Every write of `stream` still waiting fails with WriteOutcomeUnknown; the next write opens a new stream. */
  private lost(stream: WriteStream, code: grpc.status, details: string): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    const waiting = this.waiting.slice(this.head);
    this.waiting = [];
    this.head = 0;
    for (const write of waiting) write.reject(new WriteOutcomeUnknown(code, details));
    this.drained?.();
    this.drained = undefined;
  }
}
