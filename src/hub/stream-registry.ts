// Every event stream open on the server, whatever its kind, with who holds it and what it asked
// for: what GetHubStatus, `rig status` and /metrics show. The streams register when they open and
// leave when they end; reading the registry computes positions and lags when asked, never on the
// hot path.
import type { FilterSpec } from './event-filter';
import type { Subscription } from './subscription';

export type StreamKind = 'subscribe' | 'task_event_stream' | 'consume';

/** What a stream says about itself when it opens. */
export interface StreamOpening {
  kind: StreamKind;
  /** The client's address as the transport sees it. */
  peer: string;
  /** The name the client gave itself (validated by the transport); undefined when it gave none. */
  clientName: string | undefined;
  /** Bytes written to the stream and not yet let out to the client. */
  queuedBytes: () => number;
}

/** One open stream. Its filter, bookmark interval, subscription and consumer are set as the stream learns them. */
export class OpenStream {
  readonly openedAt = new Date();
  filter: FilterSpec = {};
  bookmarkIntervalMs: number | undefined;
  /** The hub subscription it reads through (subscribe, task_event_stream); undefined before the first subscribe. */
  subscription: Subscription | undefined;
  /** For a consumer member: the consumer it joined. */
  consumer: string | undefined;

  constructor(
    readonly id: number,
    readonly opening: StreamOpening,
  ) {}
}

/** Client names kept apart in counts (countsByClient); the rest are added up under OTHER_CLIENTS. */
export const MAX_COUNTED_CLIENTS = 20;
export const OTHER_CLIENTS = 'other';
export const UNNAMED_CLIENT = 'unnamed';

export class StreamRegistry {
  private readonly streams = new Map<number, OpenStream>();
  private nextId = 1;

  get size(): number {
    return this.streams.size;
  }

  open(opening: StreamOpening): OpenStream {
    const stream = new OpenStream(this.nextId++, opening);
    this.streams.set(stream.id, stream);
    return stream;
  }

  close(stream: OpenStream): void {
    this.streams.delete(stream.id);
  }

  /** The open streams, oldest first, at most `limit`. */
  list(limit = Number.MAX_SAFE_INTEGER): OpenStream[] {
    const listed: OpenStream[] = [];
    for (const stream of this.streams.values()) {
      if (listed.length >= limit) break;
      listed.push(stream);
    }
    return listed;
  }

  /**
   * Open streams and the largest lag behind `head` (of those reading through a hub subscription)
   * per client kind: a name's part before its first "/", so instances share one entry. The
   * MAX_COUNTED_CLIENTS - 1 kinds with the most streams are kept apart, the rest added up under
   * OTHER_CLIENTS: bounded whatever names clients send.
   */
  byClient(head: number): Map<string, ClientStreams> {
    const all = new Map<string, ClientStreams>();
    for (const { opening, subscription } of this.streams.values()) {
      const kind = opening.clientName === undefined ? UNNAMED_CLIENT : opening.clientName.split('/')[0]!;
      const entry = all.get(kind) ?? { streams: 0, maxLag: 0 };
      entry.streams++;
      if (subscription) entry.maxLag = Math.max(entry.maxLag, head - subscription.position);
      all.set(kind, entry);
    }
    if (all.size <= MAX_COUNTED_CLIENTS) return all;
    const sorted = [...all].sort((a, b) => b[1].streams - a[1].streams || (a[0] < b[0] ? -1 : 1));
    const kept = new Map(sorted.slice(0, MAX_COUNTED_CLIENTS - 1).filter(([kind]) => kind !== OTHER_CLIENTS));
    const other = { streams: 0, maxLag: 0 };
    for (const [kind, entry] of sorted) {
      if (kept.has(kind)) continue;
      other.streams += entry.streams;
      other.maxLag = Math.max(other.maxLag, entry.maxLag);
    }
    kept.set(OTHER_CLIENTS, other);
    return kept;
  }
}

export interface ClientStreams {
  streams: number;
  maxLag: number;
}
