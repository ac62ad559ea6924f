// Helpers for the PRD tests: fixture files placed in a project, and a real HTTP server that
// speaks Ollama's /api/chat so the real provider code (fetch, timeout, parsing, retry) runs.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { REPO_ROOT } from '../support/processes';

export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'prd');

/** Copies test/fixtures/prd/<name> into the project at `relative` (default docs/PRD.md). */
export function placeFixture(projectDir: string, name: string, relative = 'docs/PRD.md'): string {
  const target = path.join(projectDir, relative);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(path.join(FIXTURES, name), target);
  return target;
}

export function writeProjectFile(projectDir: string, relative: string, content: string | Buffer): string {
  const target = path.join(projectDir, relative);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, content);
  return target;
}

/** What the fake answers to one /api/chat call. */
export type ChatReply =
  | { content: string } // a normal reply whose message.content is this text
  | { delayMs: number; content: string } // answers late
  | { status: number; body: string }; // an HTTP error

export interface FakeOllama {
  url: string;
  /** The JSON bodies of the /api/chat requests received, in order. */
  requests: Record<string, any>[];
  /** How many requests the client abandoned before the fake answered. */
  aborted(): number;
  /** How many delayed replies are still open. */
  waiting(): number;
  /** Replies used in order, one per request; when they run out the fake answers HTTP 500. */
  reply(...replies: ChatReply[]): void;
  close(): Promise<void>;
}

export async function startFakeOllama(): Promise<FakeOllama> {
  const requests: Record<string, any>[] = [];
  const queue: ChatReply[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let aborted = 0;
  let waiting = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/api/chat') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route ${req.method} ${req.url}` }));
        return;
      }
      const request = JSON.parse(body) as Record<string, any>;
      requests.push(request);
      const next = queue.shift() ?? { status: 500, body: JSON.stringify({ error: 'fake ollama: no reply queued' }) };
      if ('status' in next) {
        res.writeHead(next.status, { 'content-type': 'application/json' }).end(next.body);
        return;
      }
      const answer = JSON.stringify({
        model: request.model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: next.content },
        done: true,
        done_reason: 'stop',
      });
      const send = () => {
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
      };
      if ('delayMs' in next) {
        waiting++;
        res.on('close', () => {
          waiting--;
          if (!res.writableFinished) aborted++;
        });
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, next.delayMs);
        timers.add(timer);
      } else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    aborted: () => aborted,
    waiting: () => waiting,
    reply: (...replies) => queue.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
