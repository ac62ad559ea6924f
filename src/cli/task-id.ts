import { invalidArgument, notFound } from '../model/errors';
import type { Store } from '../store/store';

/** Candidates listed when a prefix is ambiguous. */
const MAX_CANDIDATES = 10;

/**
 * The task `given` names: its full id, or a prefix of exactly one id (as git takes a commit's).
 * A full id that exists wins over being a prefix of longer ones. `what` names it in the not-found message.
 */
export function resolveTaskId(store: Store, given: string, what = 'task'): string {
  if (given === '') throw invalidArgument('a task id is empty; give the id (or the first characters of it) that rig task list shows');
  if (store.tasks.getTask(given)) return given;
  const ids = store.tasks.idsStartingWith(given, MAX_CANDIDATES + 1);
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0) throw notFound(`${what} ${JSON.stringify(given)} does not exist`);
  const shown = ids.slice(0, MAX_CANDIDATES).join(', ');
  throw invalidArgument(`task id ${JSON.stringify(given)} is ambiguous: it starts ${ids.length > MAX_CANDIDATES ? `more than ${MAX_CANDIDATES} ids` : `${ids.length} ids`} (${shown}${ids.length > MAX_CANDIDATES ? ', ...' : ''}); give more characters`);
}
