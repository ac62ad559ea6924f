// ops: another client's GetTask p99 while 32 scrapers hammer the operations endpoint's /metrics
// (each one request after another, keep-alive), against its p99 with no scrapers, on the same
// server with many durable consumers. The text is rendered at most once a second, so the scrapers
// cost the server's event loop only the HTTP answers; measured with the server's CPU share and the
// renders the scrapes took (rigger_metrics_renders_total).
import path from 'node:path';
import type { BenchConfig } from '../config';
import { forkWorker } from '../ipc';
import { BENCH_DIST, cpuShares, formatShares, freePort, startRigServer, tempProject } from '../processes';
import { formatMs, formatRate, rate, type Measurement } from '../report';
import type { ScrapeResult } from '../scraper-worker';
import { forkProducer } from '../workers';

const SCRAPERS = 32;
/** The other caller's pace: one GetTask every 2 ms. */
const SAMPLE_INTERVAL_MS = 2;

interface Sampled {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

const renders = (text: string): number => Number(/^rigger_metrics_renders_total (\d+)$/m.exec(text)?.[1] ?? NaN);

export async function opsScrapers(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const consumers = config.quick ? 200 : 1000;
  const windowMs = config.quick ? 500 : 5000;
  const port = await freePort();
  const server = await startRigServer(tempProject(), ['--http-listen', `127.0.0.1:${port}`]);
  const url = `http://127.0.0.1:${port}/metrics`;
  const sampler = forkProducer();
  const scraper = forkWorker(path.join(BENCH_DIST, 'scraper-worker.js'));
  try {
    const [taskId] = await sampler.call<string[]>('createTasks', { address: server.address, count: 1 });
    await scraper.call('createConsumers', { address: server.address, count: consumers, parallel: 64 });
    const sample = () =>
      sampler.call<Sampled>('sampleGetTask', { address: server.address, taskId, intervalMs: SAMPLE_INTERVAL_MS, durationMs: windowMs }, windowMs + 30_000);
    await sample(); // warm-up: JIT, the consumers' first listing
    const quiet = await cpuShares({ server: server.pid, scrapers: scraper.pid }, sample);

    const scrapedWindow = async (gzip: boolean): Promise<Measurement> => {
      const rendersBefore = renders(await scraper.call<string>('scrapeOnce', { url }));
      await scraper.call('startScraping', { url, concurrency: SCRAPERS, gzip });
      let busy: { result: Sampled; shares: Record<string, number> };
      let scraped: ScrapeResult;
      try {
        busy = await cpuShares({ server: server.pid, scrapers: scraper.pid }, sample);
      } finally {
        scraped = await scraper.call<ScrapeResult>('stopScraping');
      }
      const rendersAfter = renders(await scraper.call<string>('scrapeOnce', { url }));
      if (scraped.errors > 0) throw new Error(`${scraped.errors} scrapes failed: ${scraped.firstError}`);
      const scrapeRate = rate(scraped.scrapes, scraped.elapsedMs);
      // At most: the scrape after the scrapers stopped may have rendered once more.
      const rendersTaken = rendersAfter - rendersBefore;
      const ratio = quiet.result.p99 > 0 ? busy.result.p99 / quiet.result.p99 : null;
      const kbPerScrape = scraped.scrapes > 0 ? scraped.bytes / scraped.scrapes / 1024 : 0;
      const how = gzip ? 'gzip, as Prometheus asks' : 'plain text';
      const summary =
        `${formatRate(scrapeRate)} scrapes of ${kbPerScrape.toFixed(1)} KB (${how}) from ${SCRAPERS} loops, served from <= ${rendersTaken} renders in ${(scraped.elapsedMs / 1000).toFixed(1)} s; ` +
        `GetTask every ${SAMPLE_INTERVAL_MS} ms from another process, p50 ${formatMs(quiet.result.p50)} ms quiet, ${formatMs(busy.result.p50)} ms scraped, max ${formatMs(busy.result.max)} ms; ${formatShares(quiet.shares)} quiet, ${formatShares(busy.shares)} scraped`;
      log(`ops ${gzip ? 'gzip' : 'plain'}: GetTask p99 ${formatMs(quiet.result.p99)} ms quiet, ${formatMs(busy.result.p99)} ms scraped; ${summary}`);
      return {
        row: 'ops',
        case: `GetTask p99 with ${SCRAPERS} scrapers of /metrics (${gzip ? 'gzip' : 'plain'}), ${consumers} consumers`,
        rigger: `p99 ${formatMs(busy.result.p99)} ms`,
        peer: `no scrapers: p99 ${formatMs(quiet.result.p99)} ms`,
        ratio,
        target: '<= 2x no scrapers',
        met: ratio === null ? null : ratio <= 2,
        values: {
          scrapers: SCRAPERS,
          gzip: gzip ? 1 : 0,
          consumers,
          window_ms: windowMs,
          scrapes: scraped.scrapes,
          scrapes_per_s: scrapeRate,
          kb_per_scrape: kbPerScrape,
          renders: rendersTaken,
          quiet_p50_ms: quiet.result.p50,
          quiet_p99_ms: quiet.result.p99,
          quiet_samples: quiet.result.n,
          quiet_server_cpu: quiet.shares.server ?? null,
          busy_p50_ms: busy.result.p50,
          busy_p99_ms: busy.result.p99,
          busy_max_ms: busy.result.max,
          busy_samples: busy.result.n,
          busy_server_cpu: busy.shares.server ?? null,
          busy_scrapers_cpu: busy.shares.scrapers ?? null,
        },
        note: summary,
      };
    };
    return [await scrapedWindow(false), await scrapedWindow(true)];
  } finally {
    await Promise.all([sampler.kill(), scraper.kill()]);
    await server.stop();
  }
}
