// A consumer group's members (the streams joined to it) and what each holds: its deliveries in
// flight, whether its stream is full, and its acks waiting to be confirmed durable. This module
// owns that bookkeeping and the choice of member for the next delivery; the group decides what
// is delivered.
import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { deliveryIdPrefix } from './delivery-token';
import type { Entry } from './task-lanes';

/** One connection of a consumer, as the group sees it (the gRPC stream implements it). */
export interface ConsumerMember {
  /** Sends one event with its delivery attempt (1 = first) and id; false when full (wait for onDrain). */
  deliver(event: LoggedEvent, attempt: number, deliveryId: string): boolean;
  onDrain(callback: () => void): void;
  /** These acks of this member are durable; `ackedSequence` is the consumer's committed position. */
  committed(sequences: number[], ackedSequence: number): void;
  /** Ends the member's stream with `error`. */
  fail(error: RiggerError): void;
}

export interface MemberState {
  readonly id: number;
  /** The member's part of its delivery ids (delivery-token.ts). */
  readonly idPrefix: string;
  readonly member: ConsumerMember;
  readonly inFlight: Set<Entry>;
  full: boolean;
  /** Its acks waiting for the write that makes them durable. */
  acked: number[];
}

export class ConsumerMembers {
  private readonly members = new Map<number, MemberState>();
  private nextId = 1;

  add(member: ConsumerMember): MemberState {
    const id = this.nextId++;
    const state: MemberState = { id, idPrefix: deliveryIdPrefix(id), member, inFlight: new Set(), full: false, acked: [] };
    this.members.set(id, state);
    return state;
  }

  /** Takes the member out; the caller returns what it held. */
  remove(id: number): MemberState | undefined {
    const state = this.members.get(id);
    this.members.delete(id);
    return state;
  }

  get(id: number): MemberState | undefined {
    return this.members.get(id);
  }

  get size(): number {
    return this.members.size;
  }

  all(): IterableIterator<MemberState> {
    return this.members.values();
  }

  /** The member with the fewest deliveries in flight whose stream can take one. */
  pick(): MemberState | undefined {
    let best: MemberState | undefined;
    for (const state of this.members.values()) {
      if (!state.full && (!best || state.inFlight.size < best.inFlight.size)) best = state;
    }
    return best;
  }

  /** Every member's acks waiting for confirmation, taken. */
  takeConfirmations(): { state: MemberState; acked: number[] }[] {
    const taken: { state: MemberState; acked: number[] }[] = [];
    for (const state of this.members.values()) if (state.acked.length > 0) taken.push({ state, acked: state.acked.splice(0) });
    return taken;
  }

  clear(): void {
    this.members.clear();
  }
}
