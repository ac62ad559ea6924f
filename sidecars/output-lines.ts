// A command's stdout or stderr, line by line, into the sidecar's pino log, bounded: a line longer
// than MAX_LINE_CHARS is cut (and marked), and once a run has produced MAX_RUN_BYTES the rest is
// read and dropped (one line says so), so a chatty or binary-spewing command cannot flood the log
// or the sidecar's memory.
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';

export const MAX_LINE_CHARS = 2000;
export const MAX_RUN_BYTES = 64 * 1024;

/** What one run may still log, shared by its stdout and stderr. */
export interface OutputBudget {
  bytesLeft: number;
  announced: boolean;
}

export function newBudget(): OutputBudget {
  return { bytesLeft: MAX_RUN_BYTES, announced: false };
}

export class OutputLines {
  private partial = '';
  /** The line being read was cut at the cap: the rest of it, up to its newline, is dropped. */
  private skipping = false;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly logger: Logger,
    private readonly fields: Record<string, unknown>,
    private readonly stream: 'stdout' | 'stderr',
    private readonly budget: OutputBudget,
  ) {}

  write(chunk: Buffer): void {
    if (this.budget.bytesLeft <= 0) return this.overBudget();
    const taken = chunk.length > this.budget.bytesLeft ? chunk.subarray(0, this.budget.bytesLeft) : chunk;
    this.budget.bytesLeft -= taken.length;
    const lines = this.decoder.write(taken).split('\n');
    const rest = lines.pop()!;
    for (const line of lines) {
      if (this.skipping) this.skipping = false;
      else this.log(this.partial + line);
      this.partial = '';
    }
    if (!this.skipping) this.partial += rest;
    if (this.partial.length > MAX_LINE_CHARS) {
      this.log(this.partial);
      this.partial = '';
      this.skipping = true;
    }
    if (taken.length < chunk.length) this.overBudget();
  }

  /** The stream ended: a last line without a newline is logged too. */
  end(): void {
    const rest = this.partial + this.decoder.end();
    if (rest !== '' && !this.skipping) this.log(rest);
    this.partial = '';
  }

  private log(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const cut = line.length > MAX_LINE_CHARS;
    const entry = { ...this.fields, stream: this.stream, line: cut ? line.slice(0, MAX_LINE_CHARS) : line, ...(cut && { truncated: true }) };
    if (this.stream === 'stderr') this.logger.warn(entry, 'command output');
    else this.logger.info(entry, 'command output');
  }

  private overBudget(): void {
    if (this.budget.announced) return;
    this.budget.announced = true;
    this.logger.warn({ ...this.fields, max_bytes: MAX_RUN_BYTES }, 'command output over the limit for one run; the rest is dropped');
  }
}
