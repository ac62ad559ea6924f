import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../model/errors';

export const RIGGER_DIR = '.rigger';
export const CONFIG_FILE = 'config.json';
export const DB_FILE = 'tasks.db';

/** .rigger/ and the files in it (tasks.db, its -wal and -shm, config.json) are private to their owner. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` if needed (its parents with the usual mode) and sets it to 0700, whatever the umask. */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  if (!fs.existsSync(dir)) fs.mkdirSync(dir, { mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Creates `file` holding `contents`, 0600 whatever the umask; fails if it exists (unless
 * `ifMissing`: then an existing file is left alone). SQLite gives a database's -wal and -shm the
 * database file's own mode, so a database created this way stays private.
 */
export function createPrivateFile(file: string, contents = '', options: { ifMissing?: boolean } = {}): void {
  try {
    fs.writeFileSync(file, contents, { flag: 'wx', mode: PRIVATE_FILE_MODE });
  } catch (error) {
    if (options.ifMissing && (error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  fs.chmodSync(file, PRIVATE_FILE_MODE);
}

/** config.json keys whose values are secrets: only a config.json holding one is private data. */
const SECRET_KEYS = ['tokens', 'token', 'readOnlyToken', 'httpToken', 'webhookSecret'];

/**
 * The project's files that other users can get at, with their modes (e.g. "0644"): the database
 * (and its -wal, -shm) when the group or others may read or write it, config.json when it holds a
 * token or secret and is open likewise, .rigger/ when they may write into it (and so replace a
 * file). A readable .rigger/ or a config.json without secrets, as a clone checks them out (git
 * keeps no modes but the executable bit), reveals nothing. `rig grpc` warns about them at start.
 */
export function filesOpenToOthers(riggerDir: string, dbFile: string, config: Record<string, unknown>): { path: string; mode: string; isDirectory: boolean }[] {
  const holdsSecret = SECRET_KEYS.some((key) => config[key] !== undefined && config[key] !== '' && config[key] !== null);
  const checks: [string, number][] = [
    [riggerDir, 0o022],
    ...(holdsSecret ? [[path.join(riggerDir, CONFIG_FILE), 0o077] as [string, number]] : []),
    [dbFile, 0o077],
    [`${dbFile}-wal`, 0o077],
    [`${dbFile}-shm`, 0o077],
  ];
  return checks.flatMap(([file, bits]) => {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat || (stat.mode & bits) === 0) return [];
    return [{ path: file, mode: (stat.mode & 0o777).toString(8).padStart(4, '0'), isDirectory: stat.isDirectory() }];
  });
}

export interface Project {
  /** The directory holding .rigger/. */
  dir: string;
  riggerDir: string;
  config: Record<string, unknown>;
}

/** Finds .rigger/ in `start` or the nearest parent (like git finds .git). */
export function findProject(start: string): Project {
  let dir = path.resolve(start);
  for (;;) {
    const riggerDir = path.join(dir, RIGGER_DIR);
    if (fs.existsSync(riggerDir) && fs.statSync(riggerDir).isDirectory()) {
      return { dir, riggerDir, config: readConfig(path.join(riggerDir, CONFIG_FILE)) };
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new RiggerError('not_found', 'not a rigger project (no .rigger directory found); run `rig init`');
    }
    dir = parent;
  }
}

function readConfig(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RiggerError('invalid_argument', `${file} is not valid JSON (${(error as Error).message}); fix or delete it`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RiggerError('invalid_argument', `${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}
