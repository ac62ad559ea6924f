// What a consumer member asked that it may not do: an ack, nak or in_progress naming deliveries it
// does not hold. The group applies none of it and answers with one refusal per request.

/** What one ack, nak or in_progress named that its member does not hold; nothing of it was applied. */
export interface Refusal {
  sequences: number[];
  deliveryIds: string[];
  /** How many were refused (the lists stop at MAX_LISTED each). */
  count: number;
  reason: string;
}

/** Refused sequences and ids listed in one refusal, at most. */
const MAX_LISTED = 100;
export const NOT_HELD =
  'not held by this member: already acked, delivered again after its ack wait or its stream was lost, or never delivered to it; nothing was changed';

/** Gathers what one request named that was refused, listing at most MAX_LISTED of each kind. */
export class Refused {
  private readonly sequences: number[] = [];
  private readonly ids: string[] = [];
  private count = 0;

  sequence(sequence: number): void {
    this.count++;
    if (this.sequences.length < MAX_LISTED) this.sequences.push(sequence);
  }

  id(id: string): void {
    this.count++;
    if (this.ids.length < MAX_LISTED) this.ids.push(id.slice(0, 64));
  }

  result(reason: string): Refusal | undefined {
    return this.count === 0 ? undefined : { sequences: this.sequences, deliveryIds: this.ids, count: this.count, reason };
  }
}
