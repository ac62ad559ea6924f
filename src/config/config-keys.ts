// A key in .rigger/config.json that no setting reads is a typo more often than not ("prot"): it
// would be silently ignored, so every command that reads the file says so, naming the nearest key.
import path from 'node:path';
import { CONFIG_FILE, type Project } from './project';
import { SETTINGS } from './settings';

/** Every key config.json may hold: the settings table's, and `tokens` (config-only). */
const KNOWN_KEYS: readonly string[] = [...Object.values(SETTINGS).map((setting) => setting.key), 'tokens'];

export interface UnknownConfigKey {
  key: string;
  /** The known key closest to it, when one is close enough to be what was meant. */
  nearest: string | undefined;
  /** One line: what is wrong and what would work. */
  message: string;
}

export function unknownConfigKeys(project: Project): UnknownConfigKey[] {
  const file = path.join(path.basename(project.riggerDir), CONFIG_FILE);
  return Object.keys(project.config)
    .filter((key) => !KNOWN_KEYS.includes(key))
    .map((key) => {
      const nearest = nearestKey(key);
      const hint = nearest ? `did you mean "${nearest}"?` : 'docs/configuration.md lists the keys';
      return { key, nearest, message: `${file}: unknown key "${key}" is ignored (${hint})` };
    });
}

function nearestKey(key: string): string | undefined {
  return nearestWord(key, KNOWN_KEYS);
}

/** The candidate fewest edits away (case aside), if that is at most a third of the word's length (at least 1): a typo's likely meaning. */
export function nearestWord(word: string, candidates: readonly string[]): string | undefined {
  const folded = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const known of candidates) {
    const distance = editDistance(folded, known.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [known, distance];
  }
  return best;
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b: "prot" is 1 from "port". */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
