// One event stream's hold on the hub (a SubscribeToTaskEvents call, and the subscription of a
// TaskEventStream): its listing in the stream registry, its subscription, and the one release at
// the end of the call, however it ends. The hub owns the cursors (which are live, which catch up);
// the session owns which cursor is this stream's and lets go of it exactly once, as etcd's watch
// stream cancels its watchers when it closes. The transport is a port: the hub knows no gRPC.
import type { LoggedEvent } from '../model/logged-event';
import { compileFilter, type FilterSpec } from './event-filter';
import type { EventHub } from './event-hub';
import type { SessionLogger, SessionPort } from './session-port';
import type { OpenStream, StreamKind } from './stream-registry';
import type { EventSink, SnapshotSource, Subscription } from './subscription';

/** An event stream's transport: the hub's sink for its events and bookmarks, and its response headers. */
export interface EventStreamPort extends SessionPort {
  write(event: LoggedEvent): boolean;
  writeBookmark(sequence: number): boolean;
  onDrain(callback: () => void): void;
  /** Sends the response headers: the stream's events start after `sequence` of this log. */
  sendPosition(sequence: number): void;
}

/** A subscribe, as the transport read it. */
export interface SubscribeRequest {
  spec: FilterSpec;
  /** Resume after this sequence; undefined: a live start (or, with a snapshot, the snapshot's sequence). */
  sinceSequence: number | undefined;
  includeSnapshot: boolean;
  /** Undefined: no bookmarks. */
  bookmarkIntervalMs: number | undefined;
}

export interface EventSessionOptions {
  /** The current state of the tasks `spec` selects (the store's snapshot), for include_snapshot. */
  openSnapshot(spec: FilterSpec): SnapshotSource;
  logger: SessionLogger;
}

/**
 * SubscribeToTaskEvents: one subscribe, then events until the call ends. It is the hub's sink for
 * its subscription, so a failure the hub reports (shutdown, history gone) takes the same release
 * path as one the stream reports.
 */
export class SubscribeSession implements EventSink {
  private listed: OpenStream | undefined;
  private current: Subscription | undefined;
  private released = false;

  constructor(
    protected readonly hub: EventHub,
    protected readonly port: EventStreamPort,
    protected readonly options: EventSessionOptions,
  ) {}

  /** The subscription, once the first subscribe opened it. */
  get subscription(): Subscription | undefined {
    return this.current;
  }

  /** Whether the call has ended (released): nothing it sends takes effect any more. */
  get isReleased(): boolean {
    return this.released;
  }

  /** Lists the stream, then subscribes; a bad client name, filter or resume point ends the stream with it. */
  start(clientName: () => string | undefined, read: () => SubscribeRequest): void {
    try {
      this.register('subscribe', clientName());
      this.open(read());
    } catch (error) {
      this.fail(error);
    }
  }

  /** The end of the call, for any reason: leaves the stream registry and the hub, once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.listed) this.hub.streams.close(this.listed);
    const subscription = this.current;
    if (!subscription) return;
    this.hub.unsubscribe(subscription);
    this.options.logger.debug({ peer: this.port.peer, subscribers: this.hub.subscriberCount }, 'subscription ended');
  }

  /** Ends the stream with `error`: released at once, the status follows. A second end changes nothing. */
  fail(error: unknown): void {
    if (this.released) return;
    this.release();
    this.port.fail(error);
  }

  // The hub's sink: the port's, but for fail (above).

  write(event: LoggedEvent): boolean {
    return this.port.write(event);
  }

  writeBookmark(sequence: number): boolean {
    return this.port.writeBookmark(sequence);
  }

  onDrain(callback: () => void): void {
    this.port.onDrain(callback);
  }

  /** Lists the stream in the hub's registry (GetHubStatus, `rig status`). */
  protected register(kind: StreamKind, clientName: string | undefined): void {
    if (this.released) return;
    this.listed = this.hub.streams.open({ kind, peer: this.port.peer, clientName, queuedBytes: () => this.port.queuedBytes });
  }

  /**
   * Subscribes, sends the response headers (so the client knows it is in place, and after which
   * sequence its events start), then starts delivering. Throws for a bad filter or resume point,
   * before anything was sent. A snapshot's first page is read here, so its sequence (where the
   * events start) is known for the headers.
   */
  protected open(asked: SubscribeRequest): void {
    if (this.released) return;
    const { spec, sinceSequence, bookmarkIntervalMs } = asked;
    compileFilter(spec); // a bad filter fails before a snapshot is read
    const snapshot = asked.includeSnapshot ? this.options.openSnapshot(spec) : undefined;
    let subscription: Subscription;
    try {
      subscription = this.hub.subscribe(spec, sinceSequence, this, {
        ...(snapshot && { snapshot }),
        ...(bookmarkIntervalMs !== undefined && { bookmarkIntervalMs }),
      });
    } catch (error) {
      snapshot?.close();
      throw error;
    }
    this.current = subscription;
    this.describe(spec, bookmarkIntervalMs);
    if (this.listed) this.listed.subscription = subscription;
    this.port.sendPosition(snapshot?.sequence ?? sinceSequence ?? subscription.position);
    this.options.logger.debug(
      {
        peer: this.port.peer,
        since_sequence: sinceSequence,
        snapshot_sequence: snapshot?.sequence,
        bookmark_interval_ms: bookmarkIntervalMs,
        subscribers: this.hub.subscriberCount,
      },
      'subscription started',
    );
    subscription.start();
  }

  /** What the registry shows the stream asked for. */
  protected describe(spec: FilterSpec, bookmarkIntervalMs: number | undefined): void {
    if (!this.listed) return;
    this.listed.filter = spec;
    this.listed.bookmarkIntervalMs = bookmarkIntervalMs;
  }
}
