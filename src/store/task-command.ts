// The task writes a client sends (AddTask, UpdateTask, DeleteTask, each write of WriteTasks) as
// plain data: what the writer thread (writer-thread.ts) receives, and what the inline writer runs
// the same way. Everything else (PRD work, consumers' state, compaction) stays a closure, inline.
import type { NewTask, Task, TaskPatch } from '../model/task';
import type { Mutation, UpdateOptions } from './mutation';

export type TaskCommand =
  | { kind: 'create'; actor: string | undefined; input: NewTask }
  | { kind: 'update'; actor: string | undefined; id: string; patch: TaskPatch; options: UpdateOptions }
  | { kind: 'archive'; actor: string | undefined; id: string };

/** Applies `command` in the mutation's transaction; the task after it. */
export function runTaskCommand(m: Mutation, command: TaskCommand): Task {
  switch (command.kind) {
    case 'create':
      return m.createTask(command.input);
    case 'update':
      return m.updateTask(command.id, command.patch, command.options).task;
    case 'archive':
      return m.archiveTask(command.id);
  }
}
