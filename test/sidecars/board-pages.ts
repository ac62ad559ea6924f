// The board sidecar's load for its tests and its bench row (so nothing here loads node:test): a
// project prefilled with a big board, pages that stop reading, and a page that reads and keeps the
// board as board.js does. The pages speak HTTP on a raw socket, so nothing buffers for them.
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { TaskStatus } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';

const PEOPLE = ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Oscar'];
const STATUSES = [TaskStatus.TODO, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED];

/** The n-th board task's title: about 300 characters, as real ones with some detail run. */
export function boardTitle(n: number): string {
  return `Board task ${n}: ${'review the rollout plan, check the runbook and the dashboards, then tell the team what changed and why; '.repeat(3)}`.slice(
    0,
    300,
  );
}

/**
 * Writes `count` tasks into `dbFile` through TaskStore.write (the store's own write path, 1000 a
 * transaction): titles of 300 characters, twelve assignees, three statuses, due dates; about
 * 550 bytes a card on /events, as the boards of issue 25 (9.5 MB at 15,000 tasks).
 */
export function prefillBoard(dbFile: string, count: number): void {
  const store = openStore(dbFile, taskEventEncoder);
  try {
    for (let written = 0; written < count;) {
      const batch = Math.min(1000, count - written);
      store.tasks.write('board-prefill', (m) => {
        for (let i = written; i < written + batch; i++) {
          m.createTask({
            title: boardTitle(i),
            assignee: PEOPLE[i % PEOPLE.length]!,
            status: STATUSES[i % STATUSES.length]!,
            due_date: `2099-0${1 + (i % 9)}-1${i % 10}`,
          });
        }
      });
      written += batch;
    }
  } finally {
    store.close();
  }
}

export interface BoardCard {
  id: string;
  title: string;
  assignee: string | null;
  status: string;
  version: number;
}

function request(url: string, path: string): { socket: net.Socket; ready: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
      resolve();
    });
    socket.once('error', reject);
  });
  return { socket, ready };
}

/**
 * Opens `count` /events streams that read their first bytes (the answer has begun: the sidecar
 * is serving them) and then never read again. Resolves once every one has begun.
 */
export async function openStuckPages(url: string, count: number, timeoutMs = 30_000): Promise<net.Socket[]> {
  const opened = Array.from({ length: count }, () => {
    const { socket } = request(url, '/events');
    const begun = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`a stuck page got no answer from ${url} in ${timeoutMs} ms`)), timeoutMs);
      socket.once('data', () => {
        clearTimeout(timer);
        socket.pause();
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    // Once paused nothing is read, so 'error' (ECONNRESET on the drop) must not crash the test.
    socket.on('error', () => undefined);
    return { socket, begun };
  });
  await Promise.all(opened.map((page) => page.begun));
  return opened.map((page) => page.socket);
}

/**
 * A page that reads /events and keeps the board the way board.js does: a snapshot's cards gather
 * apart and replace the board at board-end; a change applies to the snapshot under way, if any.
 */
export class BoardReader {
  /** The board as of the last complete snapshot and the changes after it. */
  board = new Map<string, BoardCard>();
  snapshotsStarted = 0;
  snapshotsCompleted = 0;
  /** The changed cards (null: it left the board), in the order their changes arrived, with when (performance.now()). */
  readonly changes: { taskId: string; task: BoardCard | null; at: number }[] = [];
  ended = false;
  private incoming: Map<string, BoardCard> | null = null;
  private raw = Buffer.alloc(0);
  private body = '';
  private readonly decoder = new StringDecoder('utf8');
  private headersDone = false;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => undefined);
  }

  static async open(url: string): Promise<BoardReader> {
    const { socket, ready } = request(url, '/events');
    const reader = new BoardReader(socket);
    await ready;
    return reader;
  }

  /** Stops reading (the socket fills; the sidecar's writes back up) until resume(). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves once `predicate` holds (checked after every message), or rejects after `timeoutMs`. */
  waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `${what}: not within ${timeoutMs} ms (snapshots ${this.snapshotsStarted} started, ${this.snapshotsCompleted} complete, ${this.board.size} cards, ended ${this.ended})`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private read(chunk: Buffer): void {
    this.raw = Buffer.concat([this.raw, chunk]);
    if (!this.headersDone) {
      const end = this.raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.raw = this.raw.subarray(end + 4);
      this.headersDone = true;
    }
    // The body is chunked (a size line, the bytes, CRLF) and an event may span chunks: the framing
    // comes off first, the bytes go through one decoder, and events are cut from the text.
    for (;;) {
      const line = this.raw.indexOf('\r\n');
      if (line < 0) break;
      const size = parseInt(this.raw.subarray(0, line).toString('latin1'), 16);
      if (this.raw.length < line + 2 + size + 2) break;
      this.body += this.decoder.write(this.raw.subarray(line + 2, line + 2 + size));
      this.raw = this.raw.subarray(line + 2 + size + 2);
    }
    let boundary;
    while ((boundary = this.body.indexOf('\n\n')) >= 0) {
      this.apply(this.body.slice(0, boundary));
      this.body = this.body.slice(boundary + 2);
    }
    this.wake();
  }

  private apply(block: string): void {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (event === 'board') {
      this.snapshotsStarted++;
      this.incoming = new Map();
    } else if (event === 'tasks') {
      const into = this.incoming ?? this.board;
      for (const card of JSON.parse(data) as BoardCard[]) into.set(card.id, card);
    } else if (event === 'board-end') {
      if (this.incoming) this.board = this.incoming;
      this.incoming = null;
      this.snapshotsCompleted++;
    } else if (event === 'change') {
      const change = JSON.parse(data) as { task_id: string; task: BoardCard | null };
      const into = this.incoming ?? this.board;
      if (change.task) into.set(change.task_id, change.task);
      else into.delete(change.task_id);
      this.changes.push({ taskId: change.task_id, task: change.task, at: performance.now() });
    }
  }
}
