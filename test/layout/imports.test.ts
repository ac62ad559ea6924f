// The run-time import graph of src/ and sidecars/ has no cycles and points down the layers, and the
// client entry (what a sidecar or the package's users load) pulls in neither the server nor
// better-sqlite3. The approach is a short script over the compiled output, no new dependency: every
// relative require("./...") / require("../...") that tsc emitted into dist/src/** and
// dist/sidecars/** is an edge. Type-only imports vanish from that output, which is what we want:
// this is the graph node actually loads, lazy require()s inside functions included. Run after
// `npx tsc -p .`; a .js whose .ts source is gone is stale output (tsc never deletes) and is left out,
// and a file that does not exist (yet) is simply absent from the graph. A second graph, read from the
// .ts sources with type-only imports included, must have no cycles either.
//
// The layers, by top-level area (the first directory under src/, or the file itself for top-level
// files such as src/index.js; sidecars/ is one area), each listing what it may require besides itself:
//   model, generated   < protocol, store, hub, config < client, prd < grpc < ops < hub-server.js < cli (the top);
//   sidecars sit on client and config, below cli
// See RULES below for the exact lists. Every violation is printed as one line "from -> to (rule)".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runAsync } from '../support/processes';
import { filesUnder } from '../support/files';

const DIST = path.join(REPO_ROOT, 'dist');
const ROOTS = ['src', 'sidecars'];

/** What each area may require besides itself: `may` lists all it may, `mayNot` all it may not. */
type Rule = { may: readonly string[] } | { mayNot: readonly string[] };
const RULES: Record<string, Rule> = {
  model: { may: ['generated'] },
  generated: { may: [] },
  protocol: { may: ['model', 'generated'] },
  store: { may: ['model'] },
  hub: { may: ['model'] },
  client: { may: ['model', 'protocol', 'generated'] },
  // Settings, project discovery and command-line plumbing shared by the CLI and standalone sidecars.
  config: { may: ['model'] },
  prd: { may: ['model', 'store'] },
  grpc: { may: ['model', 'protocol', 'store', 'hub', 'prd', 'generated'] },
  // The operations endpoint (metrics, probes): reads the store, the hub and the gRPC request metrics; composed by hub-server.
  ops: { may: ['model', 'protocol', 'store', 'hub', 'grpc'] },
  'logging.js': { may: [] },
  'hub-server.js': { mayNot: ['cli', 'sidecars'] },
  'index.js': { may: ['client', 'model', 'protocol'] },
  sidecars: { may: ['client', 'config', 'model', 'protocol', 'logging.js'] },
  cli: { mayNot: [] },
};
/** Nothing shipped may load these, whatever its area. */
const NEVER = ['bench', 'test'];

/** A file's path relative to dist/, with forward slashes: "src/hub/event-hub.js". */
type Rel = string;

interface Graph {
  files: Rel[];
  edges: Map<Rel, Set<Rel>>;
  /** Bare package names each file requires (better-sqlite3, @grpc/grpc-js, ...). */
  packages: Map<Rel, Set<string>>;
  /** Relative requires that name no current compiled file. */
  unresolved: string[];
  stale: Rel[];
}

const relOf = (abs: string): Rel => path.relative(DIST, abs).split(path.sep).join('/');

/** Whether the compiled file still has its TypeScript source (else it is stale output). */
function isCurrent(rel: Rel): boolean {
  const base = path.join(REPO_ROOT, rel.replace(/\.js$/, ''));
  return ['.ts', '.tsx', '.mts', '.cts'].some((ext) => fs.existsSync(base + ext));
}

/** Node's resolution of a relative specifier, limited to what tsc emits: file, file.js, dir/index.js. */
function resolveRelative(fromAbs: string, specifier: string): string | undefined {
  const target = path.resolve(path.dirname(fromAbs), specifier);
  for (const candidate of [target, `${target}.js`, path.join(target, 'index.js')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

const REQUIRE = /\brequire\(\s*(['"`])([^'"`]+)\1\s*\)/g;

/** The specifiers a compiled file requires, ignoring ones in comments (whole-line // or JSDoc lines). */
function requiresOf(source: string): string[] {
  const out: string[] = [];
  for (const line of source.split('\n')) {
    const trimmed = line.trimStart();
    if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('/*')) continue;
    const commentAt = line.indexOf('//');
    for (const match of line.matchAll(REQUIRE)) {
      if (commentAt >= 0 && match.index! > commentAt && !/['"`]/.test(line.slice(0, commentAt))) continue;
      out.push(match[2]!);
    }
  }
  return out;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function buildGraph(): Graph {
  const all = ROOTS.flatMap((root) => filesUnder(path.join(DIST, root), '.js'))
    .map(relOf)
    .sort();
  const stale = all.filter((rel) => !isCurrent(rel));
  const files = all.filter((rel) => isCurrent(rel));
  const current = new Set(files);
  const edges = new Map<Rel, Set<Rel>>();
  const packages = new Map<Rel, Set<string>>();
  const unresolved: string[] = [];
  for (const rel of files) {
    const abs = path.join(DIST, rel);
    const to = new Set<Rel>();
    const pkgs = new Set<string>();
    for (const specifier of requiresOf(fs.readFileSync(abs, 'utf8'))) {
      if (specifier.startsWith('./') || specifier.startsWith('../')) {
        const resolved = resolveRelative(abs, specifier);
        const target = resolved === undefined ? undefined : relOf(resolved);
        if (target === undefined || (!current.has(target) && !/^(bench|test)\//.test(target))) {
          unresolved.push(`${rel} requires "${specifier}", which ${target ? `is stale output (${target} has no source)` : 'is not in dist/'}`);
        } else {
          to.add(target);
        }
      } else if (!specifier.startsWith('node:')) {
        pkgs.add(packageName(specifier));
      }
    }
    edges.set(rel, to);
    packages.set(rel, pkgs);
  }
  return { files, edges, packages, unresolved, stale };
}

/** "src/hub/x.js" -> "hub"; "src/index.js" -> "index.js"; "sidecars/logger.js" -> "sidecars"; "bench/..." -> "bench". */
function areaOf(rel: Rel): string {
  const parts = rel.split('/');
  if (parts[0] === 'src') return parts[1]!; // a directory, or a top-level file's own name
  return parts[0]!;
}

function allowed(rule: Rule, area: string): boolean {
  return 'may' in rule ? rule.may.includes(area) : !rule.mayNot.includes(area);
}

function describe(rule: Rule): string {
  if ('may' in rule) return rule.may.length ? `may require only ${rule.may.join(', ')}` : 'may require nothing of ours';
  return rule.mayNot.length ? `may not require ${rule.mayNot.join(', ')}` : 'may require anything';
}

/** Strongly connected components (Tarjan), each with more than one file or a self-edge. */
function cyclicComponents(graph: Graph): Rel[][] {
  let counter = 0;
  const index = new Map<Rel, number>();
  const low = new Map<Rel, number>();
  const stack: Rel[] = [];
  const onStack = new Set<Rel>();
  const out: Rel[][] = [];
  const visit = (v: Rel) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: Rel[] = [];
      let w: Rel;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.edges.get(v)?.has(v)) out.push(component.sort());
    }
  };
  for (const file of graph.files) if (!index.has(file)) visit(file);
  return out;
}

/** The shortest path from `from` to `to` along edges within `within`, as a list of files (BFS). */
function shortestPath(graph: Graph, from: Rel, to: Rel, within?: Set<Rel>): Rel[] | undefined {
  const parent = new Map<Rel, Rel | null>([[from, null]]);
  const queue: Rel[] = [from];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of graph.edges.get(v) ?? []) {
      if (within && !within.has(w)) continue;
      if (w === to) {
        const path: Rel[] = [to];
        for (let p: Rel | null = v; p !== null; p = parent.get(p)!) path.unshift(p);
        return path;
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return undefined;
}

/** For each cyclic component, the shortest cycle through each of its files, without repeats. */
function cycles(graph: Graph): string[] {
  const out = new Set<string>();
  for (const component of cyclicComponents(graph)) {
    const within = new Set(component);
    for (const file of component) {
      const cycle = shortestPath(graph, file, file, within);
      if (!cycle) continue;
      // Rotate to start at its smallest file, so the same cycle found from another file is one line.
      const ring = cycle.slice(0, -1);
      const start = ring.indexOf([...ring].sort()[0]!);
      const rotated = [...ring.slice(start), ...ring.slice(0, start)];
      out.add([...rotated, rotated[0]].join(' -> '));
    }
  }
  return [...out].sort();
}

/** Everything `entry` loads, transitively: our files and the packages they require. */
function closure(graph: Graph, entry: Rel): { files: Set<Rel>; packages: Set<string> } {
  const files = new Set<Rel>([entry]);
  const packages = new Set<string>();
  const queue = [entry];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const p of graph.packages.get(v) ?? []) packages.add(p);
    for (const w of graph.edges.get(v) ?? []) {
      if (!files.has(w)) {
        files.add(w);
        queue.push(w);
      }
    }
  }
  return { files, packages };
}

/** The first file on a path from `entry` that requires `pkg`, as "a -> b -> pkg". */
function chainToPackage(graph: Graph, entry: Rel, pkg: string): string {
  const reach = closure(graph, entry).files;
  const holder = [...reach].sort().find((f) => graph.packages.get(f)?.has(pkg));
  if (!holder) return `${entry} -> ... -> ${pkg}`;
  const chain = holder === entry ? [entry] : (shortestPath(graph, entry, holder) ?? [entry, '...', holder]);
  return [...chain, pkg].join(' -> ');
}

const graph = buildGraph();

const SOURCE_IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\brequire\(\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;

/**
 * The graph of the TypeScript sources, type-only imports included (`import type` and `typeof
 * import()` vanish from the compiled output, but a circle of types still ties two files together).
 * Files are named as their compiled output ("src/hub/x.js"), so the helpers above apply.
 */
function buildSourceGraph(): Graph {
  const sources = ROOTS.flatMap((root) => filesUnder(path.join(REPO_ROOT, root), '.ts')).filter((file) => !file.endsWith('.d.ts'));
  const relOfSource = (abs: string): Rel => path.relative(REPO_ROOT, abs).split(path.sep).join('/').replace(/\.ts$/, '.js');
  const edges = new Map<Rel, Set<Rel>>();
  const unresolved: string[] = [];
  for (const abs of sources) {
    const to = new Set<Rel>();
    for (const line of fs.readFileSync(abs, 'utf8').split('\n')) {
      const trimmed = line.trimStart();
      if (trimmed.startsWith('//') || trimmed.startsWith('*')) continue;
      for (const match of line.matchAll(SOURCE_IMPORT)) {
        const base = path.resolve(path.dirname(abs), match[2]!.replace(/\.js$/, ''));
        const target = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate));
        if (target) to.add(relOfSource(target));
        else if (!fs.existsSync(base) && !fs.existsSync(`${base}.js`)) unresolved.push(`${relOfSource(abs)} imports "${match[2]}", which names no source file`);
      }
    }
    edges.set(relOfSource(abs), to);
  }
  return { files: [...edges.keys()].sort(), edges, packages: new Map(), unresolved, stale: [] };
}

/** Fails listing `found` one per line (a plain message: a deepEqual diff would print every line twice). */
function assertNone(found: readonly string[], what: string): void {
  assert.ok(found.length === 0, `${found.length} ${what}:\n  ${found.join('\n  ')}`);
}

test('the compiled output is there and the graph is read from it', (t) => {
  if (graph.stale.length) t.diagnostic(`stale compiled files left out (no source): ${graph.stale.join(', ')}`);
  assert.ok(graph.files.length > 50, `only ${graph.files.length} compiled files under dist/src and dist/sidecars; run \`npx tsc -p .\` first`);
  // A known edge, so a broken require pattern cannot pass every other test vacuously.
  assert.ok(graph.edges.get('src/index.js')?.has('src/client/index.js'), 'src/index.js -> src/client/index.js not found');
  assert.ok(
    graph.files.some((f) => graph.packages.get(f)?.has('better-sqlite3')),
    'no compiled file requires better-sqlite3?',
  );
  assertNone(graph.unresolved, 'relative require(s) naming no current compiled file');
});

test('the run-time import graph has no cycles', () => {
  const found = cycles(graph);
  assertNone(found, 'import cycle(s)');
});

test('the source import graph, type-only imports included, has no cycles', () => {
  const sourceGraph = buildSourceGraph();
  assert.ok(
    sourceGraph.edges.get('src/hub/bookmark-clock.js')?.has('src/hub/event-sink.js'),
    'a known type-only edge (bookmark-clock -> event-sink) not found',
  );
  assertNone(sourceGraph.unresolved, 'relative import(s) naming no source file');
  assertNone(cycles(sourceGraph), 'import cycle(s) in the sources');
});

test('every require points down the layers', () => {
  const violations: string[] = [];
  const unruled = new Map<string, Rel[]>();
  for (const from of graph.files) {
    const area = areaOf(from);
    const rule = RULES[area];
    if (!rule) {
      unruled.set(area, [...(unruled.get(area) ?? []), from]);
      continue;
    }
    for (const to of [...(graph.edges.get(from) ?? [])].sort()) {
      const target = areaOf(to);
      if (NEVER.includes(target)) violations.push(`${from} -> ${to} (nothing under src/ or sidecars/ may require ${target}/)`);
      else if (target !== area && !allowed(rule, target)) violations.push(`${from} -> ${to} (${area} ${describe(rule)})`);
    }
  }
  for (const [area, files] of unruled) {
    violations.push(`area "${area}" (${files.join(', ')}) has no layering rule: give it one in RULES (test/layout/imports.test.ts)`);
  }
  assertNone(violations, 'layering violation(s)');
});

const SERVER_SIDE = ['src/store/', 'src/grpc/', 'src/hub/', 'src/cli/', 'src/hub-server.js'];
const isServerSide = (file: Rel) => SERVER_SIDE.some((part) => file.startsWith(part));

/** Load paths from `entry` to each server-side file it reaches first (not those loaded by another server-side file). */
function pathsIntoServer(entry: Rel, targets: Iterable<Rel>): string[] {
  const out: string[] = [];
  for (const file of [...targets].sort()) {
    const chain = file === entry ? [entry] : shortestPath(graph, entry, file);
    if (!chain) continue;
    if (chain.slice(0, -1).some(isServerSide)) continue; // reached through another one already listed
    out.push(chain.join(' -> '));
  }
  return out;
}

test('loading the client entry loads neither the server nor better-sqlite3', async () => {
  const entry = path.join(DIST, 'src', 'client', 'index.js');
  assert.ok(fs.existsSync(entry), `${entry} missing; run \`npx tsc -p .\``);
  const script = `require(${JSON.stringify(entry)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  const result = await runAsync(process.execPath, ['-e', script], { cwd: REPO_ROOT, timeoutMs: 30_000 });
  assert.equal(result.code, 0, `node -e failed: ${result.stderr}`);
  const loaded = (JSON.parse(result.stdout) as string[]).map((file) => file.split(path.sep).join('/'));
  assert.ok(
    loaded.some((file) => file.endsWith('/dist/src/client/index.js')),
    'the client entry itself is in require.cache',
  );
  const sqlite = loaded.filter((file) => file.includes('better-sqlite3'));
  const server = loaded.filter((file) => SERVER_SIDE.some((part) => file.includes(`/dist/${part}`)));
  // Where each comes from, by the graph (the cache only says that it was loaded).
  const rels = server.map((file) => file.slice(file.lastIndexOf('/dist/') + '/dist/'.length));
  const explained = pathsIntoServer(
    'src/client/index.js',
    rels.filter((rel) => graph.edges.has(rel)),
  );
  const why = [
    ...(server.length ? [`${server.length} server-side file(s) in require.cache: ${rels.join(', ')}`] : []),
    ...explained.map((chain) => `by the graph: ${chain}`),
    ...(sqlite.length
      ? [`better-sqlite3 loaded (${sqlite.length} file(s)), by the graph: ${chainToPackage(graph, 'src/client/index.js', 'better-sqlite3')}`]
      : []),
  ];
  assertNone(why, 'problem(s): the client entry loads the server side');
});

test('each sidecar loads neither the server nor better-sqlite3 (transitively, by the graph)', () => {
  const sidecars = graph.files.filter((f) => /^sidecars\/[^/]+\.js$/.test(f));
  assert.ok(sidecars.length > 0, 'no compiled sidecars under dist/sidecars');
  const violations: string[] = [];
  for (const sidecar of sidecars) {
    const reach = closure(graph, sidecar);
    violations.push(...pathsIntoServer(sidecar, [...reach.files].filter(isServerSide)));
    if (reach.packages.has('better-sqlite3')) violations.push(chainToPackage(graph, sidecar, 'better-sqlite3'));
  }
  assertNone(violations, 'sidecar load path(s) into the server side');
});
