import os from 'node:os';
import type { PrdConfig } from '../../prd/config';
import type { Store } from '../../store/store';
import type { GlobalArgs } from '../command-body';
import { prdConfigOf } from '../prd-settings';
import { findProject, type Project } from '../../config/project';
import { openProjectStore } from '../project-store';
import { corruptionOf } from '../../store/integrity';

export interface PrdArgs extends GlobalArgs {
  db?: string;
  actor?: string;
}

export interface PrdSession {
  project: Project;
  store: Store;
  config: PrdConfig;
  actor: string;
}

/** Opens the project's store for one command (closed afterwards, also on failure). */
export async function withPrdSession<T>(argv: PrdArgs, work: (session: PrdSession) => Promise<T> | T): Promise<T> {
  const project = findProject(argv.C ?? '.');
  const args = argv as unknown as Record<string, unknown>;
  const config = prdConfigOf(project, args);
  const { store } = openProjectStore(project, args);
  try {
    return await work({ project, store, config, actor: argv.actor ?? os.userInfo().username });
  } catch (error) {
    throw corruptionOf(error, store.db.name); // a corrupt page read: the one-line refusal
  } finally {
    store.close();
  }
}
