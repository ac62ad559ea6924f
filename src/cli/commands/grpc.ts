import type * as GrpcServerModule from '../../grpc/server';
import type * as HubServerModule from '../../hub-server';
import { startBackgroundCheck } from '../../store/background-check';
import { DEFAULT_LOG_WATCH } from '../../store/log-watcher';
import { createLogger } from '../../logging';
import { RiggerError } from '../../model/errors';
import type { CommandBody, GlobalArgs } from '../command-body';
import { prdConfigOf, PRD_SETTINGS } from '../prd-settings';
import { printWarning } from '../../config/command-line';
import { filesOpenToOthers, findProject, type Project } from '../../config/project';
import { isLoopback, resolveAuth, resolveHttpToken, resolveLimits, resolveServerTls } from '../security-settings';
import { openProjectStore } from '../project-store';
import { logSettings, parseListenAddress, resolveSetting, settingOptions } from '../../config/settings';

export const grpcCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) =>
    yargs
      .options(
        settingOptions(
          'port',
          'host',
          'db',
          'bufferSize',
          'retainEvents',
          'retainDays',
          'compactIntervalMs',
          'consumerMaxLag',
          'consumerMaxHeldBytes',
          'maxConsumers',
          'consumerMaxFilterBytes',
          'token',
          'readOnlyToken',
          'publicServices',
          'tlsCert',
          'tlsKey',
          'tlsCa',
          'maxRequestBytes',
          'maxConcurrentStreams',
          'maxSubscribers',
          'maxSubscribersPerConnection',
          'maxHealthWatchers',
          'keepaliveTimeMs',
          'keepaliveTimeoutMs',
          'consumerMemberStallMs',
          'maxWritesInFlight',
          'busyTimeoutMs',
          'durability',
          'storeWriter',
          'httpListen',
          'httpToken',
          'logLevel',
          'logFormat',
          ...PRD_SETTINGS,
        ),
      )
      .example('$0 grpc', 'serve on localhost:50051 (127.0.0.1 and ::1)')
      .example('$0 grpc --port 0 --http-listen 127.0.0.1:9465', 'any free port; /metrics, /healthz and /readyz on 9465')
      .example('RIGGER_LOG_FORMAT=pretty $0 grpc', 'logs for a person instead of JSON lines'),
  handler: async (argv) => {
    const project = findProject(argv.C ?? '.');
    const args = argv as unknown as Record<string, unknown>;
    const port = resolveSetting('port', args, project.config);
    const host = resolveSetting('host', args, project.config);
    const bufferSize = resolveSetting('bufferSize', args, project.config);
    const retention = {
      events: resolveSetting('retainEvents', args, project.config),
      days: resolveSetting('retainDays', args, project.config),
    };
    const auth = resolveAuth(project, args);
    const tls = resolveServerTls(project, args);
    const limits = resolveLimits(project, args);
    const httpListenText = resolveSetting('httpListen', args, project.config);
    const httpListen = httpListenText === '' ? undefined : parseListenAddress(httpListenText);
    const httpToken = resolveHttpToken(project, args);
    const logger = createLogger(logSettings(args, project.config));
    if (!isLoopback(host) && (auth.tokens.length === 0 || !tls)) {
      printWarning(
        `binding ${host}, reachable from other machines, without ${auth.tokens.length === 0 ? 'a token (anyone who can connect can read and change every task)' : 'TLS (tokens and tasks cross the network in clear text)'}; set --token and --tls-cert/--tls-key`,
      );
    }
    if (httpListen && !isLoopback(httpListen.host) && !httpToken) {
      printWarning(
        `the operations endpoint binds ${httpListen.host}, reachable from other machines, without --http-token: anyone who can connect can read /metrics (consumer names, call counts) and load the server by scraping; set --http-token`,
      );
    }
    // quick_check unless a clean stop left the file as it is (docs/operations.md#start-up-checks).
    const { store, file: dbFile } = openProjectStore(project, args, 'unless-clean-stop');
    // After a crash the check starts now, on its worker, while this thread loads the server's modules.
    const owed = store.fullCheckOwed;
    const check = owed && startBackgroundCheck(store.db.name, owed.reason, owed.readAheadFd);
    const { PortInUseError } = require('../../grpc/server') as typeof GrpcServerModule;
    const { startHubServer } = require('../../hub-server') as typeof HubServerModule;
    const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
    // grpc-js writes its own diagnostics to stderr ("E No address added ..." next to our one-line
    // port-in-use message); they go to the JSON log instead, at debug level.
    const grpcLog = (message?: unknown, ...rest: unknown[]) => logger.debug({ grpc: [message, ...rest].join(' ') }, 'grpc-js');
    grpc.setLogger({ error: grpcLog, info: grpcLog, debug: grpcLog });
    let server;
    try {
      server = await startHubServer(
        store,
        {
          projectDir: project.dir,
          ...(host !== '' && { host }),
          port,
          bufferSize,
          retention,
          logWatch: DEFAULT_LOG_WATCH,
          compactIntervalMs: resolveSetting('compactIntervalMs', args, project.config),
          shutdownGraceMs: 5_000,
          busyTimeoutMs: resolveSetting('busyTimeoutMs', args, project.config),
          storeWriter: resolveSetting('storeWriter', args, project.config),
          consumerMaxLag: resolveSetting('consumerMaxLag', args, project.config),
          consumerMaxHeldBytes: resolveSetting('consumerMaxHeldBytes', args, project.config),
          maxConsumers: resolveSetting('maxConsumers', args, project.config),
          consumerMaxFilterBytes: resolveSetting('consumerMaxFilterBytes', args, project.config),
          prd: prdConfigOf(project, args),
          auth,
          ...(tls && { tls }),
          limits,
          ...(httpListen && { httpListen }),
          ...(httpToken && { httpToken }),
          ...(check && { owedCheck: check }),
        },
        logger,
      );
    } catch (error) {
      if (error instanceof PortInUseError) throw new RiggerError('unavailable', error.message);
      throw error;
    }
    const running = server;
    warnIfOpenToOthers(project, dbFile);
    // Handlers go in before the ready line: a supervisor may signal as soon as it reads it. They
    // stay installed, so a repeated signal cannot kill the process mid-shutdown (the grace period bounds it).
    const stopped = new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        logger.info({ signal }, stopping ? 'already shutting down' : 'shutting down');
        if (stopping) return;
        stopping = true;
        void running.shutdown().then(resolve);
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
    const addresses = server.addresses.join(', ');
    process.stdout.write(
      [
        'Rigger task-event hub',
        `  protocol:          gRPC over HTTP/2, ${tls ? (tls.ca ? 'TLS, client certificates required' : 'TLS') : 'plaintext'}`,
        `  authentication:    ${auth.tokens.length === 0 ? 'none' : `bearer token (${auth.tokens.length} configured)`}`,
        `  address:           ${addresses}`,
        `  database:          ${dbFile}`,
        `  broadcast buffer:  ${bufferSize} events`,
        `  retention:         ${retention.events || 'unlimited'} events${retention.days ? `, ${retention.days} days` : ''}`,
        ...(server.opsUrl ? [`  operations:        ${server.opsUrl}/metrics, /healthz, /readyz`] : []),
        `ready: listening on port ${server.port} (${addresses})`,
        '',
      ].join('\n'),
    );
    logger.info(
      { addresses: server.addresses, database: dbFile, buffer_size: bufferSize, ...(server.opsUrl && { operations_url: server.opsUrl }) },
      'server listening',
    );

    await stopped;
    logger.info('stopped');
    // The store is closed: everything acknowledged is on disk. Exit now rather than when the event
    // loop empties: Node's http2 ends a destroyed session's socket only once its queued writes have
    // drained, so a client that stopped reading would otherwise keep the process alive for good.
    process.exit(0);
  },
};

/** Says once, at start, which of the project's files other users can get at; leaves them as they are (docs/security.md). */
function warnIfOpenToOthers(project: Project, dbFile: string): void {
  const files = filesOpenToOthers(project.riggerDir, dbFile, project.config);
  if (files.length === 0) return;
  const dirs = files.filter((f) => f.isDirectory).map((f) => f.path);
  const plain = files.filter((f) => !f.isDirectory).map((f) => f.path);
  const chmod = [...(dirs.length ? [`chmod 700 ${dirs.join(' ')}`] : []), ...(plain.length ? [`chmod 600 ${plain.join(' ')}`] : [])].join('; ');
  const named = files.map((f) => `${f.path} (mode ${f.mode})`).join(', ');
  printWarning(
    `other users can get at the project's files ${named} (tasks, tokens in config.json); rig leaves modes as they are: to make them private run ${chmod}`,
  );
}
