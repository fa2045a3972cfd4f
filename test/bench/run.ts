import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_MODEL,
  type MeasuredSize,
  type MemoryFigures,
  type Model,
  type SizeResult,
} from './audit.js';
import { type ColdStartResult, measureColdStart } from './cold-start.js';
import { type BenchFigures, type Check, checks, renderReport } from './report.js';
import type { RotationResult } from './rotation.js';
import type { Task } from './worker.js';

/**
 * `npm run bench`: the figures of issue 5 in one run. Every section that runs the service's code
 * does so in a fresh child process (tsx loader, --expose-gc, a clean environment with fake
 * credentials and logging off); this process only forks, bundles and prints.
 */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = join(ROOT, 'test', 'bench', 'results');

export interface BenchOptions {
  /** Account sizes (users); default 500, 5,000 and 20,000. */
  sizes?: number[];
  seed?: number;
  model?: Model;
  /** Propagation delays (seconds) for the rotation latency section. */
  delaysSeconds?: number[];
  /** Fresh processes per handler and variant for import times; 0 skips the cold start section. */
  importRuns?: number;
  /** Where the JSON goes; default test/bench/results/latest.json. */
  outFile?: string;
  /** Where the unbundled JS for the cold start comparison goes (inside the repository). */
  unbundledDir?: string;
  /** Progress lines on stderr. */
  progress?: (line: string) => void;
}

export interface BenchResult extends BenchFigures {
  generatedAt: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  wallSeconds: number;
  checks: Check[];
  jsonPath: string;
  report: string;
}

export const DEFAULT_SIZES = [500, 5_000, 20_000];
export const DEFAULT_DELAYS = [0, 5, 15, 30];

/** The environment of the child processes: no real credentials or profiles can leak in. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIATESTFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: 'test-only-not-a-real-secret-key-000000000',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'SystemRoot']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/** Runs one task in a fresh child process and returns its figures. */
export function inChild<T>(task: Task): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(join(ROOT, 'test', 'bench', 'worker.ts'), [], {
      cwd: ROOT,
      env: childEnv(),
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let settled = false;
    child.once('message', (m: { ok: boolean; result?: T; error?: string }) => {
      settled = true;
      if (m.ok) resolvePromise(m.result as T);
      else reject(new Error(`benchmark task ${task.task} failed: ${m.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`benchmark task ${task.task} exited with ${code}: ${stderr}`));
    });
    child.send(task);
  });
}

export async function runBench(options: BenchOptions = {}): Promise<BenchResult> {
  const started = performance.now();
  const seed = options.seed ?? 42;
  const model = options.model ?? DEFAULT_MODEL;
  const sizes = options.sizes ?? DEFAULT_SIZES;
  const delays = options.delaysSeconds ?? DEFAULT_DELAYS;
  const importRuns = options.importRuns ?? 7;
  const progress = options.progress ?? (() => {});

  const sizeResults: MeasuredSize[] = [];
  for (const users of sizes) {
    progress(`audit and baseline, ${users} users...`);
    const size = await inChild<SizeResult>({ task: 'size', users, seed, model });
    progress(`audit memory, ${users} users...`);
    const c = size.audit.calls;
    const auditCalls = c.iam + c.sns + c.secretsManager + c.sts;
    const memory = await inChild<MemoryFigures>({ task: 'memory', users, seed, model, auditCalls });
    sizeResults.push({ ...size, memory });
  }
  progress('rotation latency...');
  const rotation = await inChild<RotationResult>({
    task: 'rotation',
    delaysSeconds: delays,
    latencyMs: model.latencyMs,
    seed,
  });
  const rotationNoLatency = await inChild<RotationResult>({
    task: 'rotation',
    delaysSeconds: delays,
    latencyMs: 0,
    seed,
  });
  let coldStart: ColdStartResult | undefined;
  if (importRuns > 0) {
    progress('cold start...');
    coldStart = await measureColdStart({
      root: ROOT,
      unbundledDir: options.unbundledDir ?? join(RESULTS_DIR, 'unbundled'),
      runs: importRuns,
    });
  }

  const figures: BenchFigures = { seed, model, sizes: sizeResults, rotation, rotationNoLatency, coldStart };
  const list = checks(figures);
  const jsonPath = options.outFile ?? join(RESULTS_DIR, 'latest.json');
  const wallSeconds = Math.round((performance.now() - started) / 100) / 10;
  const report = renderReport(figures, list, { jsonPath, wallSeconds });
  const result: BenchResult = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    wallSeconds,
    ...figures,
    checks: list,
    jsonPath,
    report,
  };
  await mkdir(dirname(jsonPath), { recursive: true });
  const { report: _text, ...json } = result;
  await writeFile(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  return result;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args.find((a) => a.startsWith('--sizes='));
  const sizes = sizesArg
    ?.slice('--sizes='.length)
    .split(',')
    .map((s) => Number(s.replace(/_/g, '')));
  if (sizes?.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--sizes= takes whole numbers, e.g. --sizes=500,5000');
  const result = await runBench({
    ...(sizes && { sizes }),
    progress: (line) => process.stderr.write(`bench: ${line}\n`),
  });
  process.stdout.write(
    `## iam-key-rotator benchmark (${result.generatedAt.slice(0, 10)}, Node ${result.node}, ${result.platform}, ` +
      `${result.cpus} CPUs: ${result.cpuModel})\n\n${result.report}`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  });
}
