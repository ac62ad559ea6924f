// Reading files a client names (ParsePRD, GenerateTasksFromPRD, `rig prd`): only regular text files
// inside the project directory, judged after symlinks and `..` are resolved, and at most MAX_PRD_BYTES.
//
// The path is opened once, with O_NONBLOCK (a FIFO or a device swapped in is never waited on) and
// O_NOFOLLOW, and every check after that is made on what was opened: its type and size from fstat of
// the handle, its place from where the kernel says the handle points (/proc/self/fd/N; elsewhere the
// path must still lead to the same device and inode). A local writer flipping the path between a
// file, a FIFO, a directory and a symlink gets NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT:
// never a hang, never a file outside the project, never INTERNAL.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument, notFound, RiggerError } from '../model/errors';
import { isOpenDatabaseFile } from '../store/open-files';

const MAX_PRD_BYTES = 1024 * 1024;

const { O_RDONLY, O_NONBLOCK = 0, O_NOFOLLOW = 0, O_NOCTTY = 0 } = fs.constants;
const OPEN_FLAGS = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY;
const PROC_FD = '/proc/self/fd';

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
  const file = { requested, resolved, realProject };
  let real: string;
  try {
    // realpath(3): one readlink per component, so a component that stops being a symlink midway
    // is not an error (the JavaScript realpathSync lstats first and then fails with EINVAL).
    real = fs.realpathSync.native(resolved);
  } catch (error) {
    throw fileFailure(file, error, 'resolving');
  }
  // Checked on the resolved path first for the message; checked again below on what was opened.
  confinedPath(file, real);
  // Never opened: closing a descriptor of it would drop the server's locks (store/open-files.ts).
  const before = fs.statSync(real, { throwIfNoEntry: false });
  if (before && isOpenDatabaseFile(before)) throw ownDatabase(requested);
  let fd: number;
  try {
    fd = fs.openSync(real, OPEN_FLAGS);
  } catch (error) {
    throw fileFailure(file, error, 'opening');
  }
  let keepOpen = false;
  try {
    const stat = fs.fstatSync(fd);
    if (isOpenDatabaseFile(stat)) {
      // Swapped in after the check: refused, and the descriptor kept open for good rather than closed.
      keepOpen = true;
      throw ownDatabase(requested);
    }
    const relativePath = confinedPath(file, openedPath(file, fd, real, stat));
    if (!stat.isFile()) {
      throw invalidArgument(`PRD path ${JSON.stringify(requested)} is not a regular file (it is ${kindOf(stat)}); name a markdown file`);
    }
    if (stat.size > MAX_PRD_BYTES) {
      throw invalidArgument(`PRD file ${JSON.stringify(requested)} is ${stat.size} bytes; the limit is ${MAX_PRD_BYTES} bytes (1 MiB): split it or trim it`);
    }
    const buffer = readBounded(fd, stat.size, requested);
    if (buffer.includes(0)) throw invalidArgument(`PRD file ${JSON.stringify(requested)} is not a text file (it contains NUL bytes); give a markdown file`);
    return { text: buffer.toString('utf8'), relativePath };
  } catch (error) {
    throw error instanceof RiggerError ? error : fileFailure(file, error, 'reading');
  } finally {
    if (!keepOpen) fs.closeSync(fd);
  }
}

function ownDatabase(requested: string): RiggerError {
  return new RiggerError('permission_denied', `PRD path ${JSON.stringify(requested)} is the server's own database (or its -wal or -shm), not a PRD`);
}

interface RequestedFile {
  requested: string;
  resolved: string;
  realProject: string;
}

/** The opened file's path relative to the project; refused when it is outside or under .rigger/. */
function confinedPath(file: RequestedFile, real: string): string {
  if (!isInside(file.realProject, real)) {
    throw denied(file.requested, `it is a symlink (or under one) that leads to ${real}, outside the project directory ${file.realProject}`);
  }
  const relativePath = path.relative(file.realProject, real).split(path.sep).join('/');
  if (relativePath === '.rigger' || relativePath.startsWith('.rigger/')) {
    throw denied(file.requested, "files under .rigger/ are rigger's own database and configuration, not PRDs");
  }
  return relativePath;
}

/** Where the open handle `fd` really is, whatever happened to the path since it was resolved. */
function openedPath(file: RequestedFile, fd: number, real: string, stat: fs.Stats): string {
  const changed = () =>
    notFound(`PRD file ${JSON.stringify(file.requested)} changed while it was being opened (removed, moved or replaced); try again once it stays put`);
  if (stat.nlink === 0) throw changed();
  let viaProc: string | undefined;
  try {
    viaProc = fs.readlinkSync(`${PROC_FD}/${fd}`);
  } catch {
    viaProc = undefined; // no /proc (macOS, BSD): compare identities instead
  }
  if (viaProc !== undefined && path.isAbsolute(viaProc)) return viaProc;
  let now: fs.Stats;
  let realNow: string;
  try {
    realNow = fs.realpathSync.native(real);
    now = fs.statSync(realNow);
  } catch {
    throw changed();
  }
  if (realNow !== real || now.dev !== stat.dev || now.ino !== stat.ino) throw changed();
  return real;
}

/** Reads the whole file from the handle, never more than MAX_PRD_BYTES + 1 bytes. */
function readBounded(fd: number, size: number, requested: string): Buffer {
  let buffer = Buffer.allocUnsafe(Math.min(size, MAX_PRD_BYTES) + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > MAX_PRD_BYTES) throw invalidArgument(`PRD file ${JSON.stringify(requested)} grew past the 1 MiB limit while being read`);
      const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, MAX_PRD_BYTES + 1));
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
    const read = fs.readSync(fd, buffer, length, buffer.length - length, null);
    if (read === 0) return buffer.subarray(0, length);
    length += read;
  }
}

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSymbolicLink()) return 'a symlink';
  return 'neither a file nor a directory';
}

function isInside(dir: string, candidate: string): boolean {
  const relative = path.relative(dir, candidate);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

function denied(requested: string, why: string): RiggerError {
  return new RiggerError('permission_denied', `refusing to read ${JSON.stringify(requested)}: ${why}; only files inside the project can be read`);
}

/** A file-system error as the caller's answer: what a racing writer can cause is never INTERNAL. */
function fileFailure(file: RequestedFile, error: unknown, step: 'resolving' | 'opening' | 'reading'): RiggerError {
  const { requested, resolved, realProject } = file;
  const quoted = JSON.stringify(requested);
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return step === 'resolving'
        ? notFound(`PRD file ${quoted} does not exist (looked for ${resolved}); paths are relative to the project directory ${realProject}`)
        : notFound(
            `PRD file ${quoted} changed while it was being ${step === 'opening' ? 'opened' : 'read'} (removed, moved or replaced); try again once it stays put`,
          );
    case 'EINVAL':
      return notFound(
        `PRD file ${quoted} changed while it was being ${step === 'reading' ? 'read' : 'opened'} (removed, moved or replaced); try again once it stays put`,
      );
    case 'ELOOP':
      return step === 'opening'
        ? notFound(`PRD file ${quoted} changed while it was being opened (it became a symlink); try again once it stays put`)
        : invalidArgument(`PRD path ${quoted} is a loop of symlinks; name a markdown file`);
    case 'EISDIR':
      return invalidArgument(`PRD path ${quoted} is not a regular file (it is a directory); name a markdown file`);
    case 'ENXIO':
    case 'ENODEV':
    case 'EOPNOTSUPP':
    case 'ETXTBSY':
      return invalidArgument(`PRD path ${quoted} is not a regular file; name a markdown file`);
    case 'EACCES':
    case 'EPERM':
      return new RiggerError('permission_denied', `cannot read ${quoted}: the server has no permission to read it`);
    case 'ENAMETOOLONG':
      return invalidArgument(`prd_file_path is ${requested.length} characters, longer than the file system allows; give a shorter path inside the project`);
    case 'EAGAIN':
    case 'EWOULDBLOCK':
    case 'EMFILE':
    case 'ENFILE':
      return new RiggerError('unavailable', `cannot read ${quoted} right now (${(error as Error).message}); try again`);
    default:
      return new RiggerError('internal', `cannot read ${quoted}: ${(error as Error).message}`);
  }
}
