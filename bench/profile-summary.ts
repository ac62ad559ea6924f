// Summarizes a V8 .cpuprofile (from `npm run bench -- --profile`): self time per function and per
// source file, heaviest first. Usage: node dist/bench/profile-summary.js FILE.cpuprofile... [TOP]
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const at = url.indexOf('node_modules/');
  if (at >= 0) return url.slice(at + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url === '' ? '(native)' : path.basename(url);
}

function summarize(file: string, top: number): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  // Percentages are of the busy time: the idle samples (waiting on I/O) are left out.
  for (const node of profile.nodes) if (node.callFrame.functionName === '(idle)') selfUs.delete(node.id);
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const nameOf = (id: number) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    return `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
  };
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url } = byId.get(id)!.callFrame;
    const where = shortUrl(url);
    const name = nameOf(id);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) onStack.add(nameOf(at));
    for (const frame of onStack) inclusive.set(frame, (inclusive.get(frame) ?? 0) + us);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const fileKey = url === '' ? functionName : where;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const table = (entries: Map<string, number>) =>
    [...entries.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  return [
    `${file}: ${(total / 1e6).toFixed(1)} s busy (idle left out); percentages are of the busy time`,
    '',
    'self time by function:',
    table(byFunction),
    '',
    'self time by file:',
    table(byFile),
    '',
    'inclusive time (function and what it calls):',
    table(inclusive),
  ].join('\n');
}

// Every argument that is a file is summarized in turn (a server writes one profile per thread: the
// main thread's, and the WAL checkpoint worker's); a number among them is how many rows to show.
const args = process.argv.slice(2);
const files = args.filter((arg) => !/^\d+$/.test(arg));
const top = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 25);
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile... [TOP]\n');
  process.exit(1);
}
process.stdout.write(`${files.map((file) => summarize(file, top)).join('\n\n')}\n`);
