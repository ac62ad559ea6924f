// Sizes of the scale run (`npm run bench -- --scale`): the full run (within the time budget that
// bench/README.md states) and --quick (seconds: the bench's own test checks the harness with it).
export interface ScaleConfig {
  quick: boolean;
  /** Task counts prefilled (one CREATED event each); each database also gives the log curve a point. */
  taskSizes: number[];
  /** Further log sizes measured on the log curves only, prefilled once and then copied from bench/results/cache. */
  logOnlySizes: number[];
  /** ListTasks calls timed one at a time per case, and the most time a case may take. */
  listCalls: number;
  listMs: number;
  /** The deep page: this fraction of the list lies before it. */
  deepFraction: number;
  /** Tasks per page while walking to the deep page with page tokens. */
  walkPageLimit: number;
  /** Times a subscriber reaches live per filter and size (after one uncounted run); the median is reported. */
  liveRuns: number;
  liveTimeoutMs: number;
  /** Events of the unfiltered catch-up from sequence 0 (at most the log's size). */
  catchUpEvents: number;
  addTaskMs: number;
  addTaskConcurrency: number;
  /** The concurrent writer of the compaction case: AddTask at this steady rate. */
  writerRate: number;
  writerBaselineMs: number;
  /** Compaction deletes this fraction of the log (the oldest events), at most compactMaxEvents. */
  compactFraction: number;
  compactMaxEvents: number;
  /** Idle streams held open, from streamProcesses client processes, at most streamsPerConnection a connection. */
  streamSizes: number[];
  streamProcesses: number;
  streamsPerConnection: number;
  fanOutRounds: number;
  consumerEvents: number;
  consumerMembers: number[];
  /** Restarts timed after a clean stop and after kill -9, per database (bench/restart.ts). */
  restartRuns: number;
  /** The NATS cluster part: prefilled events through the bridge and the R3 stream, then AddTask at each of natsRates/s for natsLatencyMs. */
  natsEvents: number;
  natsRates: number[];
  natsLatencyMs: number;
}

export function scaleConfigFor(quick: boolean): ScaleConfig {
  return quick
    ? {
        quick,
        taskSizes: [1000, 4000],
        logOnlySizes: [],
        listCalls: 20,
        listMs: 500,
        deepFraction: 0.5,
        walkPageLimit: 1000,
        liveRuns: 1,
        liveTimeoutMs: 30_000,
        catchUpEvents: 2000,
        addTaskMs: 300,
        addTaskConcurrency: 16,
        writerRate: 100,
        writerBaselineMs: 500,
        compactFraction: 0.1,
        compactMaxEvents: 100_000,
        streamSizes: [10, 40],
        streamProcesses: 2,
        streamsPerConnection: 20,
        fanOutRounds: 2,
        consumerEvents: 1000,
        consumerMembers: [1, 2],
        restartRuns: 1,
        natsEvents: 1000,
        natsRates: [200],
        natsLatencyMs: 1000,
      }
    : {
        quick,
        taskSizes: [10_000, 100_000, 1_000_000],
        logOnlySizes: [10_000_000],
        listCalls: 200,
        listMs: 3000,
        deepFraction: 0.5,
        walkPageLimit: 1000,
        liveRuns: 3,
        liveTimeoutMs: 120_000,
        catchUpEvents: 200_000,
        addTaskMs: 2000,
        addTaskConcurrency: 64,
        writerRate: 200,
        writerBaselineMs: 3000,
        compactFraction: 0.1,
        compactMaxEvents: 100_000,
        streamSizes: [100, 1000, 10_000],
        streamProcesses: 4,
        streamsPerConnection: 500,
        fanOutRounds: 3,
        consumerEvents: 50_000,
        consumerMembers: [1, 2, 4],
        restartRuns: 3,
        natsEvents: 20_000,
        natsRates: [200, 500, 1000],
        natsLatencyMs: 10_000,
      };
}
