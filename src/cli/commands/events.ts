import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../client/connect';
import { connectionTarget, diagnoseConnectionFailure, isConnectionFailure } from '../../client/connection-failure';
import { DEAD_AFTER_INTERVALS, SilenceWatch } from '../../client/silence-watch';
import type { TaskEvent as WireTaskEvent } from '../../generated/rigger/v1/TaskEvent';
import { isLoggedEventType, TaskEventType, type TaskEvent } from '../../model/task';
import { LOG_ID_HEADER, POSITION_HEADER } from '../../protocol/metadata';
import type { CommandBody, GlobalArgs } from '../command-body';
import { onBrokenPipe } from '../broken-pipe';
import { eventForDisplay, formatEventLine, printJson } from '../output';
import { clientConnection, clientProject, connectionOptions } from '../../config/client-connection';
import { subscribeOptionsOf, subscriptionFlags, type SubscriptionArgs } from '../../config/subscription-flags';

type EventsArgs = GlobalArgs & SubscriptionArgs & { 'since-log'?: string };

// One line per event, and only events: a bookmark (asked for by default, --bookmark-interval-ms)
// prints nothing in either format. It moves the `--since` that a failure names, so a filtered
// stream's resume point keeps up with the head, and it is the heartbeat: a stream that has shown
// it sends bookmarks and then hears nothing for 2.5 intervals is on a dead connection, and ends
// with the same resume hint rather than hanging.
export const eventsCommand: CommandBody<EventsArgs> = {
  builder: (yargs) =>
    subscriptionFlags(yargs.options(connectionOptions()), 'replay every event after this sequence first (0 = all history)', false)
      .option('since-log', { type: 'string', describe: "the log id --since is of (each --json line's log_id); refused, not reused, after a restore past it" })
      .example('$0 events', 'every change from now on, one line each')
      .example('$0 events --since 0 --types created,status_changed --json', 'those types, from the start of the log, as JSON lines')
      .example('$0 events --address build-host:50051 --server-ca ca.pem --assignee Alice', "Alice's tasks, from a TLS server on another machine"),
  handler: async (argv) => {
    const filter = subscribeOptionsOf(argv);
    const project = clientProject(argv.C ?? '.', argv as unknown as Record<string, unknown>);
    const { address, connect } = clientConnection(project, argv as unknown as Record<string, unknown>);
    const client = connectService(address, { ...connect, clientName: `rig-events/${process.pid}` });
    const call = client.SubscribeToTaskEvents({
      event_types: filter.eventTypes,
      statuses: filter.statuses,
      task_ids: [...(filter.taskIds ?? [])],
      ...(filter.assignee !== undefined && { assignee_filter: filter.assignee }),
      ...(filter.sinceSequence !== undefined && { since_sequence: filter.sinceSequence }),
      ...(argv['since-log'] !== undefined && { since_log_id: argv['since-log'] }),
      ...(filter.bookmarkIntervalMs > 0 && { bookmark_interval_ms: filter.bookmarkIntervalMs }),
    });
    const stop = () => call.cancel();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // The reader of stdout has gone (rig events | head -2): end the stream, exit 0.
    onBrokenPipe(stop);
    let subscribed = false;
    let lastSequence = argv.since;
    let logId = argv['since-log'];
    const resumeHint = () => (lastSequence === undefined ? '' : `; resume with --since ${lastSequence}${logId === undefined ? '' : ` --since-log ${logId}`}`);
    let watch: SilenceWatch | undefined;
    await new Promise<void>((resolve, reject) => {
      const dead = (silentMs: number) => {
        call.cancel();
        reject(
          new Error(
            `no message from the server at ${address} for ${silentMs} ms (bookmarks every ${filter.bookmarkIntervalMs} ms): the connection looks dead${resumeHint()}`,
          ),
        );
      };
      call.once('metadata', (metadata: grpc.Metadata) => {
        subscribed = true;
        watch?.touch();
        // The sequence the stream starts after: a resume point even before the first event.
        const position = Number(metadata.get(POSITION_HEADER)[0]);
        const header = metadata.get(LOG_ID_HEADER)[0];
        if (typeof header === 'string') logId = header;
        if (lastSequence === undefined && Number.isInteger(position)) lastSequence = position;
      });
      call.on('data', (wire: WireTaskEvent) => {
        const event = wire as unknown as TaskEvent;
        watch?.touch();
        if (event.event_type === TaskEventType.BOOKMARK) {
          if (lastSequence === undefined || event.sequence > lastSequence) lastSequence = event.sequence;
          // The server honours bookmarks: from now on silence means a dead connection.
          if (!watch && filter.bookmarkIntervalMs > 0) (watch = new SilenceWatch(filter.bookmarkIntervalMs * DEAD_AFTER_INTERVALS, dead)).start();
          return;
        }
        if (!isLoggedEventType(event.event_type)) return;
        lastSequence = event.sequence;
        if (logId !== undefined) event.log_id = logId;
        if (argv.json) printJson(eventForDisplay(event));
        else process.stdout.write(`${formatEventLine(event)}\n`);
      });
      call.on('error', (error: grpc.ServiceError) => {
        if (error.code === grpc.status.CANCELLED) resolve();
        else if (!subscribed && isConnectionFailure(error))
          reject(error); // described below
        else if (error.code === grpc.status.UNAVAILABLE) reject(new Error(`the server at ${address} ended the stream: ${error.details}${resumeHint()}`));
        else reject(new Error(error.details));
      });
      call.on('end', resolve);
    })
      .catch(async (error: unknown) => {
        // Only a failure to connect is rejected with the grpc-js error itself.
        const failure = error as grpc.ServiceError;
        if (typeof failure.code === 'number') throw new Error((await diagnoseConnectionFailure(failure, connectionTarget(address, connect))).message);
        throw error;
      })
      .finally(() => {
        watch?.stop();
        client.close();
      });
  },
};
