// Every setting, in one table: its flag, environment variable, config.json key and default.
// Precedence: flag > environment > .rigger/config.json > default. The README's table mirrors this.
import path from 'node:path';
import { invalidArgument } from '../model/errors';
import { DB_FILE, type Project } from './project';

interface Setting<T> {
  flag: string;
  env: string;
  key: string;
  defaultValue: T;
  parse(text: string, source: string): T;
  describe: string;
}

const integer = (min: number, max: number) => (text: string, source: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${source} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
};
const text = (value: string) => value;

export const SETTINGS = {
  port: { flag: 'port', env: 'RIGGER_PORT', key: 'port', defaultValue: 50051, parse: integer(0, 65535), describe: 'TCP port to serve on (0 = any free port)' },
  host: { flag: 'host', env: 'RIGGER_HOST', key: 'host', defaultValue: '', parse: text, describe: 'address to bind; default both ::1 and 127.0.0.1' },
  db: { flag: 'db', env: 'RIGGER_DB', key: 'db', defaultValue: '', parse: text, describe: 'SQLite database file; default .rigger/tasks.db' },
  bufferSize: { flag: 'buffer-size', env: 'RIGGER_BUFFER_SIZE', key: 'bufferSize', defaultValue: 1000, parse: integer(1, 10_000_000), describe: 'events kept in memory for fast resume (replay buffer)' },
  retainEvents: { flag: 'retain-events', env: 'RIGGER_RETAIN_EVENTS', key: 'retainEvents', defaultValue: 100_000, parse: integer(0, Number.MAX_SAFE_INTEGER), describe: 'events kept in the log (0 = no count limit)' },
  retainDays: { flag: 'retain-days', env: 'RIGGER_RETAIN_DAYS', key: 'retainDays', defaultValue: 0, parse: integer(0, 36500), describe: 'days of events kept in the log (0 = no age limit)' },
  address: { flag: 'address', env: 'RIGGER_ADDRESS', key: 'address', defaultValue: '', parse: text, describe: 'server address for client commands; default localhost:<port>' },
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

/** The yargs option definitions for the named settings (no yargs defaults, so precedence stays ours). */
export function settingOptions(...names: SettingName[]): Record<string, { type: 'string'; describe: string }> {
  return Object.fromEntries(
    names.map((name) => {
      const setting = SETTINGS[name];
      return [setting.flag, { type: 'string' as const, describe: `${setting.describe} [env ${setting.env}]` }];
    }),
  );
}
