// A scraper process, forked by the ops row: many loops each GETting a URL (the operations
// endpoint's /metrics) one request after another over keep-alive connections, as a crowd of
// Prometheus servers or curl loops would, and durable consumers created in bulk for it to list.
import http from 'node:http';
import { serveCommands } from './ipc';
import { serviceFor, unaryCall } from './service';
import { wallClockMs } from './stats';

export interface ScrapeResult {
  scrapes: number;
  bytes: number;
  errors: number;
  elapsedMs: number;
  firstError?: string;
}

let stopped = false;
let scraping: Promise<ScrapeResult> | undefined;

function get(agent: http.Agent, url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => (response.statusCode === 200 ? resolve(bytes) : reject(new Error(`HTTP ${response.statusCode}`))));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

serveCommands({
  /** Creates `count` durable consumers named ops-0 .. ops-<count-1>, `parallel` at a time. */
  async createConsumers({ address, count, parallel }: { address: string; count: number; parallel: number }) {
    const client = serviceFor(address);
    let next = 0;
    const loop = async () => {
      while (next < count) await unaryCall(client, 'CreateConsumer', { config: { name: `ops-${next++}`, start_sequence: 0 } });
    };
    await Promise.all(Array.from({ length: parallel }, loop));
    return { created: count };
  },
  /** Starts `concurrency` loops scraping `url` until stopScraping; with `gzip`, asking for it as Prometheus does (the bytes counted are the compressed ones). */
  startScraping({ url, concurrency, gzip }: { url: string; concurrency: number; gzip: boolean }) {
    const headers: Record<string, string> = gzip ? { 'accept-encoding': 'gzip' } : {};
    stopped = false;
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const result: ScrapeResult = { scrapes: 0, bytes: 0, errors: 0, elapsedMs: 0 };
    const startedAt = wallClockMs();
    const loop = async () => {
      while (!stopped) {
        try {
          const bytes = await get(agent, url, headers); // awaited first: `+= await` would add to a stale total
          result.bytes += bytes;
          result.scrapes++;
        } catch (error) {
          result.errors++;
          result.firstError ??= (error as Error).message;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    };
    scraping = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
      agent.destroy();
      return { ...result, elapsedMs: wallClockMs() - startedAt };
    });
    return {};
  },
  async stopScraping() {
    stopped = true;
    return scraping;
  },
  /** One scrape's text. */
  scrapeOnce: ({ url }: { url: string }) => fetch(url).then((response) => response.text()),
});
