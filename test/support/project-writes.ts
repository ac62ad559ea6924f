// Another writer of a project's file, as `rig task add` and `rig task update` are, but in the test's
// own process (no CLI start): the CLI's store code opens the file, writes in one transaction and
// closes it, with the server up or down. For tests about what readers see, not about the CLI.
import assert from 'node:assert/strict';
import os from 'node:os';
import { withProjectStore } from '../../src/cli/project-store';
import { findProject } from '../../src/config/project';
import { parseStatus } from '../../src/model/task';
import type { Store } from '../../src/store/store';

/** The actor the CLI would name: the user running it. */
const WRITER = os.userInfo().username;

function writeToFile<T>(dir: string, work: (store: Store) => T): T {
  return withProjectStore(findProject(dir), {}, work);
}

/** Adds a task to the project in `dir`; returns its id. */
export function addTaskToFile(dir: string, title: string, assignee?: string): string {
  return writeToFile(dir, (store) => store.tasks.write(WRITER, (m) => m.createTask({ title, ...(assignee !== undefined && { assignee }) })).id);
}

export function setStatusInFile(dir: string, id: string, status: string): void {
  const parsed = parseStatus(status);
  assert.ok(parsed !== undefined, `${status} is not a task status`);
  writeToFile(dir, (store) => store.tasks.write(WRITER, (m) => m.updateTask(id, { status: parsed })));
}
