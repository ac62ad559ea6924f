// Delivery ids: the token a consumer delivery carries and that alone settles it (JetStream's ack
// reply subject, SQS's receipt handle). It names the server run, the member (one stream's
// membership), the attempt and the sequence, so an ack resent on a new stream, after a restart, or
// for an earlier attempt never matches the delivery now current. Nothing secret: the server checks
// that the delivery it names is held by the member that sends it, so guessing one gains nothing.
import { randomBytes } from 'node:crypto';

/** Differs between server runs: member numbers start again at 1 after a restart. */
const RUN = randomBytes(4).toString('hex');

/** A member's part of its delivery ids, made once per member (deliveryId runs per delivery). */
export function deliveryIdPrefix(memberId: number): string {
  return `${RUN}.${memberId}.`;
}

export function deliveryId(prefix: string, attempt: number, sequence: number): string {
  return `${prefix}${attempt}.${sequence}`;
}

/** The sequence a delivery id names, or undefined when it is not one of ours at all. */
export function sequenceOfDeliveryId(id: string): number | undefined {
  if (id.length > 64) return undefined;
  const dot = id.lastIndexOf('.');
  const sequence = Number(id.slice(dot + 1));
  return dot > 0 && Number.isSafeInteger(sequence) && sequence > 0 ? sequence : undefined;
}
