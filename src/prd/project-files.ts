// Reading files a client names (ParsePRD, GenerateTasksFromPRD): only regular text files inside
// the project directory, judged after symlinks and `..` are resolved, and at most MAX_PRD_BYTES.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument, notFound, RiggerError } from '../model/errors';

const MAX_PRD_BYTES = 1024 * 1024;

export interface ProjectFile {
  text: string;
  /** The file's path relative to the project directory, with / separators. */
  relativePath: string;
}

/**
 * Reads `requested`, resolved against `base` (default: the project directory), which must lie
 * inside `projectDir` before and after symlinks are followed.
 */
export function readProjectFile(projectDir: string, requested: string, base: string = projectDir): ProjectFile {
  if (requested.trim() === '') throw invalidArgument('prd_file_path must not be empty; give a path inside the project, e.g. ./docs/PRD.md');
  if (requested.includes('\0')) throw invalidArgument('prd_file_path must not contain NUL characters');
  const realProject = fs.realpathSync(projectDir);
  const resolved = path.resolve(base, requested);
  // Checked before touching the file, so nothing is revealed about paths outside the project.
  if (!isInside(path.resolve(projectDir), resolved) && !isInside(realProject, resolved)) {
    throw denied(requested, `it resolves to ${resolved}, outside the project directory ${realProject}`);
  }
  let real: string;
  try {
    real = fs.realpathSync(resolved);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw notFound(`PRD file ${JSON.stringify(requested)} does not exist (looked for ${resolved}); paths are relative to the project directory ${realProject}`);
    }
    throw readFailure(requested, error);
  }
  if (!isInside(realProject, real)) {
    throw denied(requested, `it is a symlink (or under one) that leads to ${real}, outside the project directory ${realProject}`);
  }
  const relativePath = path.relative(realProject, real).split(path.sep).join('/');
  if (relativePath === '.rigger' || relativePath.startsWith('.rigger/')) {
    throw denied(requested, 'files under .rigger/ are rigger\'s own database and configuration, not PRDs');
  }
  const stat = fs.statSync(real);
  if (!stat.isFile()) throw invalidArgument(`PRD path ${JSON.stringify(requested)} is not a regular file; name a markdown file`);
  if (stat.size > MAX_PRD_BYTES) {
    throw invalidArgument(`PRD file ${JSON.stringify(requested)} is ${stat.size} bytes; the limit is ${MAX_PRD_BYTES} bytes (1 MiB): split it or trim it`);
  }
  let buffer: Buffer;
  try {
    buffer = fs.readFileSync(real);
  } catch (error) {
    throw readFailure(requested, error);
  }
  if (buffer.length > MAX_PRD_BYTES) throw invalidArgument(`PRD file ${JSON.stringify(requested)} grew past the 1 MiB limit while being read`);
  if (buffer.includes(0)) throw invalidArgument(`PRD file ${JSON.stringify(requested)} is not a text file (it contains NUL bytes); give a markdown file`);
  return { text: buffer.toString('utf8'), relativePath };
}

function isInside(dir: string, candidate: string): boolean {
  const relative = path.relative(dir, candidate);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

function denied(requested: string, why: string): RiggerError {
  return new RiggerError('permission_denied', `refusing to read ${JSON.stringify(requested)}: ${why}; only files inside the project can be read`);
}

function readFailure(requested: string, error: unknown): RiggerError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new RiggerError('permission_denied', `cannot read ${JSON.stringify(requested)}: the server has no permission to read it`);
  if (code === 'ENAMETOOLONG') return invalidArgument(`prd_file_path is ${requested.length} characters, longer than the file system allows; give a shorter path inside the project`);
  return new RiggerError('internal', `cannot read ${JSON.stringify(requested)}: ${(error as Error).message}`);
}
