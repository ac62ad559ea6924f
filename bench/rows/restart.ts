// restart: `rig grpc` from spawn to its ready line on a database of restartEvents events, after a
// clean stop (SIGTERM: the clean-stop record lets it skip quick_check) and after kill -9 (quick_check
// on a worker thread before it serves). The scale run measures the same at 1M and 10M events.
import type { BenchConfig } from '../config';
import { writeEvents } from '../prefill';
import { databaseFile, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { restartToReady } from '../restart';
import { median } from '../stats';

export async function restartRow(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  writeEvents(databaseFile(project), config.restartEvents);
  const times = await restartToReady(project, config.restartRuns);
  const clean = median(times.cleanMs);
  const killed = median(times.killMs);
  const check = median(times.checkMs);
  const events = `${config.restartEvents >= 1000 ? `${config.restartEvents / 1000}k` : config.restartEvents} events`;
  log(
    `restart ${events}: ready ${formatMs(clean)} ms after a clean stop, ${formatMs(killed)} ms after kill -9 (quick_check ${formatMs(check)} ms); runs ${times.cleanMs.map((ms) => formatMs(ms)).join(', ')} / ${times.killMs.map((ms) => formatMs(ms)).join(', ')}`,
  );
  const values = {
    events: config.restartEvents,
    runs: config.restartRuns,
    clean_ms: clean,
    kill_ms: killed,
    check_ms: check,
    clean_runs_ms: times.cleanMs.join(','),
    kill_runs_ms: times.killMs.join(','),
  };
  return [
    {
      row: 'restart',
      case: `spawn to ready after a clean stop, ${events}`,
      rigger: `${formatMs(clean)} ms`,
      peer: '',
      ratio: null,
      target: '',
      met: null,
      values,
      note: `median of ${config.restartRuns}; no quick_check (the clean-stop record)`,
    },
    {
      row: 'restart',
      case: `spawn to ready after kill -9, ${events}`,
      rigger: `${formatMs(killed)} ms`,
      peer: `clean stop ${formatMs(clean)} ms`,
      ratio: clean > 0 ? killed / clean : null,
      target: '',
      met: null,
      values,
      note: `median of ${config.restartRuns}; quick_check on a worker thread took ${formatMs(check)} ms of it`,
    },
  ];
}
