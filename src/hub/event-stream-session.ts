// TaskEventStream: a SubscribeSession that also reads. Its rules: the first subscribe opens the
// subscription (with a snapshot if asked); a later one changes the filter, the bookmark interval
// and, with since_sequence, the position, in place, without a gap or a repeat, and may not ask for
// a snapshot; a bookmark request needs a subscription. Updates are written as they are read
// (stream-inbox.ts) and every other message waits for the updates before it. Until its first
// subscribe the stream holds no subscription, so the hub's shutdown is listened for directly.
import { invalidArgument, RiggerError } from '../model/errors';
import { compileFilter } from './event-filter';
import type { EventHub } from './event-hub';
import { StreamInbox, type Pausable, type UpdateGuard } from './stream-inbox';
import { SubscribeSession, type EventSessionOptions, type EventStreamPort, type SubscribeRequest } from './subscribe-session';

export interface EventStreamSessionOptions extends EventSessionOptions {
  /** Updates read ahead and in flight at once before the stream stops reading. */
  maxWritesInFlight: number;
}

export class EventStreamSession extends SubscribeSession {
  private readonly inbox: StreamInbox;
  private stopWaitingForClose: (() => void) | undefined;

  constructor(hub: EventHub, port: EventStreamPort, inbound: Pausable, options: EventStreamSessionOptions) {
    super(hub, port, options);
    // Updates share group commits, up to maxWritesInFlight read ahead; the rest waits in the client.
    this.inbox = new StreamInbox(inbound, options.maxWritesInFlight, (error) => this.fail(error));
    const stop = hub.onClose((reason) => this.fail(reason));
    if (this.isReleased) stop();
    else this.stopWaitingForClose = stop;
  }

  /** Lists the stream; a bad client name ends it. */
  start(clientName: () => string | undefined): void {
    try {
      this.register('task_event_stream', clientName());
    } catch (error) {
      this.fail(error);
    }
  }

  override release(): void {
    if (this.isReleased) return;
    this.inbox.close();
    this.stopListeningForClose();
    super.release();
  }

  /** An update: `start` queues its write, running its change through the guard; it may throw for a bad request. */
  update(start: (guard: UpdateGuard) => Promise<unknown>): void {
    if (!this.isReleased) this.inbox.update(start);
  }

  /** A subscribe, read (and so checked) once the updates before it have committed. */
  subscribe(read: () => SubscribeRequest): void {
    if (!this.isReleased) this.inbox.inOrder(() => this.resubscribe(read()));
  }

  /** A bookmark request: answered after everything already sent or owed to the stream, at its position then. */
  bookmark(): void {
    if (this.isReleased) return;
    this.inbox.inOrder(() => {
      const subscription = this.subscription;
      if (!subscription) throw new RiggerError('conflict', 'bookmark before the first subscribe: there is no stream position yet; send subscribe first');
      subscription.requestBookmark();
    });
  }

  /** A message with nothing this server knows in it: it takes its turn after the updates before it, and changes nothing. */
  skip(): void {
    if (!this.isReleased) this.inbox.inOrder(() => {});
  }

  private resubscribe(asked: SubscribeRequest): void {
    const subscription = this.subscription;
    if (!subscription) {
      this.open(asked);
      this.stopListeningForClose(); // the subscription is failed by the hub's close from now on
      return;
    }
    if (asked.includeSnapshot) {
      throw invalidArgument('include_snapshot is accepted on the first subscribe of a TaskEventStream only; open a new stream for a new snapshot');
    }
    const predicate = compileFilter(asked.spec);
    const since = asked.sinceSequence;
    if (since !== undefined) this.hub.checkResumable(since);
    subscription.setFilter(predicate);
    subscription.setBookmarkInterval(asked.bookmarkIntervalMs);
    this.describe(asked.spec, asked.bookmarkIntervalMs);
    if (since !== undefined) subscription.restartFrom(since);
  }

  private stopListeningForClose(): void {
    this.stopWaitingForClose?.();
    this.stopWaitingForClose = undefined;
  }
}
