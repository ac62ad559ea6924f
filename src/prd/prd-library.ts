// Finding a PRD by id or path, and storing a parsed one. Files are read only through
// project-files.ts; writes go through TaskStore.mutate like every other write.
import { notFound } from '../model/errors';
import type { PrdRecord } from '../store/prd-records';
import type { TaskStore } from '../store/task-store';
import { normalizeText, parsePrd, prdIdOf, type ParsedPrd } from './parser';
import { readProjectFile } from './project-files';
import type { PrdForPlanning } from './providers/provider';

/** A parsed PRD, stored or about to be. */
export interface LoadedPrd extends PrdForPlanning {
  sourcePath: string;
}

const PRD_ID = /^prd-[0-9a-f]{16}$/;

/** Reads and parses a PRD file inside the project; stores nothing. */
export function readPrdFile(projectDir: string, requested: string, base?: string): LoadedPrd {
  const file = readProjectFile(projectDir, requested, base);
  const content = normalizeText(file.text);
  return { id: prdIdOf(content), parsed: parsePrd(content, file.relativePath), content, sourcePath: file.relativePath };
}

/** A stored PRD's id, or else a path to a PRD file in the project. */
export function resolvePrd(tasks: TaskStore, projectDir: string, idOrPath: string, base?: string): LoadedPrd {
  const stored = tasks.prds.getPrd(idOrPath.trim());
  if (stored) return fromRecord(stored);
  if (PRD_ID.test(idOrPath.trim())) {
    throw notFound(`no PRD with id ${idOrPath.trim()} is stored; parse it first (ParsePRD, \`rig prd parse <file>\`) or pass the file's path`);
  }
  return readPrdFile(projectDir, idOrPath, base);
}

/** The row a PRD is stored as; `now` is the mutation's time. */
export function prdRecord(prd: LoadedPrd, now: string): PrdRecord {
  return {
    id: prd.id,
    title: prd.parsed.title,
    source_path: prd.sourcePath,
    content: prd.content,
    parsed: JSON.stringify(prd.parsed),
    created_at: now,
    updated_at: now,
  };
}

export async function storePrd(tasks: TaskStore, prd: LoadedPrd, actor: string | undefined): Promise<void> {
  await tasks.writeGrouped(actor, (m) => m.prds.savePrd(prdRecord(prd, m.now)));
}

function fromRecord(record: PrdRecord): LoadedPrd {
  return { id: record.id, parsed: JSON.parse(record.parsed) as ParsedPrd, content: record.content, sourcePath: record.source_path };
}
