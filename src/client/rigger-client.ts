// The typed client a sidecar is written on: one promise per unary RPC, and event subscriptions
// that survive server restarts and connection losses (see event-subscription.ts).
import * as grpc from '@grpc/grpc-js';
import type { Observable } from 'rxjs';
import type { AddTaskRequest } from '../generated/rigger/v1/AddTaskRequest';
import type { AddTaskResponse__Output } from '../generated/rigger/v1/AddTaskResponse';
import type { ConsumerConfig } from '../generated/rigger/v1/ConsumerConfig';
import type { ConsumerInfo__Output } from '../generated/rigger/v1/ConsumerInfo';
import type { DeadLetter__Output } from '../generated/rigger/v1/DeadLetter';
import type { DeleteTaskRequest } from '../generated/rigger/v1/DeleteTaskRequest';
import type { DeleteTaskResponse__Output } from '../generated/rigger/v1/DeleteTaskResponse';
import type { GenerateTasksFromPRDRequest } from '../generated/rigger/v1/GenerateTasksFromPRDRequest';
import type { GenerateTasksFromPRDResponse__Output } from '../generated/rigger/v1/GenerateTasksFromPRDResponse';
import type { GetTaskRequest } from '../generated/rigger/v1/GetTaskRequest';
import type { GetTaskResponse__Output } from '../generated/rigger/v1/GetTaskResponse';
import type { HubStatus__Output } from '../generated/rigger/v1/HubStatus';
import type { LogInfo__Output } from '../generated/rigger/v1/LogInfo';
import type { ListTasksRequest } from '../generated/rigger/v1/ListTasksRequest';
import type { ListTasksResponse__Output } from '../generated/rigger/v1/ListTasksResponse';
import type { OrchestrateTaskRequest } from '../generated/rigger/v1/OrchestrateTaskRequest';
import type { OrchestrateTaskResponse__Output } from '../generated/rigger/v1/OrchestrateTaskResponse';
import type { ParsePRDRequest } from '../generated/rigger/v1/ParsePRDRequest';
import type { ParsePRDResponse__Output } from '../generated/rigger/v1/ParsePRDResponse';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import type { UpdateTaskRequest } from '../generated/rigger/v1/UpdateTaskRequest';
import type { UpdateTaskResponse__Output } from '../generated/rigger/v1/UpdateTaskResponse';
import type { Task, TaskEvent } from '../model/task';
import { ACTOR_HEADER } from '../protocol/metadata';
import { connectService, type ConnectOptions } from './connect';
import { iterateConsumer, observeConsumer, type ConsumedEvent, type ConsumeOptions } from './consumer-subscription';
import { iterateEvents, observeEvents } from './event-subscription';
import type { SubscribeOptions } from './subscribe-options';
import { TaskWriter } from './task-writer';

/** ListConsumers pages followed at most (the server's --max-consumers is far below this many pages). */
const MAX_CONSUMER_PAGES = 10_000;

export interface RiggerClientOptions {
  /** host:port of `rig grpc` (default localhost:50051). */
  address?: string;
  /** Recorded as the actor of every change made through this client (`x-rigger-actor`). */
  actor?: string;
  /** Passed to connectService as given: credentials, channel options, and what the server's auth needs. */
  connect?: ConnectOptions;
  /** Sent as `x-rigger-client-name` (ConnectOptions.clientName, which it overrides): e.g. "my-sidecar/" + process.pid. */
  clientName?: string;
}

type UnaryMethod =
  | 'ListTasks'
  | 'AddTask'
  | 'UpdateTask'
  | 'GetTask'
  | 'DeleteTask'
  | 'ParsePRD'
  | 'GenerateTasksFromPRD'
  | 'OrchestrateTask'
  | 'CreateConsumer'
  | 'GetConsumer'
  | 'ListConsumers'
  | 'DeleteConsumer'
  | 'ResetConsumer'
  | 'ListDeadLetters'
  | 'RedriveDeadLetters'
  | 'DropDeadLetters'
  | 'GetLog'
  | 'GetHubStatus';

// Pings an idle stream so a connection that died silently (a cable, a NAT) is noticed and resumed.
// The server accepts pings every 10 s or more.
const KEEPALIVE: grpc.ChannelOptions = { 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 };

const LIST_PAGE = 500;

export class RiggerClient {
  /** The generated grpc-js client underneath, for anything this class does not cover. */
  readonly service: RiggerServiceClient;
  readonly address: string;
  private readonly actor: string | undefined;
  private readonly flushes = new Set<Promise<void>>();

  constructor(options: RiggerClientOptions = {}) {
    this.address = options.address ?? 'localhost:50051';
    this.actor = options.actor;
    this.service = connectService(this.address, {
      ...options.connect,
      ...(options.clientName !== undefined && { clientName: options.clientName }),
      channelOptions: { ...KEEPALIVE, ...options.connect?.channelOptions },
    });
  }

  /**
   * One page of tasks, newest first. For the next page send the same filter with `pageToken` (or
   * `page_token`) set to this page's `nextPageToken`, which is '' on the last page: a token seeks
   * straight to its page, where a deep `offset` walks every task before it.
   */
  async listTasks(request: ListTasksRequest & { pageToken?: string } = {}): Promise<ListTasksResponse__Output & { nextPageToken: string }> {
    const { pageToken, ...wire } = request;
    const response = await this.unary<ListTasksResponse__Output>('ListTasks', pageToken === undefined ? wire : { ...wire, page_token: pageToken });
    return { ...response, nextPageToken: response.next_page_token ?? '' };
  }

  addTask(request: AddTaskRequest): Promise<AddTaskResponse__Output> {
    return this.unary('AddTask', request);
  }

  updateTask(request: UpdateTaskRequest): Promise<UpdateTaskResponse__Output> {
    return this.unary('UpdateTask', request);
  }

  getTask(request: GetTaskRequest): Promise<GetTaskResponse__Output> {
    return this.unary('GetTask', request);
  }

  deleteTask(request: DeleteTaskRequest): Promise<DeleteTaskResponse__Output> {
    return this.unary('DeleteTask', request);
  }

  /**
   * Pipelined writes (WriteTasks): add, update and delete on one stream, many in flight, each
   * promise settled in the order sent once its write is durable. A refused write rejects with
   * WriteError (the unary call's code); a lost stream rejects every unanswered write with
   * WriteOutcomeUnknown (it may or may not have committed). close() when done.
   */
  writer(): TaskWriter {
    return new TaskWriter(this.service, () => this.callMetadata());
  }

  parsePrd(request: ParsePRDRequest): Promise<ParsePRDResponse__Output> {
    return this.unary('ParsePRD', request);
  }

  generateTasksFromPrd(request: GenerateTasksFromPRDRequest): Promise<GenerateTasksFromPRDResponse__Output> {
    return this.unary('GenerateTasksFromPRD', request);
  }

  orchestrateTask(request: OrchestrateTaskRequest): Promise<OrchestrateTaskResponse__Output> {
    return this.unary('OrchestrateTask', request);
  }

  /** Every task matching `request` (archived ones too when include_archived), page by page (page tokens: each page a seek, however deep). */
  async listAllTasks(request: Omit<ListTasksRequest, 'limit' | 'offset' | 'page_token'> = {}): Promise<Task[]> {
    const tasks: Task[] = [];
    for (let pageToken = ''; ;) {
      const page = await this.listTasks({ ...request, limit: LIST_PAGE, ...(pageToken !== '' && { pageToken }) });
      tasks.push(...(page.tasks as unknown as Task[]));
      pageToken = page.nextPageToken;
      if (pageToken === '') return tasks;
    }
  }

  /**
   * Task events as an Observable that reconnects and resumes by itself. It errors with a
   * StreamError only for what retrying cannot fix (OUT_OF_RANGE, INVALID_ARGUMENT, ...) or when
   * backoff.maxAttempts is reached. With `checkpoint`, an event counts as handled once the
   * observer's next() has returned. next() sees changes of tasks (and, with includeSnapshot,
   * SNAPSHOT entries), each with its task; bookmarks and snapshot markers go to onBookmark and
   * onSnapshot.
   */
  subscribe(options: SubscribeOptions = {}): Observable<TaskEvent> {
    return observeEvents(this.service, options, (flush) => this.track(flush));
  }

  /** The same events as an async iterator; with `checkpoint`, an event counts as handled when the loop asks for the next one. */
  events(options: SubscribeOptions = {}): AsyncIterableIterator<TaskEvent> {
    return iterateEvents(this.service, options, (flush) => this.track(flush));
  }

  /**
   * A durable consumer's deliveries (docs/consumers.md) as an async iterator: the server keeps the
   * position; ack() each event once handled. Several clients consuming one name share its events,
   * one task's events in order and never two at once. Reconnects and rejoins by itself; ends with a
   * StreamError only for what retrying cannot fix (OUT_OF_RANGE for a lost consumer, ...).
   */
  consume(name: string, options: ConsumeOptions = {}): AsyncIterableIterator<ConsumedEvent> {
    return iterateConsumer(this.service, name, options);
  }

  /** The same deliveries as an Observable. */
  consume$(name: string, options: ConsumeOptions = {}): Observable<ConsumedEvent> {
    return observeConsumer(this.service, name, options);
  }

  /** The log's identity (every event's and bookmark's log_id), the identities it descends from, and its range. */
  async getLog(): Promise<LogInfo__Output> {
    return this.unary('GetLog', {});
  }

  /** The server, its log, every open stream (with its client name and lag) and every consumer: what `rig status` prints. */
  async hubStatus(limit?: number): Promise<HubStatus__Output> {
    return this.unary('GetHubStatus', limit === undefined ? {} : { limit });
  }

  async createConsumer(config: ConsumerConfig): Promise<ConsumerInfo__Output> {
    return this.unary('CreateConsumer', { config });
  }

  async getConsumer(name: string): Promise<ConsumerInfo__Output> {
    return this.unary('GetConsumer', { name });
  }

  /** Every consumer, following ListConsumers' pages. */
  async listConsumers(): Promise<ConsumerInfo__Output[]> {
    const all: ConsumerInfo__Output[] = [];
    let pageToken = '';
    for (let page = 0; page < MAX_CONSUMER_PAGES; page++) {
      const response = await this.unary<{ consumers: ConsumerInfo__Output[]; next_page_token?: string }>('ListConsumers', { page_token: pageToken });
      all.push(...response.consumers);
      pageToken = response.next_page_token ?? '';
      if (pageToken === '') return all;
    }
    throw new Error(`ListConsumers still had more pages after ${MAX_CONSUMER_PAGES}; the server's page tokens do not advance`);
  }

  async deleteConsumer(name: string): Promise<void> {
    await this.unary('DeleteConsumer', { name });
  }

  /** Moves the consumer's acked position to `toSequence`; its members rejoin from there. */
  async resetConsumer(name: string, toSequence: number): Promise<ConsumerInfo__Output> {
    return this.unary('ResetConsumer', { name, to_sequence: toSequence });
  }

  async deadLetters(name: string): Promise<DeadLetter__Output[]> {
    return (await this.unary<{ dead_letters: DeadLetter__Output[] }>('ListDeadLetters', { name })).dead_letters;
  }

  /** Delivers dead letters again (all when `sequences` is empty); resolves with those redriven. */
  async redriveDeadLetters(name: string, sequences: number[] = []): Promise<number[]> {
    return (await this.unary<{ sequences: number[] }>('RedriveDeadLetters', { name, sequences })).sequences;
  }

  /** Deletes dead letters (all when `sequences` is empty); resolves with those dropped. */
  async dropDeadLetters(name: string, sequences: number[] = []): Promise<number[]> {
    return (await this.unary<{ sequences: number[] }>('DropDeadLetters', { name, sequences })).sequences;
  }

  /** Waits for the checkpoints of ended subscriptions to reach disk, then closes the channel. */
  async close(): Promise<void> {
    try {
      await Promise.all([...this.flushes]);
    } finally {
      this.service.close();
    }
  }

  private track(flush: Promise<void>): void {
    const tracked = flush.finally(() => this.flushes.delete(tracked));
    this.flushes.add(tracked);
  }

  private callMetadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.actor !== undefined) metadata.set(ACTOR_HEADER, this.actor);
    return metadata;
  }

  private unary<T>(method: UnaryMethod, request: object): Promise<T> {
    const metadata = this.callMetadata();
    return new Promise<T>((resolve, reject) => {
      (this.service[method] as (...args: unknown[]) => unknown).call(this.service, request, metadata, (error: grpc.ServiceError | null, response: T) =>
        error ? reject(error) : resolve(response),
      );
    });
  }
}
