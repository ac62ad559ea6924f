// Every setting, in one table: its flag, environment variable, config.json key and default.
// Precedence: flag > environment > .rigger/config.json > default. docs/configuration.md shows this table (scripts/settings-table.js --write).
import path from 'node:path';
import { invalidArgument } from '../model/errors';
import { DB_FILE, type Project } from './project';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/** Turns a flag, environment or config.json text into a value; throws invalid_argument naming `source`. */
type Parser<T> = ((text: string, source: string) => T) & {
  /** What it accepts, for --help and the docs' table. */
  readonly accepts: string;
  /** Whether values are numbers (shown as such in --help). */
  readonly numeric: boolean;
};

interface Setting<T> {
  flag: string;
  env: string;
  key: string;
  defaultValue: T;
  parse: Parser<T>;
  describe: string;
}

const parser = <T>(accepts: string, parse: (text: string, source: string) => T, numeric = false): Parser<T> => Object.assign(parse, { accepts, numeric });
const bound = (n: number) => (n === Number.MAX_SAFE_INTEGER ? '2^53-1' : String(n));

const integer = (min: number, max: number) =>
  parser(
    `whole number ${bound(min)} to ${bound(max)}`,
    (text, source) => {
      const value = Number(text);
      if (!Number.isInteger(value) || value < min || value > max) {
        throw invalidArgument(`${source} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
      }
      return value;
    },
    true,
  );
const decimal = (min: number, max: number) =>
  parser(
    `number ${bound(min)} to ${bound(max)}`,
    (text, source) => {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
        throw invalidArgument(`${source} must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
      }
      return value;
    },
    true,
  );
const text = parser('text', (value) => value);
const oneOf = <T extends string>(...allowed: T[]) => {
  const accepts = allowed.length === 2 ? allowed.join(' or ') : `one of ${allowed.join(', ')}`;
  return parser(accepts, (value, source): T => {
    if (!(allowed as string[]).includes(value)) throw invalidArgument(`${source} must be ${accepts}, got ${JSON.stringify(value)}`);
    return value as T;
  });
};
const httpUrl = parser('http(s) URL', (value, source) => {
  if (!/^https?:\/\/[^\s/]+/.test(value)) throw invalidArgument(`${source} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  return value;
});

/** HOST:PORT, [IPv6]:PORT, or a bare PORT (or :PORT), which means 127.0.0.1; port 0 = any free port. */
export interface ListenAddress {
  host: string;
  port: number;
}
const hostPort = parser('HOST:PORT, [IPv6]:PORT or PORT', (value, source) => {
  parseListenAddress(value, source);
  return value;
});
/** Parses a --http-listen value (see hostPort); throws invalid_argument with one line. */
export function parseListenAddress(value: string, source = '--http-listen'): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]*)):(\d{1,5})$|^(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3] ?? match?.[4]);
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw invalidArgument(`${source} must be HOST:PORT, [IPv6]:PORT or PORT (e.g. 127.0.0.1:9465; port 0 = any free port), got ${JSON.stringify(value)}`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

// One setting per line: the table reads as a table (formatted, each row would take six).
// prettier-ignore
export const SETTINGS = {
  port: { flag: 'port', env: 'RIGGER_PORT', key: 'port', defaultValue: 50051, parse: integer(0, 65535), describe: 'TCP port to serve on (0 = any free port)' },
  host: { flag: 'host', env: 'RIGGER_HOST', key: 'host', defaultValue: '', parse: text, describe: 'address to bind; default both ::1 and 127.0.0.1' },
  db: { flag: 'db', env: 'RIGGER_DB', key: 'db', defaultValue: '', parse: text, describe: 'SQLite database file; default .rigger/tasks.db' },
  bufferSize: { flag: 'buffer-size', env: 'RIGGER_BUFFER_SIZE', key: 'bufferSize', defaultValue: 1000, parse: integer(1, 10_000_000), describe: 'events kept in memory for fast resume (replay buffer)' },
  retainEvents: { flag: 'retain-events', env: 'RIGGER_RETAIN_EVENTS', key: 'retainEvents', defaultValue: 100_000, parse: integer(0, Number.MAX_SAFE_INTEGER), describe: 'events kept in the log (0 = no count limit)' },
  retainDays: { flag: 'retain-days', env: 'RIGGER_RETAIN_DAYS', key: 'retainDays', defaultValue: 0, parse: decimal(0, 36500), describe: 'days of events kept in the log (0 = no age limit; fractions allowed, e.g. 0.5)' },
  consumerMaxLag: { flag: 'consumer-max-lag', env: 'RIGGER_CONSUMER_MAX_LAG', key: 'consumerMaxLag', defaultValue: 1_000_000, parse: integer(0, Number.MAX_SAFE_INTEGER), describe: 'a durable consumer holds back compaction of the events it has not acked up to this many events behind the head; further behind it is marked lost (0 = no bound)' },
  consumerMaxHeldBytes: { flag: 'consumer-max-held-bytes', env: 'RIGGER_CONSUMER_MAX_HELD_BYTES', key: 'consumerMaxHeldBytes', defaultValue: 1024 * 1024 * 1024, parse: integer(0, Number.MAX_SAFE_INTEGER), describe: 'a durable consumer holds back compaction of the events it has not acked up to this many bytes of them; past it the consumer is marked lost (0 = no bound)' },
  maxConsumers: { flag: 'max-consumers', env: 'RIGGER_MAX_CONSUMERS', key: 'maxConsumers', defaultValue: 1000, parse: integer(1, 1_000_000), describe: 'durable consumers that may exist at once; creating one more gets RESOURCE_EXHAUSTED' },
  consumerMaxFilterBytes: { flag: 'consumer-max-filter-bytes', env: 'RIGGER_CONSUMER_MAX_FILTER_BYTES', key: 'consumerMaxFilterBytes', defaultValue: 64 * 1024, parse: integer(1024, 1024 * 1024), describe: 'the largest filter a new durable consumer may have, in bytes of its stored JSON; larger gets INVALID_ARGUMENT' },
  compactIntervalMs: { flag: 'compact-interval-ms', env: 'RIGGER_COMPACT_INTERVAL_MS', key: 'compactIntervalMs', defaultValue: 1000, parse: integer(10, 86_400_000), describe: 'how often the event log is trimmed to its retention, in ms' },
  httpListen: { flag: 'http-listen', env: 'RIGGER_HTTP_LISTEN', key: 'httpListen', defaultValue: '', parse: hostPort, describe: 'rig grpc: serve /metrics, /healthz and /readyz over HTTP on HOST:PORT (a bare PORT binds 127.0.0.1; port 0 = any free port); off when unset' },
  httpToken: { flag: 'http-token', env: 'RIGGER_HTTP_TOKEN', key: 'httpToken', defaultValue: '', parse: text, describe: 'rig grpc: /metrics of --http-listen answers 401 without the header "Authorization: Bearer TOKEN" (/healthz and /readyz stay open for probes); none when unset' },
  address: { flag: 'address', env: 'RIGGER_ADDRESS', key: 'address', defaultValue: '', parse: text, describe: 'server address for client commands; default localhost:<port>' },
  token: { flag: 'token', env: 'RIGGER_TOKEN', key: 'token', defaultValue: '', parse: text, describe: 'bearer token: the server accepts it (read-write), client commands send it' },
  readOnlyToken: { flag: 'read-only-token', env: 'RIGGER_READ_ONLY_TOKEN', key: 'readOnlyToken', defaultValue: '', parse: text, describe: 'an extra token the server accepts for list, get and subscribe only' },
  publicServices: { flag: 'public-services', env: 'RIGGER_PUBLIC_SERVICES', key: 'publicServices', defaultValue: 'health,reflection', parse: text, describe: 'services callable without a token when tokens are set (comma list of health,reflection; "none" for neither)' },
  tlsCert: { flag: 'tls-cert', env: 'RIGGER_TLS_CERT', key: 'tlsCert', defaultValue: '', parse: text, describe: 'server certificate (PEM file); with --tls-key serves TLS' },
  tlsKey: { flag: 'tls-key', env: 'RIGGER_TLS_KEY', key: 'tlsKey', defaultValue: '', parse: text, describe: 'private key of --tls-cert (PEM file)' },
  tlsCa: { flag: 'tls-ca', env: 'RIGGER_TLS_CA', key: 'tlsCa', defaultValue: '', parse: text, describe: 'CA (PEM file) that must have signed every client certificate (mTLS)' },
  serverCa: { flag: 'server-ca', env: 'RIGGER_SERVER_CA', key: 'serverCa', defaultValue: '', parse: text, describe: 'client commands: connect with TLS, trusting this CA or self-signed certificate (PEM file)' },
  clientCert: { flag: 'client-cert', env: 'RIGGER_CLIENT_CERT', key: 'clientCert', defaultValue: '', parse: text, describe: 'client commands: certificate to present for mTLS (PEM file)' },
  clientKey: { flag: 'client-key', env: 'RIGGER_CLIENT_KEY', key: 'clientKey', defaultValue: '', parse: text, describe: 'client commands: private key of --client-cert (PEM file)' },
  project: { flag: 'project', env: 'RIGGER_PROJECT', key: 'project', defaultValue: '', parse: text, describe: 'NATS bridge and nats-commands: the project name in NATS subjects (rigger.<project>.…), one NATS subject token (letters, digits, - and _); default the project directory\'s name' },
  webhookSecret: { flag: 'secret', env: 'RIGGER_WEBHOOK_SECRET', key: 'webhookSecret', defaultValue: '', parse: text, describe: 'webhook sidecar: the Standard Webhooks signing secret(s), whsec_<base64>; several, space-separated, sign with each (rotation)' },
  maxRequestBytes: { flag: 'max-request-bytes', env: 'RIGGER_MAX_REQUEST_BYTES', key: 'maxRequestBytes', defaultValue: 4 * 1024 * 1024, parse: integer(1024, 1024 * 1024 * 1024), describe: 'largest request message accepted, in bytes' },
  maxConcurrentStreams: { flag: 'max-concurrent-streams', env: 'RIGGER_MAX_CONCURRENT_STREAMS', key: 'maxConcurrentStreams', defaultValue: 1000, parse: integer(1, 1_000_000), describe: 'concurrent calls one connection may have open' },
  maxSubscribers: { flag: 'max-subscribers', env: 'RIGGER_MAX_SUBSCRIBERS', key: 'maxSubscribers', defaultValue: 10_000, parse: integer(1, 10_000_000), describe: 'event streams open at once; more get RESOURCE_EXHAUSTED' },
  maxSubscribersPerConnection: { flag: 'max-subscribers-per-connection', env: 'RIGGER_MAX_SUBSCRIBERS_PER_CONNECTION', key: 'maxSubscribersPerConnection', defaultValue: 1000, parse: integer(1, 10_000_000), describe: 'event streams one connection may hold open, so one client cannot take every slot' },
  maxHealthWatchers: { flag: 'max-health-watchers', env: 'RIGGER_MAX_HEALTH_WATCHERS', key: 'maxHealthWatchers', defaultValue: 100, parse: integer(1, 1_000_000), describe: 'grpc.health.v1 Watch streams open at once; more get RESOURCE_EXHAUSTED' },
  keepaliveTimeMs: { flag: 'keepalive-time-ms', env: 'RIGGER_KEEPALIVE_TIME_MS', key: 'keepaliveTimeMs', defaultValue: 60_000, parse: integer(1000, 86_400_000), describe: 'ping a connection after this long without traffic, in ms' },
  consumerMemberStallMs: { flag: 'consumer-member-stall-ms', env: 'RIGGER_CONSUMER_MEMBER_STALL_MS', key: 'consumerMemberStallMs', defaultValue: 30_000, parse: integer(100, 3_600_000), describe: 'end a consumer member with RESOURCE_EXHAUSTED when its stream stays full this long while the server holds its acks back (it sends without reading), in ms' },
  maxWritesInFlight: { flag: 'max-writes-in-flight', env: 'RIGGER_MAX_WRITES_IN_FLIGHT', key: 'maxWritesInFlight', defaultValue: 1024, parse: integer(1, 1_000_000), describe: 'writes one WriteTasks stream may have read and not yet answered, and updates one TaskEventStream may have read and not yet applied; past it the server stops reading that stream until they settle (HTTP/2 flow control holds the client back)' },
  keepaliveTimeoutMs: { flag: 'keepalive-timeout-ms', env: 'RIGGER_KEEPALIVE_TIMEOUT_MS', key: 'keepaliveTimeoutMs', defaultValue: 20_000, parse: integer(100, 3_600_000), describe: 'close a connection (and its streams) whose ping is not answered within this, in ms' },
  busyTimeoutMs: { flag: 'busy-timeout-ms', env: 'RIGGER_BUSY_TIMEOUT_MS', key: 'busyTimeoutMs', defaultValue: 5000, parse: integer(0, 600_000), describe: 'how long a write waits for another process\'s database lock before UNAVAILABLE, in ms' },
  durability: { flag: 'durability', env: 'RIGGER_DURABILITY', key: 'durability', defaultValue: 'full' as 'full' | 'normal', parse: oneOf('full', 'normal'), describe: 'full: every commit is on disk before it is acknowledged (survives a power cut); normal: faster commits that survive a process crash, but a power cut may lose the last ones' },
  storeWriter: { flag: 'store-writer', env: 'RIGGER_STORE_WRITER', key: 'storeWriter', defaultValue: 'inline' as 'inline' | 'thread', parse: oneOf('inline', 'thread'), describe: 'rig grpc: where task writes run their SQLite transactions: inline (on the thread that serves gRPC) or thread (a writer thread with its own connection; the other writes stay inline); docs/design.md, the write path' },
  logLevel: { flag: 'log-level', env: 'RIGGER_LOG_LEVEL', key: 'logLevel', defaultValue: 'info' as (typeof LOG_LEVELS)[number], parse: oneOf(...LOG_LEVELS), describe: 'rig grpc and sidecars: the lowest level logged on stderr' },
  logFormat: { flag: 'log-format', env: 'RIGGER_LOG_FORMAT', key: 'logFormat', defaultValue: 'auto' as (typeof LOG_FORMATS)[number], parse: oneOf(...LOG_FORMATS), describe: 'rig grpc and sidecars: json (one pino JSON object per line, for machines), pretty (colored lines for a person, pino-pretty), or auto: pretty when stderr is a terminal, else json' },
  model: { flag: 'model', env: 'RIGGER_MODEL', key: 'model', defaultValue: 'rules', parse: text, describe: 'model for PRD task generation and orchestration: rules (offline), ollama (--ollama-model), or an Ollama model name such as llama3.1 (also as ollama:<name>)' },
  ollamaUrl: { flag: 'ollama-url', env: 'RIGGER_OLLAMA_URL', key: 'ollamaUrl', defaultValue: 'http://127.0.0.1:11434', parse: httpUrl, describe: 'base URL of the Ollama HTTP API' },
  ollamaModel: { flag: 'ollama-model', env: 'RIGGER_OLLAMA_MODEL', key: 'ollamaModel', defaultValue: 'llama3.2', parse: text, describe: 'the Ollama model that --model ollama uses' },
  ollamaTimeoutMs: { flag: 'ollama-timeout-ms', env: 'RIGGER_OLLAMA_TIMEOUT_MS', key: 'ollamaTimeoutMs', defaultValue: 120_000, parse: integer(1, 3_600_000), describe: 'how long one Ollama call may take, in ms' },
} satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof SETTINGS;
type SettingValue<N extends SettingName> = (typeof SETTINGS)[N]['defaultValue'];

/** Resolves one setting from the parsed flags, the environment and the project's config. */
export function resolveSetting<N extends SettingName>(
  name: N,
  argv: Record<string, unknown>,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): SettingValue<N> {
  const setting = SETTINGS[name] as Setting<SettingValue<N>>;
  const flagValue = argv[setting.flag];
  if (flagValue !== undefined) return setting.parse(String(flagValue), `--${setting.flag}`);
  const envValue = env[setting.env];
  if (envValue !== undefined && envValue !== '') return setting.parse(envValue, setting.env);
  const configValue = config[setting.key];
  if (configValue !== undefined && configValue !== null) return setting.parse(String(configValue), `"${setting.key}" in .rigger/config.json`);
  return setting.defaultValue;
}

export function databasePath(project: Project, argv: Record<string, unknown>): string {
  const configured = resolveSetting('db', argv, project.config);
  return configured === '' ? path.join(project.riggerDir, DB_FILE) : path.resolve(project.dir, configured);
}

/** Where client commands (rig events) reach the server. */
export function serverAddress(project: Project, argv: Record<string, unknown>): string {
  const address = resolveSetting('address', argv, project.config);
  return address !== '' ? address : `localhost:${resolveSetting('port', argv, project.config)}`;
}

/**
 * The yargs option definitions for the named settings. No yargs defaults, so precedence stays ours;
 * --help still shows each default. Numeric settings get no yargs type: it would turn "abc" into NaN
 * before our parse could name the bad text.
 */
export function settingOptions(...names: SettingName[]): Record<string, SettingOption> {
  return Object.fromEntries(names.map((name) => [SETTINGS[name].flag, settingOption(name)]));
}

export interface SettingOption {
  type?: 'string';
  describe: string;
  defaultDescription?: string;
}

/** One setting's yargs option (see settingOptions); `meaning` replaces its description where a command uses it differently. */
export function settingOption(name: SettingName, meaning?: string): SettingOption {
  const setting: Setting<unknown> = SETTINGS[name];
  const accepts = setting.parse.accepts === 'text' ? '' : `; ${setting.parse.accepts}`;
  return {
    ...(!setting.parse.numeric && { type: 'string' as const }),
    describe: `${meaning ?? setting.describe}${accepts} [env ${setting.env}]`,
    ...(setting.defaultValue !== '' && { defaultDescription: String(setting.defaultValue) }),
  };
}

/** The log settings of rig grpc and the sidecars (flag > environment > config.json > default). */
export function logSettings(
  argv: Record<string, unknown>,
  config: Record<string, unknown>,
  stderrIsTerminal = process.stderr.isTTY === true,
): { level: string; format: 'json' | 'pretty' } {
  const format = resolveSetting('logFormat', argv, config);
  // People read a terminal; anything else (a file, a pipe, journald) is read by machines.
  return { level: resolveSetting('logLevel', argv, config), format: format === 'auto' ? (stderrIsTerminal ? 'pretty' : 'json') : format };
}
