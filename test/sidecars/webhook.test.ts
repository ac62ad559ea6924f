// The webhook sidecar, as a user runs it: a real `rig grpc`, a real `rig sidecar webhook` process and
// a plain node:http receiver here that checks every request's signature with the standardwebhooks
// package (an implementation we did not write). The receiver misbehaves per task: 500 twice then 200,
// 429 with Retry-After, a permanent 400, and it is down for a while; in the end it holds every event
// once (de-duplicated by webhook-id), each task's in order, and the 400 is a dead letter.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { RiggerClient, type TaskEvent } from '../../src/client/index';
import { REPO_ROOT, rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { consumerAckedThrough } from '../support/barriers';
import { clientOf, closeClients } from '../consumers/consumer-support';
import { startSidecar, waitLogged, type SidecarProcess } from './sidecar-support';

const OLD_SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const NEW_SECRET = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const SLACK_FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'webhook', 'slack.txt');

interface Received {
  id: string;
  body: string;
  status: number;
  at: number;
}

/** A receiver whose answer to each request `answer` decides; it records every request (after verifying it). */
class Receiver {
  readonly requests: Received[] = [];
  readonly badSignatures: string[] = [];
  private server: http.Server | undefined;
  port = 0;

  constructor(
    private readonly answer: (event: { id: string; body: string; tries: number }) => { status: number; headers?: Record<string, string> },
    private readonly verifiers = [new Webhook(NEW_SECRET), new Webhook(OLD_SECRET)],
  ) {}

  async listen(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const id = String(req.headers['webhook-id']);
        // Each secret of the rotation verifies alone: the header holds a signature for each.
        for (const verifier of this.verifiers) {
          try {
            verifier.verify(body, req.headers as Record<string, string>);
          } catch (error) {
            this.badSignatures.push(`${id}: ${(error as Error).message}`);
          }
        }
        const tries = this.requests.filter((r) => r.id === id).length + 1;
        const { status, headers } = this.answer({ id, body, tries });
        this.requests.push({ id, body, status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'text/plain', ...headers });
        res.end(status === 200 ? 'ok' : `no (${status})`);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Down: refuses connections until listen() again (on the same port). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/rigger?token=s3cret`;
  }

  /** The 200-answered requests, first per webhook-id, in arrival order. */
  accepted(): Received[] {
    const seen = new Set<string>();
    return this.requests.filter((r) => r.status === 200 && !seen.has(r.id) && seen.add(r.id));
  }
}

const receivers: Receiver[] = [];
const sidecars: SidecarProcess[] = [];
let server: ServerProcess | undefined;
after(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await Promise.all(receivers.map((r) => r.close()));
  await closeClients();
  await server?.stop('SIGKILL');
});

function receiver(answer: ConstructorParameters<typeof Receiver>[0]): Receiver {
  const r = new Receiver(answer);
  receivers.push(r);
  return r;
}

function webhook(args: string[], via: 'node' | 'rig' = 'node'): SidecarProcess {
  const sidecar = startSidecar('webhook', ['--address', server!.address, ...args], via);
  sidecars.push(sidecar);
  return sidecar;
}

const eventOf = (body: string) => JSON.parse(body) as TaskEvent;

/** Every logged event so far, as a plain subscriber decodes it. */
async function allEvents(client: RiggerClient, count: number): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  const iterator = client.events({ sinceSequence: 0, bookmarkIntervalMs: 0 });
  const timer = setTimeout(() => void iterator.return?.(), 10_000);
  try {
    for await (const event of iterator) if (events.push(event) === count) break;
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
  assert.equal(events.length, count, 'the log holds the events the test wrote');
  return events;
}

test(
  'every event arrives once per webhook-id, signed, in order per task, through 500s, 429s and an outage; a 400 is a dead letter',
  { timeout: 120_000 },
  async () => {
    server = await startServer(tempProject());
    const client = clientOf(server);
    const titleOf = (body: string) => eventOf(body).task.title;
    const r = receiver(({ body, tries }) => {
      const title = titleOf(body);
      if (title.startsWith('flaky') && tries <= 2) return { status: 500 };
      if (title.startsWith('throttled') && tries === 1) return { status: 429, headers: { 'retry-after': '1' } };
      if (title === 'poison' && eventOf(body).event_type === 1) return { status: 400 }; // its CREATED only
      return { status: 200 };
    });
    await r.listen();

    // Before the sidecar starts: it reads them from the consumer's start (--since 0).
    const ids: string[] = [];
    for (const title of ['plain a', 'flaky a', 'throttled a', 'poison', 'plain b', 'flaky b', 'throttled b'])
      ids.push((await client.addTask({ title })).task!.id!);
    const sidecar = webhook([
      '--url',
      r.url,
      '--secret',
      `${OLD_SECRET} ${NEW_SECRET}`,
      '--consumer',
      'hooks',
      '--since',
      '0',
      '--retry-initial-ms',
      '100',
      '--retry-max-ms',
      '400',
      '--max-attempts',
      '50',
      '--concurrency',
      '3',
    ]);
    for (const id of ids) await client.updateTask({ task_id: id, assignee: 'Alice' }); // UPDATED + ASSIGNED each
    const beforeOutage = 7 + 14 - 1; // poison's CREATED is dead; its updates arrive after it
    await waitLogged(sidecar, () => r.accepted().length >= beforeOutage, 30_000, 'the first events');

    // Down for a while: the events written meanwhile are retried until it is back.
    await r.close();
    for (const id of ids.slice(0, 4)) await client.updateTask({ task_id: id, status: 2 }); // UPDATED + STATUS_CHANGED each
    // Down for three failed attempts (a count the sidecar logs, not a time), so the retries span the outage.
    const refused = () => sidecar.stderr().match(/connection failed: ECONNREFUSED/g)?.length ?? 0;
    await waitFor(() => refused() >= 3, 15_000, 'three attempts while the receiver is down');
    await r.listen(r.port);

    const total = 7 + 14 + 8;
    const poison = 4; // the CREATED of "poison" (sequence 4)
    await waitLogged(sidecar, () => r.accepted().length === total - 1, 40_000, 'every event but the dead letter');
    // The consumer acked through the last event with nothing in flight: nothing is left to send, a repeat included.
    await consumerAckedThrough(() => client.getConsumer('hooks'), total, 'hooks');

    assert.deepEqual(r.badSignatures, [], 'every request verifies with each secret of the rotation');
    const accepted = r.accepted();
    const sequences = accepted.map((a) => eventOf(a.body).sequence);
    assert.deepEqual(
      [...sequences].sort((a, b) => a - b),
      Array.from({ length: total }, (_, i) => i + 1).filter((s) => s !== poison),
      'every event once, after de-duplication',
    );
    assert.ok(
      accepted.every(
        (a) => /^msg_hooks_[0-9a-f]{16}_\d+$/.test(a.id) && a.id.endsWith(`_${eventOf(a.body).sequence}`) && a.id.includes(`_${eventOf(a.body).log_id}_`),
      ),
      'webhook-id is msg_<consumer>_<log id>_<sequence>',
    );
    assert.equal(r.requests.filter((q) => q.status === 200).length, accepted.length, 'no event answered 200 was sent again');

    // Per task, in order: a task's events arrive in sequence order, and never one before the one before it was accepted.
    const byTask = new Map<string, number[]>();
    for (const a of accepted) {
      const event = eventOf(a.body);
      byTask.set(event.task.id, [...(byTask.get(event.task.id) ?? []), event.sequence]);
    }
    for (const [task, seqs] of byTask)
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        `task ${task} in order`,
      );
    for (const q of r.requests) {
      const event = eventOf(q.body);
      const earlier = accepted.filter((a) => eventOf(a.body).task.id === event.task.id && eventOf(a.body).sequence < event.sequence);
      assert.ok(
        earlier.every((a) => a.at <= q.at),
        `sequence ${event.sequence} was sent only after its task's earlier events were accepted`,
      );
    }

    // Retries kept their webhook-id; 500 twice then 200; Retry-After: 1 waited about a second.
    for (const title of ['flaky a', 'flaky b']) {
      const created = r.requests.filter((q) => eventOf(q.body).event_type === 1 && titleOf(q.body) === title);
      assert.deepEqual(
        created.map((q) => q.status),
        [500, 500, 200],
        `${title}: 500, 500, then 200`,
      );
      assert.equal(new Set(created.map((q) => q.id)).size, 1, 'one webhook-id across the retries');
    }
    for (const title of ['throttled a', 'throttled b']) {
      const created = r.requests.filter((q) => eventOf(q.body).event_type === 1 && titleOf(q.body) === title);
      assert.deepEqual(created.map((q) => q.status).slice(-2), [429, 200]);
      assert.ok(created.at(-1)!.at - created.at(-2)!.at >= 900, `Retry-After: 1 honoured (${created.at(-1)!.at - created.at(-2)!.at} ms)`);
    }

    // --format json is the NATS bridge's payload: the event as a plain subscriber decodes it, as JSON.
    const events = await allEvents(client, total);
    for (const a of accepted) assert.equal(a.body, JSON.stringify(events[eventOf(a.body).sequence - 1]));

    // The 400: a dead letter at once (one attempt), with the receiver's answer as its reason.
    assert.equal(r.requests.filter((q) => eventOf(q.body).sequence === poison).length, 1, 'a 400 is not retried');
    const cli = await rigAsync(['consumers', 'dead-letters', 'hooks', '--json', '--address', server.address]);
    assert.equal(cli.code, 0, cli.stderr);
    const dead = JSON.parse(cli.stdout) as { sequence: number; attempts: number; reason?: string }[];
    assert.deepEqual(
      dead.map((d) => [d.sequence, d.attempts]),
      [[poison, 1]],
    );
    assert.match(dead[0]!.reason ?? '', /^http:\/\/127\.0\.0\.1:\d+\/… answered 400: no \(400\)$/, "the reason, without the URL's path or query");
    assert.doesNotMatch(sidecar.stderr(), /s3cret|hooks\/rigger/, "the URL's path and query (often a secret) stay out of the log");
    await waitFor(async () => (await client.getConsumer('hooks')).acked_sequence === total, 10_000, 'the consumer acked to the head');

    assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr());
    assert.match(sidecar.stderr(), /"msg":"stopped"/);
  },
);

test('410 Gone stops delivery: one line, exit 1, and the event stays in the consumer', { timeout: 60_000 }, async () => {
  server ??= await startServer(tempProject());
  const client = clientOf(server);
  await client.addTask({ title: 'gone' });
  const r = receiver(() => ({ status: 410 }));
  await r.listen();
  const sidecar = webhook(['--url', r.url, '--consumer', 'gone', '--since', '0', '--concurrency', '1']);
  const code = await new Promise<number | null>((resolve) => sidecar.child.once('exit', resolve));
  assert.equal(code, 1);
  const lines = sidecar
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('rig: '));
  assert.equal(lines.length, 1, sidecar.stderr());
  assert.match(lines[0]!, /^rig: http:\/\/127\.0\.0\.1:\d+\/… answered 410 Gone: the receiver wants no more deliveries, so the webhook stopped/);
  assert.equal(r.requests.length, 1, 'nothing is sent after the 410');
  const info = await client.getConsumer('gone');
  assert.equal(info.acked_sequence, 0, 'the event is not acked');
  assert.equal(info.dead_letters, 0, 'nor a dead letter: it waits for the URL to be fixed');
});

test('--format slack: one readable line per event, as in the fixture', { timeout: 60_000 }, async () => {
  server ??= await startServer(tempProject());
  const alice = new RiggerClient({ address: server.address, actor: 'Alice' });
  try {
    const r = receiver(() => ({ status: 200 }));
    await r.listen();
    const start = (await clientOf(server).listConsumers()).length; // a fresh consumer, from the head
    const sidecar = webhook(['--url', r.url, '--format', 'slack', '--consumer', `slack-${start}`], 'rig');
    await waitFor(
      async () =>
        ((
          await clientOf(server!)
            .getConsumer(`slack-${start}`)
            .catch(() => undefined)
        )?.members ?? 0) === 1,
      20_000,
      'the sidecar to join',
    );
    const task = (await alice.addTask({ title: 'Fix login bug', assignee: 'Bob', due_date: '2025-12-31' })).task!;
    await alice.updateTask({ task_id: task.id!, status: 2 });
    await alice.updateTask({ task_id: task.id!, assignee: 'Carol' });
    const odd = (await alice.addTask({ title: 'Escape <b>this</b> & that' })).task!;
    await alice.deleteTask({ task_id: odd.id! });
    await waitLogged(sidecar, () => r.accepted().length === 7, 20_000, '7 messages');
    // Sorted by sequence (the webhook-id's end): different tasks may arrive in either order.
    const bySequence = r.accepted().sort((a, b) => Number(a.id.split('_').pop()) - Number(b.id.split('_').pop()));
    const texts = bySequence.map((a) => (JSON.parse(a.body) as { text: string }).text);
    assert.ok(
      r.accepted().every((a) => Object.keys(JSON.parse(a.body) as object).join() === 'text'),
      'a Slack incoming-webhook body: {"text": ...}',
    );
    assert.equal(`${texts.join('\n')}\n`, fs.readFileSync(SLACK_FIXTURE, 'utf8'));
    assert.match(sidecar.stderr(), /"signed":false/);
    assert.match(sidecar.stderr(), /requests are not signed/);
    assert.equal(await sidecar.stop('SIGINT'), 0);
  } finally {
    await alice.close();
  }
});

test('bad flags: one line on stderr, exit 1, before connecting', { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [[], /^rig: Missing required argument: url$/],
    [['--url', 'ftp://example.com/x'], /^rig: --url must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/example\.com\/x"$/],
    [['--url', 'http://127.0.0.1:9/', '--secret', 'hunter2'], /^rig: --secret must be a Standard Webhooks secret: whsec_ then base64/],
    [
      ['--url', 'http://127.0.0.1:9/', '--secret', `${NEW_SECRET} whsec_AAAA`],
      /^rig: --secret \(secret 2 of 2\) holds 3 bytes; a secret is 24 to 64 random bytes/,
    ],
    [['--url', 'http://127.0.0.1:9/', '--format', 'xml'], /^rig: --format must be json or slack, got "xml"$/],
    [['--url', 'http://127.0.0.1:9/', '--concurrency', '0'], /^rig: --concurrency must be a whole number from 1 to 1000, got 0$/],
    [['--url', 'http://127.0.0.1:9/', '--max-attempts', '5000'], /^rig: --max-attempts must be a whole number from 1 to 1000, got 5000$/],
    [['--url', 'http://127.0.0.1:9/', '--timeout-ms', 'soon'], /^rig: --timeout-ms must be a whole number from 1 to 3600000, got NaN$/],
    [['--url', 'http://127.0.0.1:9/', '--consumer', 'no spaces'], /^rig: consumer name "no spaces" is not valid/],
    [['--url', 'http://127.0.0.1:9/', '--checkpoint', 'x'], /^rig: unknown option --checkpoint; see rig sidecar webhook --help for what it takes$/],
  ];
  for (const [args, expected] of cases) {
    const sidecar = startSidecar('webhook', ['--address', '127.0.0.1:1', ...args]);
    sidecars.push(sidecar);
    const code = await new Promise<number | null>((resolve) => sidecar.child.once('exit', resolve));
    assert.equal(code, 1, `${args.join(' ')}: ${sidecar.stderr()}`);
    assert.equal(sidecar.stderr().trimEnd().split('\n').length, 1, `${args.join(' ')}: one line: ${sidecar.stderr()}`);
    assert.match(sidecar.stderr().trimEnd(), expected);
  }
});
