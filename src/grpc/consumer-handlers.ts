// Durable consumers over gRPC: ConsumeTaskEvents (a member's stream: join, then deliveries one way
// and ack / nak / in_progress the other) and the management RPCs. Translation only: the rules are
// the hub's ConsumerRegistry and ConsumerGroup.
import * as grpc from '@grpc/grpc-js';
import type { ConsumeRequest__Output } from '../generated/rigger/v1/ConsumeRequest';
import type { ConsumerInfo } from '../generated/rigger/v1/ConsumerInfo';
import type { TaskEventType } from '../generated/rigger/v1/TaskEventType';
import type { TaskStatus } from '../generated/rigger/v1/TaskStatus';
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
import type { ConsumerGroup, ConsumerMember } from '../hub/consumer-group';
import type { ConsumerStatus } from '../hub/consumer-registry';
import { validateConsumerName } from '../model/consumer';
import { invalidArgument, RiggerError } from '../model/errors';
import { encodeConsumeResponse, encodeDelivery } from '../protocol/consumer-codec';
import { isReadOnlyCall } from './auth';
import { unary, type ServiceContext } from './context';
import { toServiceError } from './errors';
import { consumerPageOf, consumerPageToken, consumerRequestOf, sequencesOf } from './requests';

/** A consumer's status as the wire's ConsumerInfo. */
export function consumerInfoOf(status: ConsumerStatus): ConsumerInfo {
  const { record } = status;
  return {
    config: {
      name: record.name,
      filter: {
        event_types: record.filter.eventTypes as TaskEventType[],
        statuses: record.filter.statuses as TaskStatus[],
        task_ids: record.filter.taskIds,
        ...(record.filter.assignee !== undefined && { assignee_filter: record.filter.assignee }),
      },
      ...(record.startSequence !== undefined && { start_sequence: record.startSequence }),
      ack_wait_ms: record.ackWaitMs,
      max_deliver: record.maxDeliver,
      backoff_ms: record.backoffMs,
      max_in_flight: record.maxInFlight,
    },
    acked_sequence: status.ackedSequence,
    head_sequence: status.headSequence,
    lag: Math.max(0, status.headSequence - status.ackedSequence),
    in_flight: status.inFlight,
    members: status.members,
    dead_letters: status.deadLetters,
    redeliveries: status.redeliveries,
    lost: record.lostReason !== undefined,
    lost_reason: record.lostReason ?? '',
    pending: status.pending,
    created_at: record.createdAt,
  };
}

export function consumerHandlers(context: ServiceContext) {
  const { consumers, logger } = context;

  return {
    ConsumeTaskEvents(call: grpc.ServerDuplexStream<ConsumeRequest__Output, Buffer>): void {
      const writer = context.writerFor(call.metadata);
      if (!writer) throw new Error(`no EventStreamWriter for ${call.getPath()}: the writers' interceptor must be installed`);
      let group: ConsumerGroup | undefined;
      let memberId = 0;
      let joining = false;
      let ended = false;
      const leave = () => {
        if (group) consumers.leave(group, memberId);
        group = undefined;
      };
      const end = (error: unknown) => {
        if (ended) return;
        ended = true;
        leave();
        call.emit('error', toServiceError(error, logger));
      };
      for (const event of ['cancelled', 'close', 'finish', 'error'] as const) {
        call.once(event, () => {
          ended = true;
          leave();
        });
      }
      const member: ConsumerMember = {
        deliver: (event, attempt) => writer.write(encodeDelivery(event.encoded, attempt)),
        onDrain: (callback) => writer.onDrain(callback),
        // Small and bounded by the acks the member sent: written whatever the writer's fill.
        committed: (sequences, ackedSequence) => void writer.write(encodeConsumeResponse({ acks_committed: { sequences, acked_sequence: ackedSequence } })),
        fail: (error) => end(error),
      };
      const join = (message: ConsumeRequest__Output) => {
        const request = consumerRequestOf(message.join);
        joining = true;
        call.pause(); // acks sent before the join is done would have no group to go to
        consumers.join(request, !isReadOnlyCall(call.metadata)).then(
          (joined) => {
            joining = false;
            if (ended) return;
            writer.write(encodeConsumeResponse({ joined: consumerInfoOf(consumers.status(request.name)) }));
            memberId = joined.join(member);
            group = joined;
            logger.debug({ peer: call.getPeer(), consumer: request.name, members: group.memberCount }, 'consumer member joined');
            call.resume();
          },
          end,
        );
      };
      call.on('data', (message: ConsumeRequest__Output) => {
        if (ended) return;
        try {
          if (!group) {
            if (joining) throw invalidArgument('send acks only after the join has been answered (the `joined` response)');
            if (!message.join) throw invalidArgument('the first message of ConsumeTaskEvents must be `join`, naming the consumer');
            join(message);
          } else if (message.join) {
            throw invalidArgument('this stream has joined already; open another stream to join another consumer');
          } else if (message.ack) {
            group.ack(memberId, sequencesOf(message.ack.sequences, 'ack.sequences'));
          } else if (message.nak) {
            if (message.nak.reason !== undefined && message.nak.reason.length > 1000) throw invalidArgument('nak.reason is over 1000 characters');
            group.nak(memberId, message.nak.sequence ?? 0, message.nak.delay_ms, message.nak.reason, message.nak.dead_letter === true);
          } else if (message.in_progress) {
            group.inProgress(memberId, sequencesOf(message.in_progress.sequences, 'in_progress.sequences'));
          }
        } catch (error) {
          end(error);
        }
      });
      // The member is done (it half-closed after its last acks): it leaves, its events in flight go
      // to the others at once, and its stream ends OK.
      call.on('end', () => {
        if (ended) return;
        ended = true;
        leave();
        call.end();
      });
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
      sequences: await consumers.redrive(request.name ?? '', sequencesOf(request.sequences, 'sequences')),
    })),

    DropDeadLetters: unary(context, async (request: DeadLettersRequest__Output): Promise<DeadLettersResponse> => ({
      sequences: await consumers.drop(request.name ?? '', sequencesOf(request.sequences, 'sequences')),
    })),
  };
}
