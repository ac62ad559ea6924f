import pino, { type Logger } from 'pino';

export interface LogOptions {
  /** A pino level; the settings (src/config/settings.ts) check it first and name what works. */
  level: string;
  format: 'json' | 'pretty';
}

/**
 * The log on stderr; stdout is kept for human output and --json data. JSON by default (one pino
 * object per line, for log shippers); `pretty` formats the same records for a person, in-process
 * and synchronously, so nothing is lost when the process exits.
 */
export function createLogger(options: LogOptions, name = 'rigger'): Logger {
  const destination =
    options.format === 'pretty'
      ? // Loaded only here: most processes log JSON, and every start would pay for pino-pretty's modules.
        (require('pino-pretty') as typeof import('pino-pretty'))({
          destination: 2,
          sync: true,
          colorize: process.stderr.isTTY === true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
        })
      : pino.destination({ fd: 2, sync: true });
  return pino({ name, level: options.level }, destination);
}
