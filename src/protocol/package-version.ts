// The version the server reports (GetHubStatus) and the man page prints.
import fs from 'node:fs';
import path from 'node:path';

/** The version in rigger's package.json above this file (dist/src/protocol or src/protocol); "unknown" if there is none. */
export function packageVersion(): string {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'rigger' && manifest.version) return manifest.version;
    } catch {
      // not here: one level up
    }
  }
  return 'unknown';
}
