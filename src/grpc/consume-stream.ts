// ConsumeTaskEvents: one member's stream of a durable consumer. The first message joins; then
// deliveries go one way and ack / nak / in_progress the other, each applied by the consumer's
// group only to deliveries this member holds (anything else is answered with `refused`). What a
// member makes the server write back is bounded by its reading: while its stream is full the
// server stops reading its requests, and a member that stays full past the stall limit is ended
// with RESOURCE_EXHAUSTED, so a client that acks without reading cannot grow the server's memory.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ConsumeRequest__Output } from '../generated/rigger/v1/ConsumeRequest';
import type { ConsumerGroup, ConsumerMember, Refusal } from '../hub/consumer-group';
import type { ConsumerRegistry } from '../hub/consumer-registry';
import { invalidArgument, RiggerError } from '../model/errors';
import { encodeConsumeResponse, encodeDelivery } from '../protocol/consumer-codec';
import { LOG_ID_HEADER } from '../protocol/metadata';
import type { OpenStream, StreamRegistry } from '../hub/stream-registry';
import { isReadOnlyCall } from './auth';
import { consumerInfoOf } from './consumer-info';
import { clientNameOf } from './context';
import { toServiceError } from './errors';
import { boundedListOf, consumerRequestOf, nakReasonOf } from './requests';
import type { EventStreamWriter } from './stream-writer';

type ConsumeCall = grpc.ServerDuplexStream<ConsumeRequest__Output, Buffer>;

export interface ConsumeStreamOptions {
  consumers: ConsumerRegistry;
  logger: Logger;
  /** How long a member's stream may stay full while the server holds back its requests, in ms. */
  memberStallMs: number;
  /** The log's identity, sent as a response header with the join's answer: deliveries' sequences are of it. */
  logId: string;
  /** Where the member's stream is listed while it is open (GetHubStatus). */
  streams: StreamRegistry;
}

export function consumeTaskEvents(call: ConsumeCall, writer: EventStreamWriter, options: ConsumeStreamOptions): void {
  const { consumers, logger } = options;
  let group: ConsumerGroup | undefined;
  let memberId = 0;
  let joining = false;
  let ended = false;
  let stallTimer: NodeJS.Timeout | undefined;
  let stream: OpenStream | undefined;
  const leave = () => {
    if (stallTimer) clearTimeout(stallTimer);
    if (stream) options.streams.close(stream);
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
    deliver: (event, attempt, deliveryId) => writer.write(encodeDelivery(event.encoded, attempt, deliveryId)),
    onDrain: (callback) => writer.onDrain(callback),
    // Bounded by the acks read, and reading stops while the stream is full (holdBackWhileFull).
    committed: (sequences, ackedSequence) => void writer.write(encodeConsumeResponse({ acks_committed: { sequences, acked_sequence: ackedSequence } })),
    fail: (error) => end(error),
  };
  const refuse = (refusal: Refusal | undefined) => {
    if (refusal) writer.write(encodeConsumeResponse({ refused: { sequences: refusal.sequences, delivery_ids: refusal.deliveryIds, reason: refusal.reason, count: refusal.count } }));
  };
  // The member's replies are not being read: read nothing more of it until they are, for a while.
  const holdBackWhileFull = () => {
    if (!writer.full || stallTimer || ended) return;
    call.pause();
    stallTimer = setTimeout(() => {
      logger.warn({ peer: call.getPeer(), stall_ms: options.memberStallMs }, 'consumer member dropped: it did not read its stream');
      end(new RiggerError('resource_exhausted', `this member did not read its stream for ${options.memberStallMs} ms (--consumer-member-stall-ms) while the server held its requests back; read the stream as you send acks`));
    }, options.memberStallMs);
    stallTimer.unref();
    writer.onDrain(() => {
      clearTimeout(stallTimer);
      stallTimer = undefined;
      if (!ended) call.resume();
    });
  };
  const join = (message: ConsumeRequest__Output) => {
    const request = consumerRequestOf(message.join);
    const clientName = clientNameOf(call.metadata);
    joining = true;
    call.pause(); // acks sent before the join is done would have no group to go to
    consumers.join(request, !isReadOnlyCall(call.metadata)).then((joined) => {
      joining = false;
      if (ended) return;
      const headers = new grpc.Metadata();
      headers.set(LOG_ID_HEADER, options.logId);
      call.sendMetadata(headers);
      writer.write(encodeConsumeResponse({ joined: consumerInfoOf(consumers.status(request.name)) }));
      memberId = joined.join(member);
      group = joined;
      stream = options.streams.open({ kind: 'consume', peer: call.getPeer(), clientName, queuedBytes: () => writer.queuedBytes });
      stream.consumer = request.name;
      logger.debug({ peer: call.getPeer(), consumer: request.name, members: group.memberCount }, 'consumer member joined');
      call.resume();
    }, end);
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
        refuse(group.ack(memberId, boundedListOf(message.ack.sequences, 'ack.sequences'), boundedListOf(message.ack.delivery_ids, 'ack.delivery_ids')));
      } else if (message.nak) {
        const { nak } = message;
        refuse(group.nak(memberId, { sequence: nak.sequence ?? 0, deliveryId: nak.delivery_id ?? '' }, nak.delay_ms, nakReasonOf(nak.reason), nak.dead_letter === true));
      } else if (message.in_progress) {
        refuse(group.inProgress(memberId, boundedListOf(message.in_progress.sequences, 'in_progress.sequences'), boundedListOf(message.in_progress.delivery_ids, 'in_progress.delivery_ids')));
      }
      holdBackWhileFull();
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
}
