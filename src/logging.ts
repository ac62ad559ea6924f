import pino, { type Logger } from 'pino';

/** pino JSON logs on stderr; stdout is kept for human output and --json data. */
export function createLogger(level = process.env.RIGGER_LOG_LEVEL ?? 'info', name = 'rigger'): Logger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}
