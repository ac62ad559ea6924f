import pino, { type Logger } from 'pino';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** pino JSON logs on stderr; stdout is kept for human output and --json data. */
export function createLogger(level = process.env.RIGGER_LOG_LEVEL ?? 'info', name = 'rigger'): Logger {
  // pino's own error for a bad level is an internal one ("unknown level"); say what works instead.
  if (!LEVELS.includes(level)) throw new Error(`RIGGER_LOG_LEVEL must be one of ${LEVELS.join(', ')}; got ${JSON.stringify(level)}`);
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}
