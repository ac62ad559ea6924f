// ConsumeTaskEvents: one member's stream of a durable consumer, as a state machine:
//   waiting --join--> joining --(the registry answers)--> joined --(end of call)--> ended
// The first message joins; while the join is on its way nothing else is read, and anything sent
// is refused; once joined, ack / nak / in_progress go to the consumer's group, which applies each
// only to deliveries this member holds (anything else is answered with a refusal). What a member
// makes the server write back is bounded by its reading: while its stream is full the session
// stops reading it, and a member that stays full past the stall limit is ended with
// RESOURCE_EXHAUSTED, so a client that acks without reading cannot grow the server's memory.
// Every end (cancel, error, half-close, the group failing, shutdown) takes one release path.
import { invalidArgument, RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import type { ConsumerMember, Refusal } from './consumer-group';
import type { ConsumerRequest, ConsumerStatus } from './consumer-registry';
import type { SessionLogger, SessionPort } from './session-port';
import type { OpenStream, StreamRegistry } from './stream-registry';

/** A member stream's transport (src/grpc/stream-ports.ts implements it). */
export interface ConsumeStreamPort extends SessionPort {
  /** Whether the stream is full (its writes wait for the client to read). */
  readonly full: boolean;
  onDrain(callback: () => void): void;
  /** Stops reading the member's requests (HTTP/2 flow control holds them back), and reads on. */
  pause(): void;
  resume(): void;
  deliver(event: LoggedEvent, attempt: number, deliveryId: string): boolean;
  committed(sequences: number[], ackedSequence: number): void;
  /** The join's answer: the response headers and the `joined` message with the consumer's status. */
  joined(status: ConsumerStatus): void;
  refused(refusal: Refusal): void;
  /** Ends the stream OK. */
  finish(): void;
}

/** The part of a consumer's group a member uses (ConsumerGroup). */
export interface MemberGroup {
  join(member: ConsumerMember): number;
  ack(memberId: number, sequences: readonly number[], deliveryIds: readonly string[]): Refusal | undefined;
  nak(
    memberId: number,
    target: { sequence?: number; deliveryId?: string },
    delayMs: number | undefined,
    reason: string | undefined,
    deadLetter: boolean,
  ): Refusal | undefined;
  inProgress(memberId: number, sequences: readonly number[], deliveryIds: readonly string[]): Refusal | undefined;
  readonly memberCount: number;
}

/** Where members find their consumer's group (ConsumerRegistry). */
export interface ConsumerDirectory {
  join(request: ConsumerRequest, mayCreate: boolean): Promise<MemberGroup>;
  /** The member's stream ended (memberId 0: it never joined the group it was given). */
  leave(group: MemberGroup, memberId: number): void;
  status(name: string): ConsumerStatus;
}

export interface JoinRequest {
  request: ConsumerRequest;
  /** The name the client gave itself, checked; undefined when it gave none. */
  clientName: string | undefined;
  /** False for a read-only token: it may join an existing consumer only. */
  mayCreate: boolean;
}

/** An ack or in_progress: the deliveries it names, by bare sequence or by delivery id. */
export interface SettleRequest {
  sequences: readonly number[];
  deliveryIds: readonly string[];
}

export interface NakRequest {
  sequence: number;
  deliveryId: string;
  delayMs: number | undefined;
  reason: string | undefined;
  deadLetter: boolean;
}

export interface ConsumeSessionOptions {
  /** How long a member's stream may stay full while its requests are held back, in ms. */
  memberStallMs: number;
  logger: SessionLogger;
}

export type ConsumeState = 'waiting' | 'joining' | 'joined' | 'ended';

/**
 * Each message's content is read (and so checked) only once the state accepts its kind, so a
 * message that comes at the wrong time is refused for that, whatever else is wrong with it.
 */
export class ConsumeSession implements ConsumerMember {
  private current: ConsumeState = 'waiting';
  private group: MemberGroup | undefined;
  private memberId = 0;
  private listed: OpenStream | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumers: ConsumerDirectory,
    private readonly streams: StreamRegistry,
    private readonly port: ConsumeStreamPort,
    private readonly options: ConsumeSessionOptions,
  ) {}

  get state(): ConsumeState {
    return this.current;
  }

  join(read: () => JoinRequest): void {
    this.step(() => {
      if (this.current === 'joining') throw joinPending();
      if (this.current === 'joined') throw invalidArgument('this stream has joined already; open another stream to join another consumer');
      this.startJoin(read());
    });
  }

  ack(read: () => SettleRequest): void {
    this.step(() => {
      const group = this.joinedGroup();
      const { sequences, deliveryIds } = read();
      this.refuse(group.ack(this.memberId, sequences, deliveryIds));
    });
  }

  nak(read: () => NakRequest): void {
    this.step(() => {
      const group = this.joinedGroup();
      const nak = read();
      this.refuse(group.nak(this.memberId, { sequence: nak.sequence, deliveryId: nak.deliveryId }, nak.delayMs, nak.reason, nak.deadLetter));
    });
  }

  inProgress(read: () => SettleRequest): void {
    this.step(() => {
      const group = this.joinedGroup();
      const { sequences, deliveryIds } = read();
      this.refuse(group.inProgress(this.memberId, sequences, deliveryIds));
    });
  }

  /** A message with nothing this server knows in it: refused before the join, ignored after. */
  skip(): void {
    this.step(() => void this.joinedGroup());
  }

  /**
   * The member is done (it half-closed after its last acks): it leaves, its events in flight go to
   * the others at once, and its stream ends OK.
   */
  end(): void {
    if (this.current === 'ended') return;
    this.release();
    this.port.finish();
  }

  /** Ends the stream with `error` (the group's too: deleted, reset, lost, shutdown); a second end changes nothing. */
  fail(error: unknown): void {
    if (this.current === 'ended') return;
    this.release();
    this.port.fail(error);
  }

  /** The end of the call, for any reason: leaves the group and the stream registry, once. */
  release(): void {
    if (this.current === 'ended') return;
    this.current = 'ended';
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.listed) this.streams.close(this.listed);
    const group = this.group;
    this.group = undefined;
    if (group) this.consumers.leave(group, this.memberId);
  }

  // The group's member: the port's, but for fail (above).

  deliver(event: LoggedEvent, attempt: number, deliveryId: string): boolean {
    return this.port.deliver(event, attempt, deliveryId);
  }

  onDrain(callback: () => void): void {
    this.port.onDrain(callback);
  }

  // Bounded by the acks read, and reading stops while the stream is full (holdBackWhileFull).
  committed(sequences: number[], ackedSequence: number): void {
    this.port.committed(sequences, ackedSequence);
  }

  // ----

  private step(action: () => void): void {
    if (this.current === 'ended') return;
    try {
      action();
      this.holdBackWhileFull();
    } catch (error) {
      this.fail(error);
    }
  }

  private joinedGroup(): MemberGroup {
    if (this.current === 'joining') throw joinPending();
    if (this.current !== 'joined') throw invalidArgument('the first message of ConsumeTaskEvents must be `join`, naming the consumer');
    return this.group!;
  }

  private startJoin({ request, clientName, mayCreate }: JoinRequest): void {
    this.current = 'joining';
    this.port.pause(); // acks sent before the join is done would have no group to go to
    this.consumers
      .join(request, mayCreate)
      .then((group) => this.joined(group, request.name, clientName))
      .then(undefined, (error: unknown) => this.fail(error));
  }

  private joined(group: MemberGroup, name: string, clientName: string | undefined): void {
    if (this.current === 'ended') {
      this.consumers.leave(group, 0); // the call ended while joining: the group may go idle again
      return;
    }
    this.port.joined(this.consumers.status(name));
    this.memberId = group.join(this);
    this.group = group;
    this.current = 'joined';
    this.listed = this.streams.open({ kind: 'consume', peer: this.port.peer, clientName, queuedBytes: () => this.port.queuedBytes });
    this.listed.consumer = name;
    this.options.logger.debug({ peer: this.port.peer, consumer: name, members: group.memberCount }, 'consumer member joined');
    this.port.resume();
  }

  // The member's replies are not being read: read nothing more of it until they are, for a while.
  private holdBackWhileFull(): void {
    if (!this.port.full || this.stallTimer || this.current === 'ended') return;
    this.port.pause();
    const stallMs = this.options.memberStallMs;
    this.stallTimer = setTimeout(() => {
      this.options.logger.warn({ peer: this.port.peer, stall_ms: stallMs }, 'consumer member dropped: it did not read its stream');
      this.fail(
        new RiggerError(
          'resource_exhausted',
          `this member did not read its stream for ${stallMs} ms (--consumer-member-stall-ms) while the server held its requests back; read the stream as you send acks`,
        ),
      );
    }, stallMs);
    this.stallTimer.unref();
    this.port.onDrain(() => {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      if (this.current !== 'ended') this.port.resume();
    });
  }

  private refuse(refusal: Refusal | undefined): void {
    if (refusal) this.port.refused(refusal);
  }
}

function joinPending(): RiggerError {
  return invalidArgument('send acks only after the join has been answered (the `joined` response)');
}
