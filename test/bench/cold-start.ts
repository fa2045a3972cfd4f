import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { parse as parseYaml } from 'yaml';

/**
 * Cold start: each handler bundled exactly as serverless.yml deploys it (the esbuild options are
 * read from its `custom.esbuild` block and mapped the way serverless-esbuild maps them), its size,
 * and the time to import it in a fresh `node` process against importing the same handler
 * unbundled: every src/ and handlers/ file transpiled to plain JS one to one (esbuild, bundle
 * false), importing node_modules as Node resolves them. Both are plain JS, so neither pays for a
 * TypeScript loader.
 */

export interface HandlerEntry {
  /** Function name in serverless.yml. */
  name: string;
  /** e.g. handlers/audit.ts */
  source: string;
}

export interface ColdStartHandler {
  name: string;
  source: string;
  bundleBytes: number;
  bundleGzipBytes: number;
  /** The biggest contributors to the bundle (package or source folder), in bytes. */
  largestInputs: { input: string; bytes: number }[];
  bundledImportMs: number[];
  unbundledImportMs: number[];
  bundledMedianMs: number;
  unbundledMedianMs: number;
  /** unbundled / bundled (median import times). */
  speedup: number;
  /** RSS of the fresh process once the bundle is imported (what a Lambda holds before any work). */
  bundledRssMb: number;
  unbundledRssMb: number;
}

export interface ColdStartResult {
  esbuildOptions: Record<string, unknown>;
  runs: number;
  nodeVersion: string;
  handlers: ColdStartHandler[];
}

// ------------------------------------------------------------------ serverless.yml

type Yaml = unknown;

/**
 * The mapping under `path` (e.g. ['custom', 'esbuild']) of serverless.yml, parsed as YAML. The
 * CloudFormation short tags (!Ref, !Sub, ...) are left unresolved: nothing here reads them.
 */
export function yamlBlock(text: string, path: readonly string[]): Record<string, Yaml> {
  let node: unknown = parseYaml(text, { logLevel: 'error' });
  for (const key of path) {
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    if (node === undefined || node === null) throw new Error(`serverless.yml has no ${path.join('.')}`);
  }
  return node as Record<string, Yaml>;
}

/** The functions and their handler files, from serverless.yml. */
export function handlerEntries(serverlessYml: string): HandlerEntry[] {
  const functions = yamlBlock(serverlessYml, ['functions']);
  return Object.entries(functions).map(([name, fn]) => {
    const handler = typeof fn === 'object' && fn !== null ? (fn as { handler?: unknown }).handler : undefined;
    if (typeof handler !== 'string') throw new Error(`function ${name} has no handler`);
    return { name, source: `${handler.slice(0, handler.lastIndexOf('.'))}.ts` };
  });
}

/** Options serverless-esbuild keeps for itself instead of passing them to esbuild. */
const PLUGIN_ONLY = new Set([
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
]);

/** serverless.yml's custom.esbuild as serverless-esbuild hands it to esbuild. */
export function deployedEsbuildOptions(serverlessYml: string): BuildOptions {
  const custom = yamlBlock(serverlessYml, ['custom', 'esbuild']);
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(custom)) if (!PLUGIN_ONLY.has(k)) options[k] = v;
  // serverless-esbuild's defaults, then its mapping of its own options.
  const exclude = custom.exclude ?? ['aws-sdk'];
  const external = [...((options.external as string[] | undefined) ?? [])];
  if (Array.isArray(exclude) && !exclude.includes('*')) external.push(...exclude);
  options.external = external;
  options.bundle ??= true;
  options.platform ??= 'node';
  const ext = custom.outputFileExtension;
  if (typeof ext === 'string' && ext !== '.js') options.outExtension = { '.js': ext };
  return options as BuildOptions;
}

// ------------------------------------------------------------------ building

async function filesUnder(dir: string, ext: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path, ext)));
    else if (entry.name.endsWith(ext)) out.push(path);
  }
  return out;
}

function largestInputs(
  inputs: Record<string, { bytesInOutput: number }>,
): { input: string; bytes: number }[] {
  const by = new Map<string, number>();
  for (const [file, info] of Object.entries(inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
    const key = pkg ?? file.split('/').slice(0, 2).join('/');
    by.set(key, (by.get(key) ?? 0) + info.bytesInOutput);
  }
  return [...by]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([input, bytes]) => ({ input, bytes }));
}

// ------------------------------------------------------------------ timing

/** Imports `file` in a fresh node process; returns the import's duration and the RSS after it. */
function timeImport(file: string, env: NodeJS.ProcessEnv): { ms: number; rssMb: number } {
  const script = `
const t0 = performance.now();
await import(${JSON.stringify(pathToFileURL(file).href)});
const ms = performance.now() - t0;
const rss = process.memoryUsage().rss;
process.stdout.write(JSON.stringify({ ms, rss }));
`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (res.status !== 0) {
    throw new Error(`importing ${file} failed (exit ${res.status}): ${res.stderr.slice(0, 2000)}`);
  }
  const out = JSON.parse(res.stdout) as { ms: number; rss: number };
  return { ms: out.ms, rssMb: Math.round((out.rss / 1048576) * 10) / 10 };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface ColdStartOptions {
  /** Repository root (serverless.yml, handlers/, src/). */
  root: string;
  /** Where the unbundled JS goes: inside the repository, so node_modules resolves as usual. */
  unbundledDir: string;
  /** Fresh processes per handler and variant (median reported). */
  runs: number;
}

/** The environment of the import processes: settings at their defaults, no real credentials. */
function importEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
}

export async function measureColdStart(o: ColdStartOptions): Promise<ColdStartResult> {
  const yml = await readFile(join(o.root, 'serverless.yml'), 'utf8');
  const options = deployedEsbuildOptions(yml);
  const entries = handlerEntries(yml);

  // Bundles go outside the repository: a bundle must run without node_modules, as on Lambda.
  const bundleDir = await mkdtemp(join(tmpdir(), 'iam-key-rotator-bench-'));
  try {
    const bundled = new Map<
      string,
      { file: string; bytes: number; gzip: number; largest: ColdStartHandler['largestInputs'] }
    >();
    for (const e of entries) {
      const result = await build({
        ...options,
        absWorkingDir: o.root,
        entryPoints: [e.source],
        outdir: bundleDir,
        metafile: true,
        write: true,
        logLevel: 'silent',
      });
      const [outFile, out] =
        Object.entries(result.metafile?.outputs ?? {}).find(([f]) => !f.endsWith('.map')) ?? [];
      if (!outFile || !out) throw new Error(`esbuild wrote no bundle for ${e.source}`);
      const file = resolve(o.root, outFile);
      const content = await readFile(file);
      bundled.set(e.name, {
        file,
        bytes: (await stat(file)).size,
        gzip: gzipSync(content).length,
        largest: largestInputs(out.inputs),
      });
    }

    // The same code unbundled: one JS file per TS file, imports left as they are.
    await rm(o.unbundledDir, { recursive: true, force: true });
    await mkdir(o.unbundledDir, { recursive: true });
    const sources = [
      ...(await filesUnder(join(o.root, 'src'), '.ts')),
      ...(await filesUnder(join(o.root, 'handlers'), '.ts')),
    ];
    await build({
      absWorkingDir: o.root,
      entryPoints: sources.map((s) => relative(o.root, s)),
      outdir: o.unbundledDir,
      outbase: '.',
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: options.target ?? 'node22',
      logLevel: 'silent',
    });

    const env = importEnv();
    const handlers: ColdStartHandler[] = [];
    for (const e of entries) {
      const b = bundled.get(e.name);
      if (!b) continue;
      const unbundledFile = join(o.unbundledDir, e.source.replace(/\.ts$/, '.js'));
      const bundledMs: number[] = [];
      const unbundledMs: number[] = [];
      let bundledRss = 0;
      let unbundledRss = 0;
      // Interleaved, so that a busy moment of the machine hits both variants alike.
      for (let i = 0; i < o.runs; i++) {
        const x = timeImport(b.file, env);
        const y = timeImport(unbundledFile, env);
        bundledMs.push(round1(x.ms));
        unbundledMs.push(round1(y.ms));
        bundledRss = x.rssMb;
        unbundledRss = y.rssMb;
      }
      const bMed = median(bundledMs);
      const uMed = median(unbundledMs);
      handlers.push({
        name: e.name,
        source: e.source,
        bundleBytes: b.bytes,
        bundleGzipBytes: b.gzip,
        largestInputs: b.largest,
        bundledImportMs: bundledMs,
        unbundledImportMs: unbundledMs,
        bundledMedianMs: round1(bMed),
        unbundledMedianMs: round1(uMed),
        speedup: Math.round((uMed / bMed) * 100) / 100,
        bundledRssMb: bundledRss,
        unbundledRssMb: unbundledRss,
      });
    }
    return { esbuildOptions: { ...options }, runs: o.runs, nodeVersion: process.version, handlers };
  } finally {
    await rm(bundleDir, { recursive: true, force: true });
    await rm(o.unbundledDir, { recursive: true, force: true });
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
