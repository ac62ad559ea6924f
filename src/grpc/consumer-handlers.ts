// Durable consumers over gRPC: ConsumeTaskEvents (consume-stream.ts) and the management RPCs.
// Translation only: the rules are the hub's ConsumerRegistry and ConsumerGroup.
import * as grpc from '@grpc/grpc-js';
import type { ConsumeRequest__Output } from '../generated/rigger/v1/ConsumeRequest';
import type { CreateConsumerRequest__Output } from '../generated/rigger/v1/CreateConsumerRequest';
import type { DeadLettersRequest__Output } from '../generated/rigger/v1/DeadLettersRequest';
import type { DeadLettersResponse } from '../generated/rigger/v1/DeadLettersResponse';
import type { DeleteConsumerRequest__Output } from '../generated/rigger/v1/DeleteConsumerRequest';
import type { DeleteConsumerResponse } from '../generated/rigger/v1/DeleteConsumerResponse';
import type { GetConsumerRequest__Output } from '../generated/rigger/v1/GetConsumerRequest';
import type { ListConsumersRequest__Output } from '../generated/rigger/v1/ListConsumersRequest';
import type { ListConsumersResponse } from '../generated/rigger/v1/ListConsumersResponse';
import type { ListDeadLettersRequest__Output } from '../generated/rigger/v1/ListDeadLettersRequest';
import type { ListDeadLettersResponse } from '../generated/rigger/v1/ListDeadLettersResponse';
import type { ResetConsumerRequest__Output } from '../generated/rigger/v1/ResetConsumerRequest';
import { validateConsumerName } from '../model/consumer';
import { RiggerError } from '../model/errors';
import { consumeTaskEvents } from './consume-stream';
import { consumerInfoOf, type ConsumerInfo } from './consumer-info';
import { unary, type ServiceContext } from './context';
import { boundedListOf, consumerPageOf, consumerPageToken, consumerRequestOf } from './requests';

export function consumerHandlers(context: ServiceContext) {
  const { consumers, logger } = context;

  return {
    ConsumeTaskEvents(call: grpc.ServerDuplexStream<ConsumeRequest__Output, Buffer>): void {
      const writer = context.writerFor(call.metadata);
      if (!writer) throw new Error(`no EventStreamWriter for ${call.getPath()}: the writers' interceptor must be installed`);
      consumeTaskEvents(call, writer, { consumers, logger, memberStallMs: context.memberStallMs, logId: context.store.lineage.logId, streams: context.hub.streams });
    },

    CreateConsumer: unary(context, async (request: CreateConsumerRequest__Output): Promise<ConsumerInfo> => {
      const asked = consumerRequestOf(request.config);
      await consumers.create(asked);
      return consumerInfoOf(consumers.status(asked.name));
    }),

    GetConsumer: unary(context, (request: GetConsumerRequest__Output): ConsumerInfo => consumerInfoOf(consumers.status(request.name ?? ''))),

    ListConsumers: unary(context, (request: ListConsumersRequest__Output): ListConsumersResponse => {
      const { after, limit } = consumerPageOf(request);
      const page = consumers.page(after, limit);
      const last = page.statuses.at(-1)?.record.name;
      return { consumers: page.statuses.map(consumerInfoOf), next_page_token: page.more && last !== undefined ? consumerPageToken(last) : '', total_count: page.total };
    }),

    DeleteConsumer: unary(context, async (request: DeleteConsumerRequest__Output): Promise<DeleteConsumerResponse> => {
      const name = validateConsumerName(request.name);
      const deleted = await consumers.delete(name);
      if (!deleted) throw new RiggerError('not_found', `consumer ${JSON.stringify(name)} does not exist; see rig consumers list`);
      return { deleted };
    }),

    ResetConsumer: unary(context, async (request: ResetConsumerRequest__Output): Promise<ConsumerInfo> =>
      consumerInfoOf(await consumers.reset(request.name ?? '', request.to_sequence ?? 0)),
    ),

    ListDeadLetters: unary(context, (request: ListDeadLettersRequest__Output): ListDeadLettersResponse => ({
      dead_letters: consumers.deadLetters(request.name ?? '').map((d) => ({
        sequence: d.sequence,
        task_id: d.taskId,
        attempts: d.attempts,
        ...(d.reason !== undefined && { reason: d.reason }),
        dead_at: d.deadAt,
      })),
    })),

    RedriveDeadLetters: unary(context, async (request: DeadLettersRequest__Output): Promise<DeadLettersResponse> => ({
      sequences: await consumers.redrive(request.name ?? '', boundedListOf(request.sequences, 'sequences')),
    })),

    DropDeadLetters: unary(context, async (request: DeadLettersRequest__Output): Promise<DeadLettersResponse> => ({
      sequences: await consumers.drop(request.name ?? '', boundedListOf(request.sequences, 'sequences')),
    })),
  };
}
