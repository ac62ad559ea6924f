// Durable consumers over gRPC: ConsumeTaskEvents and the management RPCs. Translation only: the
// rules are the hub's (a member's stream is a ConsumeSession, src/hub/consume-session.ts, over the
// ConsumerRegistry and its groups).
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
import { ConsumeSession } from '../hub/consume-session';
import { validateConsumerName } from '../model/consumer';
import { RiggerError } from '../model/errors';
import { isReadOnlyCall } from './auth';
import { consumerInfoOf, type ConsumerInfo } from './consumer-info';
import { clientNameOf, unary, type ServiceContext } from './context';
import { boundedListOf, consumerPageOf, consumerPageToken, consumerRequestOf, nakReasonOf } from './requests';
import { ConsumeCallPort, releaseOnEnd, writerOf } from './stream-ports';

export function consumerHandlers(context: ServiceContext) {
  const { consumers, logger } = context;

  return {
    ConsumeTaskEvents(call: grpc.ServerDuplexStream<ConsumeRequest__Output, Buffer>): void {
      const port = new ConsumeCallPort(writerOf(context, call), call, logger, context.store.lineage.logId);
      const session = new ConsumeSession(consumers, context.hub.streams, port, { memberStallMs: context.memberStallMs, logger });
      releaseOnEnd(call, session);
      call.on('data', (message: ConsumeRequest__Output) => {
        const { join, ack, nak, in_progress: inProgress } = message;
        if (join) {
          session.join(() => ({ request: consumerRequestOf(join), clientName: clientNameOf(call.metadata), mayCreate: !isReadOnlyCall(call.metadata) }));
        } else if (ack) {
          session.ack(() => ({ sequences: boundedListOf(ack.sequences, 'ack.sequences'), deliveryIds: boundedListOf(ack.delivery_ids, 'ack.delivery_ids') }));
        } else if (nak) {
          session.nak(() => ({
            sequence: nak.sequence ?? 0,
            deliveryId: nak.delivery_id ?? '',
            delayMs: nak.delay_ms,
            reason: nakReasonOf(nak.reason),
            deadLetter: nak.dead_letter === true,
          }));
        } else if (inProgress) {
          session.inProgress(() => ({
            sequences: boundedListOf(inProgress.sequences, 'in_progress.sequences'),
            deliveryIds: boundedListOf(inProgress.delivery_ids, 'in_progress.delivery_ids'),
          }));
        } else session.skip();
      });
      // The member half-closed after its last acks.
      call.on('end', () => session.end());
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
      return {
        consumers: page.statuses.map(consumerInfoOf),
        next_page_token: page.more && last !== undefined ? consumerPageToken(last) : '',
        total_count: page.total,
      };
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
