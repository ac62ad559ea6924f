// Sizes of every row: the full run (a few minutes) and --quick (the smoke test's harness check).
export interface BenchConfig {
  quick: boolean;
  /** Write a V8 CPU profile of the hub server during the fan-out row into this directory. */
  profileDir: string | undefined;
  warmupMs: number;
  windowMs: number;
  fanOutSubscribers: number[];
  producerConcurrency: number;
  /** AddTask writes in flight on the fan-out row's one WriteTasks stream. */
  producerInFlight: number;
  replayEvents: number;
  replaySubscribers: number;
  latencyRate: number;
  latencySubscribers: number;
  /** Load at the latency rate before the measured window (a fresh server's JIT and heap warm-up). */
  latencyWarmupMs: number;
  latencyMs: number;
  unaryConcurrency: number;
  unaryMs: number;
  catchUpEvents: number;
  /** Events of an uncounted catch-up on the just-started server before the measured one (JIT warm-up). */
  catchUpWarmupEvents: number;
  stalledBaselineEvents: number;
  stalledEvents: number;
  stalledOthers: number;
  crossProcessWrites: number;
  /** TaskEventStream updates of the flood row, and how long the other caller samples GetTask before it. */
  floodUpdates: number;
  floodQuietMs: number;
  /** How long the flood may take to be applied before the row fails. */
  floodTimeoutMs: number;
  /** Prefilled events each consumer group (and the plain subscriber it is compared with) reads. */
  consumerEvents: number;
  /** Members of each consumer group measured. */
  consumerMembers: number[];
  /** Acks timed one at a time for the ack round trip. */
  consumerAckRoundTrips: number;
  /** Writes of the store-alone row (a quarter more before them, uncounted). */
  storeWrites: number;
  /** Bytes of each message the peers (JetStream, Redis, etcd) write and deliver: about a task event's size. */
  peerPayloadBytes: number;
  /** The crash-loop row: writers, each window (no kills, then kills), and the kill interval. */
  crashLoopWriters: number;
  crashLoopMs: number;
  crashLoopKillEveryMs: number;
  /** The restart row: events in the database, and restarts timed after each kind of stop. */
  restartEvents: number;
  restartRuns: number;
}

export function configFor(quick: boolean, profileDir: string | undefined): BenchConfig {
  return quick
    ? {
        quick,
        profileDir,
        warmupMs: 100,
        windowMs: 250,
        fanOutSubscribers: [1, 10],
        producerConcurrency: 8,
        producerInFlight: 64,
        replayEvents: 1000,
        replaySubscribers: 10,
        latencyRate: 1000,
        latencySubscribers: 10,
        latencyWarmupMs: 150,
        latencyMs: 250,
        unaryConcurrency: 64,
        unaryMs: 150,
        catchUpEvents: 3000,
        catchUpWarmupEvents: 500,
        stalledBaselineEvents: 2000,
        stalledEvents: 5000,
        stalledOthers: 5,
        crossProcessWrites: 2,
        floodUpdates: 2000,
        floodQuietMs: 250,
        floodTimeoutMs: 60_000,
        consumerEvents: 2000,
        consumerMembers: [1, 2, 4],
        consumerAckRoundTrips: 200,
        storeWrites: 4000,
        peerPayloadBytes: 265,
        crashLoopWriters: 6,
        crashLoopMs: 1500,
        crashLoopKillEveryMs: 1000,
        restartEvents: 1000,
        restartRuns: 1,
      }
    : {
        quick,
        profileDir,
        warmupMs: 1000,
        windowMs: 3000,
        fanOutSubscribers: [1, 10, 100],
        producerConcurrency: 16,
        producerInFlight: 256,
        replayEvents: 5000,
        replaySubscribers: 100,
        latencyRate: 1000,
        latencySubscribers: 100,
        latencyWarmupMs: 5000,
        latencyMs: 5000,
        unaryConcurrency: 64,
        unaryMs: 3000,
        catchUpEvents: 100_000,
        catchUpWarmupEvents: 20_000,
        stalledBaselineEvents: 100_000,
        stalledEvents: 1_000_000,
        stalledOthers: 4,
        crossProcessWrites: 50,
        floodUpdates: 200_000,
        floodQuietMs: 10_000,
        floodTimeoutMs: 400_000,
        consumerEvents: 50_000,
        consumerMembers: [1, 2, 4],
        consumerAckRoundTrips: 2000,
        storeWrites: 100_000,
        peerPayloadBytes: 265,
        crashLoopWriters: 6,
        crashLoopMs: 60_000,
        crashLoopKillEveryMs: 2000,
        restartEvents: 10_000,
        restartRuns: 3,
      };
}
