// One resumable subscription: keeps a SubscribeToTaskEvents stream open across server restarts,
// connection losses and connections that die silently, reopening it with since_sequence = its
// position (the last event or bookmark received), so the events handed on are gap-free (among
// those the filter matches), in order and each only once. The reopening is reconnect-loop.ts's;
// this file is its strategy: the request, the position, what a message means.
//
// Stream messages are sorted here, so that nothing above sees one as a change of a task:
//  - BOOKMARK moves the position (every matching event up to it has arrived) and is the heartbeat
//    the dead-stream rule counts on (silence-watch.ts, run by reconnect-loop.ts);
//  - SNAPSHOT entries and SNAPSHOT_COMPLETE (include_snapshot) are passed on as such; the position
//    is the snapshot's sequence only once it is complete, so a stream lost mid-snapshot asks for a
//    new snapshot rather than resuming from a state the caller has only half of.
import * as grpc from '@grpc/grpc-js';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import type { SubscribeToTaskEventsRequest } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEvent as WireTaskEvent } from '../generated/rigger/v1/TaskEvent';
import { LOG_ID_HEADER, PARTED_AFTER_TRAILER, POSITION_HEADER } from '../protocol/metadata';
import { LEGACY_LOG_ID, type LogPosition, type ResumePoint } from '../model/log-lineage';
import { isLoggedEventType, TaskEventType, type TaskEvent } from '../model/task';
import type { BackoffOptions } from './backoff';
import { ReconnectLoop } from './reconnect-loop';
import { waitToRetry } from './retry-wait';
import { DEAD_AFTER_INTERVALS } from './silence-watch';
import type { StreamError } from './stream-error';

export type FeedStatus =
  /** The stream is open; `position` is the sequence it resumes after (undefined while a first snapshot is still coming). */
  | { state: 'connected'; position: number | undefined; logId: string | undefined; reconnects: number }
  /**
   * The stream was lost and will be reopened after `retryInMs` at the latest (sooner once the
   * server answers again). `reason` 'ended': the server or the connection ended it (`error` says
   * how); 'dead-stream': nothing at all arrived for 2.5 bookmark intervals, so the client gave up
   * on a connection that looked open.
   */
  | { state: 'disconnected'; reason: 'ended' | 'dead-stream'; error: StreamError; attempt: number; retryInMs: number };

/** Where a snapshot stands, in order with its SNAPSHOT entries. */
export type SnapshotMarker =
  /** Entries follow. `restart`: an earlier snapshot was cut off; drop what was built from it. */
  | { state: 'started'; restart: boolean }
  /** Every matching task has been sent as it is at `sequence`; the changes after it follow. */
  | { state: 'complete'; sequence: number; tasks: number };

export interface FeedListener {
  /** A change of a task (CREATED ... ORCHESTRATED), or a SNAPSHOT entry between snapshot markers. */
  event(event: TaskEvent): void;
  /** Every matching event up to `sequence` has been passed to event(). */
  bookmark?(sequence: number): void;
  snapshot?(marker: SnapshotMarker): void;
  /** The stream ended for good: a non-retryable status, or retries exhausted. */
  error(error: StreamError): void;
  /** A live start learned its position (the server's newest sequence when it subscribed). */
  started?(position: LogPosition): void;
  /** The log was restored (or given a new identity) past this feed's position; the feed goes on from the parting point. */
  restored?(restore: LogRestore): void;
  status?(status: FeedStatus): void;
}

export type FeedFilter = Omit<SubscribeToTaskEventsRequest, 'since_sequence' | 'since_log_id' | 'include_snapshot' | 'bookmark_interval_ms'>;

/**
 * The server refused the feed's position (FAILED_PRECONDITION): its log `logId` parted from the
 * position's log after `partedAfter`, so events partedAfter+1 to `position.sequence` of that log are
 * not in it. Going on from (logId, partedAfter) hands on every event of the new log after that.
 */
export interface LogRestore {
  position: LogPosition;
  logId: string;
  partedAfter: number;
  /** The server's message, which names both logs. */
  message: string;
}

/** What a feed does when the server refuses its position as of another log (see LogRestore). */
export type AfterRestore =
  /** End with the FAILED_PRECONDITION error (the default: the caller decides). */
  | 'fail'
  /** Go on from the parting point, where the server gave one (else end), telling listener.restored. */
  | 'continue';

export interface FeedSettings {
  backoff: Required<BackoffOptions>;
  /** Asked of the server; 0 = no bookmarks (and no dead-stream rule). */
  bookmarkIntervalMs: number;
  /**
   * Start with a snapshot when there is no position to resume from; also, when the server refuses
   * the position as of another log, start over with a new snapshot (SnapshotMarker restart).
   */
  includeSnapshot: boolean;
  afterRestore: AfterRestore;
}

type SubscribeCall = grpc.ClientReadableStream<WireTaskEvent>;

export class EventFeed {
  private readonly loop: ReconnectLoop<SubscribeCall, WireTaskEvent>;
  private position: number | undefined;
  /** The log identity `position` is of: the server's header once connected; LEGACY_LOG_ID for a bare checkpoint. */
  private logId: string | undefined;
  private snapshotPending: boolean;
  /** Whether the stream open now asked for a snapshot. */
  private snapshotStream = false;
  private snapshotStarts = 0;
  private snapshotTasks = 0;

  constructor(
    service: RiggerServiceClient,
    private readonly filter: FeedFilter,
    startAfter: ResumePoint | undefined,
    private readonly settings: FeedSettings,
    private readonly listener: FeedListener,
  ) {
    this.position = startAfter?.sequence;
    this.logId = startAfter?.logId;
    this.snapshotPending = settings.includeSnapshot && startAfter === undefined;
    const interval = settings.bookmarkIntervalMs;
    this.loop = new ReconnectLoop<SubscribeCall, WireTaskEvent>(
      {
        open: () => service.SubscribeToTaskEvents(this.request()),
        answered: (metadata) => this.answered(metadata),
        message: (wire) => {
          const event = wire as unknown as TaskEvent;
          // An event carries the log it was written in; one written before logs had identities, none.
          event.log_id ??= LEGACY_LOG_ID;
          this.receive(event);
        },
        recover: (error) => error.code === grpc.status.FAILED_PRECONDITION && this.startOverAfterRestore(error),
        disconnected: ({ reason, error, attempt, retryInMs }) => this.listener.status?.({ state: 'disconnected', reason, error, attempt, retryInMs }),
        failed: (error) => this.listener.error(error),
      },
      {
        backoff: settings.backoff,
        wait: (delayMs, retry) => waitToRetry(service.getChannel(), delayMs, retry),
        endedDetails: 'the server ended the stream',
        // No bookmarks asked for: no heartbeat, and no dead-stream rule.
        ...(interval > 0 && {
          silence: {
            limitMs: interval * DEAD_AFTER_INTERVALS,
            describe: (silentMs: number) => `no message from the server for ${silentMs} ms (bookmarks every ${interval} ms): the connection is treated as dead`,
          },
        }),
      },
    );
  }

  start(): void {
    this.loop.start();
  }

  /** Stops reading from the network (the server then holds back, see the hub's back-pressure); silence is expected then. */
  pause(): void {
    this.loop.pause();
  }

  resume(): void {
    this.loop.resume();
  }

  close(): void {
    this.loop.close();
  }

  /** The position this feed resumes after, with its log; undefined before a live start or a snapshot completes. */
  get resumePosition(): LogPosition | undefined {
    return this.position === undefined || this.logId === undefined ? undefined : { sequence: this.position, logId: this.logId };
  }

  /** The next stream's request: a new snapshot, or the filter from the position (none: live). */
  private request(): SubscribeToTaskEventsRequest {
    this.snapshotStream = this.snapshotPending;
    return {
      ...this.filter,
      ...(this.settings.bookmarkIntervalMs > 0 && { bookmark_interval_ms: this.settings.bookmarkIntervalMs }),
      ...(this.snapshotStream
        ? { include_snapshot: true }
        : this.position !== undefined && { since_sequence: this.position, ...(this.logId !== undefined && { since_log_id: this.logId }) }),
    };
  }

  private answered(metadata: grpc.Metadata): void {
    const header = metadata.get(POSITION_HEADER)[0];
    const logId = metadata.get(LOG_ID_HEADER)[0];
    // The server resumed this position in its log (the same place, or one before the parting point).
    if (typeof logId === 'string') this.logId = logId;
    if (this.snapshotStream) {
      this.snapshotTasks = 0;
      this.listener.snapshot?.({ state: 'started', restart: this.snapshotStarts++ > 0 });
    } else if (this.position === undefined && header !== undefined) {
      this.position = Number(header);
      if (this.logId !== undefined) this.listener.started?.({ sequence: this.position, logId: this.logId });
    }
    const reconnects = this.loop.connected();
    this.listener.status?.({ state: 'connected', position: this.position, logId: this.logId, reconnects });
  }

  private receive(event: TaskEvent): void {
    switch (event.event_type) {
      case TaskEventType.BOOKMARK:
        this.loop.heartbeatSeen();
        // A snapshot's position is its SNAPSHOT_COMPLETE; nothing before it moves the position.
        if (this.snapshotPending) return;
        if (this.position !== undefined && event.sequence < this.position) return;
        this.position = event.sequence;
        this.listener.bookmark?.(event.sequence);
        return;
      case TaskEventType.SNAPSHOT:
        this.loop.heartbeatSeen();
        if (!this.snapshotStream || !this.snapshotPending) return;
        this.snapshotTasks++;
        this.listener.event(event);
        return;
      case TaskEventType.SNAPSHOT_COMPLETE:
        this.loop.heartbeatSeen();
        if (!this.snapshotStream || !this.snapshotPending) return;
        this.snapshotPending = false;
        this.position = event.sequence;
        this.listener.snapshot?.({ state: 'complete', sequence: event.sequence, tasks: this.snapshotTasks });
        return;
      default:
        // A message type newer than this client is about the stream, not a change: not passed on.
        if (!isLoggedEventType(event.event_type)) return;
        if (this.snapshotPending) return; // a server that ignored include_snapshot; never ours
        if (this.position !== undefined && event.sequence <= this.position) return;
        this.position = event.sequence;
        this.listener.event(event);
    }
  }

  /**
   * The server refused the position as of another log (its trailers name the log): with
   * includeSnapshot the feed starts over from a new snapshot; with afterRestore 'continue', from
   * the parting point. Returns false to end with the error.
   */
  private startOverAfterRestore(error: StreamError): boolean {
    const logId = error.metadata.get(LOG_ID_HEADER)[0];
    if (typeof logId !== 'string' || this.position === undefined) return false;
    const position = { sequence: this.position, logId: this.logId ?? logId };
    if (this.settings.includeSnapshot) {
      this.snapshotPending = true;
      this.snapshotStarts = Math.max(this.snapshotStarts, 1); // what was built from the old log is dropped
      this.position = undefined;
      this.logId = undefined;
    } else {
      const partedAfter = Number(error.metadata.get(PARTED_AFTER_TRAILER)[0]);
      if (this.settings.afterRestore !== 'continue' || !Number.isSafeInteger(partedAfter)) return false;
      this.position = partedAfter;
      this.logId = logId;
      this.listener.restored?.({ position, logId, partedAfter, message: error.details });
    }
    return true;
  }
}
