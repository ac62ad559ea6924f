// A consumer's status as the wire's ConsumerInfo: the one mapping used by every RPC that answers with it.
import type { ConsumerInfo } from '../generated/rigger/v1/ConsumerInfo';
import type { TaskEventType } from '../generated/rigger/v1/TaskEventType';
import type { TaskStatus } from '../generated/rigger/v1/TaskStatus';
import type { ConsumerStatus } from '../hub/consumer-registry';

export type { ConsumerInfo };

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
