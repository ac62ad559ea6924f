import fs from 'node:fs';

/** The size of `file` in bytes, 0 when it does not exist (a WAL between checkpoints, a file being replaced). */
export function fileSize(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
}
