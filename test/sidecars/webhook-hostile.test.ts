// The webhook sidecar against a receiver that answers badly on purpose: a real `rig grpc`, a real
// `rig sidecar webhook` process and a raw TCP receiver here (node:net, so it can send what no HTTP
// server would). The first events each get one hostile answer, on every attempt: a redirect to a
// 3,000-character Location, control characters, a body without end, a body that drips, silence, a
// reset, garbage, headers over the limit, 1xx only, a 101, a status HTTP lacks, Retry-After values
// that are negative, garbage or huge. The events after them are answered 200. The sidecar stays up
// (one process, never exits), delivers those, and each hostile event ends acked, dead-lettered or
// retried, with a short printable reason.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import type { TaskEvent } from '../../src/client/index';
import { rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { clientOf, closeClients } from '../consumers/consumer-support';
import { startSidecar, waitLogged, type SidecarProcess } from './sidecar-support';

const TIMEOUT_MS = 1500;
/** What the receiver offers for the bodies without end: far more than anything should read. */
const ENDLESS_BYTES = 1 << 30;
/** A reason is at most this long (the sidecar's bound; the server takes 1,000). */
const MAX_REASON = 300;
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

type Answer = (socket: net.Socket, seen: Seen) => void;

interface Seen {
  /** Bytes of body written by the receiver on this connection. */
  written: number;
  /** The sidecar closed the connection (the receiver did not). */
  closedByPeer: boolean;
}

const status = (line: string, headers: string[] = [], body = '') =>
  `HTTP/1.1 ${line}\r\n${[...headers, `content-length: ${Buffer.byteLength(body)}`, 'connection: close'].join('\r\n')}\r\n\r\n${body}`;

/** Writes `chunk` as fast as the socket takes it, until ENDLESS_BYTES or the connection closes. */
function endless(socket: net.Socket, seen: Seen, head: string): void {
  socket.write(head);
  const chunk = Buffer.alloc(64 * 1024, 'z');
  const more = () => {
    while (!socket.destroyed && seen.written < ENDLESS_BYTES) {
      seen.written += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', more);
    }
  };
  more();
}

/** Calls `tick` every 50 ms until the connection closes. */
function every(socket: net.Socket, tick: () => void): void {
  const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : tick()), 50);
  socket.once('close', () => clearInterval(timer));
}

/** Each hostile answer, by the title of the task whose CREATED it answers; `ends` is what becomes of the event. */
const HOSTILE: Record<string, { answer: Answer; ends: 'acked' | 'dead' | 'parked'; reason?: RegExp }> = {
  'long location': {
    answer: (s) => s.end(status('302 Found', [`location: /${'x'.repeat(3000)}`])),
    ends: 'dead',
    reason: /answered 302, a redirect to \/x+… \(3001 characters\); redirects are not followed: give the final URL$/,
  },
  'control characters': {
    answer: (s) => s.end(status('400 Bad Request', [], `\u001b[31mred\u001b[0m\r\nforged line \u202eevil ${'y'.repeat(5000)}`)),
    ends: 'dead',
    reason: /answered 400: \\x1b\[31mred\\x1b\[0m forged line \\u202eevil y+…$/,
  },
  'huge 500 body': {
    answer: (s, seen) => endless(s, seen, `HTTP/1.1 500 Oops\r\ncontent-length: ${ENDLESS_BYTES}\r\n\r\n`),
    ends: 'dead',
    reason: /answered 500: z+…$/,
  },
  'huge 200 body': { answer: (s, seen) => endless(s, seen, `HTTP/1.1 200 OK\r\ncontent-length: ${ENDLESS_BYTES}\r\n\r\n`), ends: 'acked' },
  'dripping body': {
    answer: (s) => {
      s.write('HTTP/1.1 503 Slow\r\ncontent-length: 100000\r\n\r\n');
      every(s, () => s.write('d'));
    },
    ends: 'dead',
    reason: /answered 503(: d+)?$/, // ended by --timeout-ms, with what had dripped
  },
  'no answer': { answer: () => undefined, ends: 'dead', reason: new RegExp(`no answer within --timeout-ms ${TIMEOUT_MS}$`) },
  'reset mid-answer': {
    answer: (s) => {
      s.write('HTTP/1.1 500 Internal Ser');
      setTimeout(() => s.resetAndDestroy(), 20);
    },
    ends: 'dead',
    reason: /connection failed: ECONNRESET/,
  },
  'not http': { answer: (s) => s.end(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n\u0000\u0001\u0002\u00ff')), ends: 'dead', reason: /the answer is not HTTP: HPE_/ },
  'many headers': {
    answer: (s) =>
      s.end(
        status(
          '200 OK',
          Array.from({ length: 5000 }, (_, i) => `x-h${i}: v`),
        ),
      ),
    ends: 'dead',
    reason: /the answer is not HTTP: its status line and headers are over 16384 bytes$/,
  },
  'huge header': { answer: (s) => s.end(status('200 OK', [`x-big: ${'h'.repeat(100_000)}`])), ends: 'dead', reason: /over 16384 bytes$/ },
  '1xx only': {
    answer: (s) => every(s, () => s.write('HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n')),
    ends: 'dead',
    reason: /no answer within --timeout-ms/,
  },
  'unasked upgrade': {
    answer: (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: chaos\r\nconnection: upgrade\r\n\r\nhello'),
    ends: 'dead',
    reason: /the connection closed without an answer$/,
  },
  'odd status': { answer: (s) => s.end(status('999 Whatever')), ends: 'dead', reason: /answered status 999, which HTTP does not define$/ },
  'negative retry-after': { answer: (s) => s.end(status('503 Busy', ['retry-after: -5'], 'busy')), ends: 'dead', reason: /answered 503: busy$/ },
  'garbage retry-after': {
    answer: (s) => s.end(status('429 Too Many', ['retry-after: whenever, 1 2 3'], 'slow down')),
    ends: 'dead',
    reason: /answered 429: slow down$/,
  },
};
/** Written last: its Retry-After parks it (for the longest a Retry-After may ask), so it blocks nothing before it. */
const HUGE_RETRY_AFTER = 'huge retry-after';
const NORMAL = ['normal a', 'normal b', 'normal c'];

interface Request {
  title: string;
  seen: Seen;
}

/** A raw TCP receiver: reads one request per connection and answers it by the event's task title. */
class HostileReceiver {
  readonly requests: Request[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((socket) => this.connection(socket));

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  count(title: string): number {
    return this.requests.filter((r) => r.title === title).length;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connection(socket: net.Socket): void {
    this.sockets.add(socket);
    const seen: Seen = { written: 0, closedByPeer: false };
    let data = Buffer.alloc(0);
    let answered = false;
    socket.on('error', () => undefined); // the sidecar destroys what it stops reading
    socket.on('end', () => (seen.closedByPeer = true));
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (!socket.writableEnded) seen.closedByPeer = true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      data = Buffer.concat([data, chunk]);
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(data.subarray(0, headEnd).toString('latin1'))?.[1] ?? 0);
      if (data.length < headEnd + 4 + length) return;
      answered = true;
      const title = (JSON.parse(data.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8')) as TaskEvent).task.title;
      this.requests.push({ title, seen });
      if (title === HUGE_RETRY_AFTER) socket.end(status('503 Later', ['retry-after: 99999999999999999999'], 'come back next year'));
      else if (HOSTILE[title]) HOSTILE[title].answer(socket, seen);
      else socket.end(status('200 OK', [], 'ok'));
    });
  }
}

let server: ServerProcess | undefined;
let receiver: HostileReceiver | undefined;
let sidecar: SidecarProcess | undefined;
after(async () => {
  await sidecar?.stop('SIGKILL');
  await receiver?.close();
  await closeClients();
  await server?.stop('SIGKILL');
});

interface LogLine {
  msg?: string;
  sequence?: number;
  reason?: string;
  retry_in_ms?: number;
}

const logLines = (stderr: string): LogLine[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

test(
  'no answer wedges the webhook: each hostile one ends acked, dead-lettered or retried with a short printable reason, and the next events are delivered',
  { timeout: 120_000 },
  async () => {
    server = await startServer(tempProject());
    const client = clientOf(server);
    receiver = new HostileReceiver();
    await receiver.listen();
    const titles = [...Object.keys(HOSTILE), ...NORMAL, HUGE_RETRY_AFTER];
    const sequenceOf = new Map<string, number>();
    for (const [i, title] of titles.entries()) {
      await client.addTask({ title });
      sequenceOf.set(title, i + 1);
    }

    const args = [
      '--address',
      server.address,
      '--url',
      receiver.url,
      '--consumer',
      'hostile',
      '--since',
      '0',
      '--max-attempts',
      '2',
      '--retry-initial-ms',
      '50',
      '--retry-max-ms',
      '100',
      '--timeout-ms',
      String(TIMEOUT_MS),
      '--concurrency',
      '4',
    ];
    sidecar = startSidecar('webhook', args, 'rig');
    const pid = sidecar.child.pid;
    const dead = Object.entries(HOSTILE).filter(([, h]) => h.ends === 'dead');
    /** Waits for `fact`, failing at once (with its log) if the sidecar exits meanwhile. */
    const until = (fact: () => boolean | Promise<boolean>, timeoutMs: number, what: string) =>
      waitLogged(
        sidecar!,
        async () => {
          if (sidecar!.child.exitCode !== null || sidecar!.child.signalCode !== null)
            throw new Error(`the sidecar exited (${sidecar!.child.exitCode ?? sidecar!.child.signalCode}) while waiting for ${what}`);
          return fact();
        },
        timeoutMs,
        what,
      );

    // Facts: the normal events answered 200, every dead letter recorded, all before the parked one settled, and it retried.
    await until(() => NORMAL.every((t) => receiver!.count(t) >= 1) && receiver!.count(HUGE_RETRY_AFTER) >= 1, 60_000, 'the events after the hostile ones');
    await until(async () => (await client.deadLetters('hostile')).length === dead.length, 60_000, `${dead.length} dead letters`);
    const hugeSequence = sequenceOf.get(HUGE_RETRY_AFTER)!;
    await until(async () => (await client.getConsumer('hostile')).acked_sequence === hugeSequence - 1, 20_000, 'every event before the parked one settled');
    await until(
      () => logLines(sidecar!.stderr()).some((l) => l.msg === 'attempt failed; retrying' && l.sequence === hugeSequence),
      20_000,
      'the huge Retry-After retried',
    );

    // One process throughout: never exited, never printed an error line.
    assert.equal(sidecar.child.pid, pid);
    assert.equal(sidecar.child.exitCode, null, 'the sidecar is still running');
    assert.equal(sidecar.child.signalCode, null);
    assert.doesNotMatch(sidecar.stderr(), /^rig: /m, 'no fatal line');

    // The dead letters, as `rig consumers dead-letters` shows them: one per hostile answer, each reason short and printable.
    const cli = await rigAsync(['consumers', 'dead-letters', 'hostile', '--json', '--address', server.address]);
    assert.equal(cli.code, 0, cli.stderr);
    const letters = JSON.parse(cli.stdout) as { sequence: number; attempts: number; reason?: string }[];
    assert.deepEqual(
      letters.map((l) => l.sequence).sort((a, b) => a - b),
      dead.map(([title]) => sequenceOf.get(title)!).sort((a, b) => a - b),
      'every hostile event but the acked and the parked one is a dead letter',
    );
    for (const [title, hostile] of dead) {
      const letter = letters.find((l) => l.sequence === sequenceOf.get(title))!;
      const reason = letter.reason ?? '';
      assert.ok(reason.length <= MAX_REASON, `${title}: reason of ${reason.length} characters: ${reason}`);
      assert.doesNotMatch(reason, UNPRINTABLE, `${title}: printable`);
      assert.match(reason, hostile.reason!, `${title}: ${reason}`);
      // A redirect or a 4xx is refused for good at once; the others were retried to --max-attempts.
      const permanent = /answered (302|400)/.test(reason);
      assert.equal(letter.attempts, permanent ? 1 : 2, `${title}: attempts`);
      assert.equal(receiver.count(title), letter.attempts, `${title}: requests`);
    }

    // The answers without end were cut off by the sidecar, long before their end.
    for (const title of ['huge 500 body', 'huge 200 body']) {
      for (const { seen } of receiver.requests.filter((r) => r.title === title)) {
        await waitFor(() => seen.closedByPeer, 10_000, `${title}: the sidecar closes the connection`);
        assert.ok(seen.written < ENDLESS_BYTES / 16, `${title}: ${seen.written} bytes written before the sidecar closed it`);
      }
    }
    assert.equal(receiver.count('huge 200 body'), 1, 'a 200 with a body without end is delivered, once');

    // Retry-After: negative and garbage ones leave the backoff (50-100 ms) alone; a huge one is capped at an hour.
    const retries = logLines(sidecar.stderr()).filter((l) => l.msg === 'attempt failed; retrying');
    for (const title of ['negative retry-after', 'garbage retry-after']) {
      const line = retries.find((l) => l.sequence === sequenceOf.get(title));
      assert.ok(line && line.retry_in_ms! >= 25 && line.retry_in_ms! <= 100, `${title}: ${JSON.stringify(line)}`);
    }
    const parked = retries.find((l) => l.sequence === hugeSequence)!;
    assert.equal(parked.retry_in_ms, 3_600_000, 'a huge Retry-After waits the longest a Retry-After may ask');
    assert.match(parked.reason ?? '', /answered 503: come back next year$/);
    for (const line of logLines(sidecar.stderr())) {
      if (line.reason !== undefined) assert.ok(line.reason.length <= MAX_REASON && !UNPRINTABLE.test(line.reason), `logged reason: ${line.reason}`);
    }
    const consumer = await client.getConsumer('hostile');
    assert.equal(consumer.pending, 1, 'only the parked event is pending');

    assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr());
  },
);
