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
  if (ids.length === 0) throw notFound(`${what} ${JSON.stringify(given)} does not exist${nearestIdsHint(store, given)}`);
  const shown = ids.slice(0, MAX_CANDIDATES).join(', ');
  throw invalidArgument(
    `task id ${JSON.stringify(given)} is ambiguous: it starts ${ids.length > MAX_CANDIDATES ? `more than ${MAX_CANDIDATES} ids` : `${ids.length} ids`} (${shown}${ids.length > MAX_CANDIDATES ? ', ...' : ''}); give more characters`,
  );
}

/** The ids sharing the longest start with a mistyped one ("3f2b" -> the ids starting "3f2"), as a hint; none when no id shares even its first character. */
function nearestIdsHint(store: Store, given: string): string {
  for (let length = given.length - 1; length > 0; length--) {
    const ids = store.tasks.idsStartingWith(given.slice(0, length), NEAREST_SHOWN + 1);
    if (ids.length === 0) continue;
    const shown = ids.slice(0, NEAREST_SHOWN).join(', ');
    return `; the nearest ids, starting ${JSON.stringify(given.slice(0, length))}: ${shown}${ids.length > NEAREST_SHOWN ? ', ...' : ''} (rig task list --all lists every id)`;
  }
  return '';
}

const NEAREST_SHOWN = 3;
