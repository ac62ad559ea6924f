// The logger sidecar: one JSON line (pino) per task event, to stdout or a file. With --file it is
// exactly-once across crashes: on start it reads the last sequence the file holds and resumes
// after it (a torn last line, from a crash mid-write, is cut off and that event written again).
// Each line carries the log identity of its sequence (log_id), so after a restore of the server's
// log the logger is told where the logs parted and goes on from there (shared.ts continueAfterRestore).
// With --consumer the server keeps the position instead, and delivery is at least once.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { Subscription } from 'rxjs';
import { readCheckpoint } from '../src/client/checkpoint';
import { furthestResumePoint, LEGACY_LOG_ID, type LogPosition } from '../src/model/log-lineage';
import type { TaskEvent } from '../src/model/task';
import { eventSummary } from './event-json';
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import {
  connect,
  consumeOptionsOf,
  continueAfterRestore,
  logStatus,
  runStandalone,
  runUntilStopped,
  sidecarFlags,
  sidecarLogger,
  sidecarOptions,
  type SidecarArgs,
  type SidecarOptions,
} from './shared';

interface LoggerOptions extends SidecarOptions {
  /** Append to this file instead of writing to stdout. */
  file?: string;
}

/** The fields of one log line. */
function eventLine(event: TaskEvent): Record<string, unknown> {
  return {
    ...eventSummary(event),
    changed_fields: event.changed_fields,
    event_id: event.event_id,
    ...(event.log_id !== undefined && { log_id: event.log_id }),
  };
}

/** The position of the last complete line of `file` (a line without log_id: LEGACY_LOG_ID); a torn last line is removed. */
function lastPositionInFile(file: string): LogPosition | undefined {
  if (!fs.existsSync(file)) return undefined;
  const size = fs.statSync(file).size;
  if (size === 0) return undefined;
  const fd = fs.openSync(file, 'r+');
  try {
    const tailSize = Math.min(size, 64 * 1024);
    const tail = Buffer.alloc(tailSize);
    fs.readSync(fd, tail, 0, tailSize, size - tailSize);
    let text = tail.toString('utf8');
    if (!text.endsWith('\n')) {
      const cut = text.lastIndexOf('\n') + 1;
      fs.ftruncateSync(fd, size - Buffer.byteLength(text.slice(cut)));
      text = text.slice(0, cut);
    }
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        const { sequence, log_id: logId } = JSON.parse(lines[i]!) as { sequence?: unknown; log_id?: unknown };
        if (typeof sequence === 'number') return { sequence, logId: typeof logId === 'string' ? logId : LEGACY_LOG_ID };
      } catch {
        // the first line of the tail window may be cut; look further up
      }
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

async function runLogger(options: LoggerOptions): Promise<void> {
  const logger = sidecarLogger('logger', options);
  const inFile = options.file === undefined ? undefined : lastPositionInFile(options.file);
  const checkpointed = options.subscription.checkpoint === undefined ? undefined : readCheckpoint(options.subscription.checkpoint);
  const since = options.subscription.sinceSequence;
  // The furthest of the file's last line, the checkpoint and --since (a sequence of the server's log now).
  const resumeAfter = furthestResumePoint(inFile, checkpointed, since === undefined ? undefined : { sequence: since });
  const destination = pino.destination(options.file === undefined ? { fd: 1, sync: true } : { dest: options.file, append: true, mkdir: true, sync: true });
  const out = pino({ base: null, messageKey: 'msg' }, destination);

  const client = connect(options, 'logger');
  let subscription: Subscription | undefined;
  const failed = new Promise<never>((_, reject) => {
    if (options.consumer !== undefined) {
      // At least once: a line is written, then acked; a crash between the two writes it again.
      subscription = client.consume$(options.consumer, consumeOptionsOf(options, logger)).subscribe({
        next: (delivery) => {
          out.info(eventLine(delivery.event), 'task event');
          delivery.ack().catch(() => undefined); // unconfirmed: delivered again, written again
        },
        error: reject,
      });
      return;
    }
    subscription = client
      .subscribe({
        ...options.subscription,
        ...(resumeAfter !== undefined && { sinceSequence: resumeAfter.sequence, ...(resumeAfter.logId !== undefined && { sinceLogId: resumeAfter.logId }) }),
        ...continueAfterRestore(logger),
        onStatus: logStatus(logger),
      })
      .subscribe({ next: (event) => out.info(eventLine(event), 'task event'), error: reject });
  });
  logger.info(
    {
      address: client.address,
      file: options.file ?? 'stdout',
      ...(options.consumer !== undefined
        ? { consumer: options.consumer }
        : { resume_after: resumeAfter?.sequence ?? 'live', ...(resumeAfter?.logId !== undefined && { resume_log_id: resumeAfter.logId }) }),
    },
    'logger started',
  );
  await runUntilStopped(
    logger,
    failed,
    async () => {
      subscription?.unsubscribe();
      await client.close();
      destination.flushSync();
    },
    options.subscription.checkpoint,
  );
}

export const loggerCommand: CommandModule<CommonArgs, SidecarArgs & { file?: string }> = {
  command: 'logger',
  describe: 'One JSON line per task event, to stdout or --file',
  builder: (yargs) =>
    sidecarFlags(yargs, true)
      .option('file', { type: 'string', describe: 'append to this file (resumes after its last line on restart); default stdout' })
      .example('$0 sidecar logger --file events.jsonl', 'one JSON line per event, resumed after a restart')
      .example('$0 sidecar logger --types created,status_changed --since 0', 'those types only, from the start of the log'),
  handler: (argv) => runLogger({ ...sidecarOptions(argv, true), ...(argv.file !== undefined && { file: path.resolve(argv.file) }) }),
};

if (require.main === module) runStandalone(loggerCommand);
