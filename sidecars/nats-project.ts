// Where a project's events live in NATS: the project name (one subject token), the subjects, the
// headers and the message id that JetStream de-duplicates on. One stream can hold many projects.
import path from 'node:path';
import { headers, type MsgHdrs } from 'nats';
import { projectOrNone } from '../src/config/client-connection';
import { resolveSetting, settingOptions } from '../src/config/settings';
import { invalidArgument } from '../src/model/errors';
import { LEGACY_LOG_ID } from '../src/model/log-lineage';
import { eventTypeName, type TaskEvent } from '../src/model/task';

export const PROJECT_HEADER = 'Rigger-Project';
export const SEQUENCE_HEADER = 'Rigger-Sequence';
/** The log identity the sequence is of; absent on messages of a bridge from before identities (read as LEGACY_LOG_ID). */
export const LOG_ID_HEADER = 'Rigger-Log-Id';
const EVENT_TYPE_HEADER = 'Rigger-Event-Type';

/** The subjects' first token: every project's events are under rigger.<project>. */
export const SUBJECT_ROOT = 'rigger';
/** What a stream the bridge creates takes: rigger.<project>.<event type>.<task id> of every project (not rigger.<project>.commands). */
export const EVENT_SUBJECTS = `${SUBJECT_ROOT}.*.*.*`;

/** Safe in a subject, a stream filter and a message id on every NATS version. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The --project flag (RIGGER_PROJECT, "project" in .rigger/config.json). */
export const PROJECT_FLAG = settingOptions('project');

/**
 * The project's name for NATS: the setting, else the project directory's name; one subject token,
 * or a readable error saying what to set.
 */
export function projectNameOf(argv: Record<string, unknown>): string {
  const project = projectOrNone(typeof argv.C === 'string' ? argv.C : '.');
  const configured = resolveSetting('project', argv, project.config);
  const fix = 'set it with --project NAME, RIGGER_PROJECT or "project" in .rigger/config.json';
  if (configured !== '') {
    if (!TOKEN.test(configured))
      throw invalidArgument(`project name ${JSON.stringify(configured)} is not one NATS subject token: use 1 to 64 letters, digits, - and _`);
    return configured;
  }
  if (project.riggerDir === '') throw invalidArgument(`no project name: not run inside a rigger project, so there is no directory name to use; ${fix}`);
  const name = path.basename(project.dir);
  if (!TOKEN.test(name))
    throw invalidArgument(`the project directory's name ${JSON.stringify(name)} is not one NATS subject token (letters, digits, - and _); ${fix}`);
  return name;
}

/** --subject-prefix as given (tokens without wildcards), or rigger.<project>. */
export function subjectPrefixOf(project: string, given: string | undefined): string {
  if (given === undefined || given === '') return `${SUBJECT_ROOT}.${project}`;
  if (!given.split('.').every((token) => /^[^\s*>]+$/.test(token))) {
    throw invalidArgument(`--subject-prefix ${JSON.stringify(given)} must be dot-separated tokens without spaces, * or >`);
  }
  return given;
}

/** The subject a project's task commands are sent to. */
export function commandSubjectOf(project: string): string {
  return `${SUBJECT_ROOT}.${project}.commands`;
}

/** <prefix>.<event type, lowercase>.<task id>: a subject per task, so a consumer can keep each task's order or pick one task. */
export function subjectFor(prefix: string, event: TaskEvent): string {
  const token = event.task.id.replace(/[.*>\s]/g, '_') || '_';
  return `${prefix}.${eventTypeName(event.event_type).toLowerCase()}.${token}`;
}

export function headersFor(project: string, event: TaskEvent): MsgHdrs {
  const h = headers();
  h.set(PROJECT_HEADER, project);
  h.set(SEQUENCE_HEADER, String(event.sequence));
  if (event.log_id !== undefined) h.set(LOG_ID_HEADER, event.log_id);
  h.set(EVENT_TYPE_HEADER, eventTypeName(event.event_type));
  return h;
}

/**
 * The message id JetStream de-duplicates on: project, log identity and sequence, so two projects'
 * sequences never collide and a restored log's events (which reuse sequences) are never dropped.
 */
export function messageIdOf(project: string, event: TaskEvent): string {
  return `${project}:${event.log_id ?? LEGACY_LOG_ID}:${event.sequence}`;
}

/** Whether stream subject `filter` takes every subject of `pattern` (both may hold * and >). */
export function subjectCovers(filter: string, pattern: string): boolean {
  const f = filter.split('.');
  const p = pattern.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return p.length > i;
    if (i >= p.length || p[i] === '>') return false;
    if (f[i] !== '*' && (p[i] === '*' || f[i] !== p[i])) return false;
  }
  return f.length === p.length;
}
