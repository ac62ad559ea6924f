import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../model/errors';

export const RIGGER_DIR = '.rigger';
export const CONFIG_FILE = 'config.json';
export const DB_FILE = 'tasks.db';

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
