import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeasuredSize, SizeResult } from './audit.js';
import { deployedEsbuildOptions, handlerEntries, median, yamlBlock } from './cold-start.js';
import { growthExponent } from './report.js';
import { type BenchResult, inChild, RESULTS_DIR, ROOT, runBench } from './run.js';

/**
 * `npm run bench` at a small size, so the benchmark cannot rot. Only what is deterministic is
 * asserted: call counts (the accounts are seeded, throttling retries are seeded in the child),
 * virtual-clock durations and the outcome of rotations. Real CPU times, memory and import times
 * are checked for shape only, never against a limit.
 *
 * At 50 users the audit's ≥ 100× call ratio does not hold, and need not: the scan costs a fixed
 * handful of IAM calls (report generation and polling, one authorization-details page, the alias)
 * while the baseline costs about three per user, so the ratio grows with the account (about 20×
 * here; the full run prints it at 500, 5,000 and 20,000 users). What holds at any size, and is
 * asserted, is that cost shape: the scan ≤ 10 calls, the baseline 1 + 2 per user + 1 per key.
 */

const USERS = 50;
/** A seed whose 50-user account has a rotation and disables due today (the checks are not vacuous). */
const SEED = 5;
let result: BenchResult;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
  result = await runBench({
    sizes: [USERS],
    seed: SEED,
    delaysSeconds: [0, 5],
    importRuns: 1,
    outFile: join(dir, 'latest.json'),
    // Inside the repository, so the unbundled handlers resolve node_modules.
    unbundledDir: join(RESULTS_DIR, `unbundled-smoke-${process.pid}`),
  });
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(join(RESULTS_DIR, `unbundled-smoke-${process.pid}`), { recursive: true, force: true });
});

const size = (): MeasuredSize => {
  const s = result.sizes[0];
  if (!s) throw new Error('no size measured');
  return s;
};

describe('npm run bench at 50 users', () => {
  it('scans the whole account with a fixed handful of IAM calls', () => {
    const s = size();
    expect(s.users).toBe(USERS);
    expect(s.account.users).toBe(USERS);
    const op = s.audit.calls.byOperation;
    // One page of authorization details (1,000 users a page) and no per-user reads in the scan.
    expect(op.GetAccountAuthorizationDetails).toBe(1);
    expect(op.GetCredentialReport).toBe(1);
    expect(s.audit.scanIamCalls).toBeLessThanOrEqual(10);
    expect(s.idle.audit.calls.iam).toBe(s.idle.audit.scanIamCalls);
    // Beyond the scan, IAM calls are only for users acted on: a read and a change each at most.
    expect(s.audit.actionIamCalls).toBeLessThanOrEqual(2 * s.audit.usersWithIamAction);
    expect(s.audit.calls.iam).toBe(s.audit.scanIamCalls + s.audit.actionIamCalls);
  });

  it('measures the baseline on the same account: ListUsers pages, then every user and key', () => {
    const s = size();
    const b = s.baseline;
    expect(b.usersSeen).toBe(USERS);
    expect(b.keysSeen).toBe(s.account.keys);
    // Throttled attempts are counted apart: the calls that got through are exactly the scan's.
    expect(b.calls.iam - b.calls.iamThrottled).toBe(1 + 2 * USERS + s.account.keys);
    expect(b.calls.iam).toBeGreaterThan(b.calls.iamThrottled);
    // The nobody-due account has the same users and key slots, so the baseline costs the same.
    expect(s.idle.account.keys).toBe(s.account.keys);
    expect(s.idle.baseline.calls.iam - s.idle.baseline.calls.iamThrottled).toBe(
      1 + 2 * USERS + s.account.keys,
    );
  });

  it('reports ratios that follow from the cost shape, and audit time far below the baseline', () => {
    const s = size();
    expect(s.baseline.calls.iam / s.audit.calls.iam).toBeGreaterThan(5);
    expect(s.idle.baseline.calls.iam / s.idle.audit.calls.iam).toBeGreaterThan((2 * USERS) / 10);
    // 15 IAM calls a second: the baseline's ~150 calls take at least 10 virtual seconds.
    expect(s.baseline.simulatedSeconds).toBeGreaterThan((1 + 2 * USERS) / s.model.iamRatePerSecond);
    expect(s.audit.simulatedSeconds).toBeLessThan(s.baseline.simulatedSeconds);
  });

  it('acts on the due users of the mixed account and on nobody in the nobody-due one', () => {
    const s = size();
    expect(s.account.dueForRotation).toBeGreaterThan(0);
    expect(s.account.dueForDisable).toBeGreaterThan(0);
    expect(s.audit.ok).toBe(true);
    expect(s.audit.rotationsStarted).toBe(s.account.dueForRotation);
    expect(s.audit.usersWithIamAction).toBe(s.account.dueForDisable);
    expect(s.rotations.rotations).toBe(s.audit.rotationsStarted);
    expect(s.rotations.succeeded).toBe(s.rotations.rotations);
    expect(s.idle.audit.actions).toEqual({});
    expect(s.idle.audit.ownersNotified).toBe(0);
  });

  it('is deterministic: the same seed gives the same calls and virtual durations', async () => {
    const again = await inChild<SizeResult>({ task: 'size', users: USERS, seed: SEED, model: size().model });
    const s = size();
    expect(again.account.fingerprint).toBe(s.account.fingerprint);
    expect(again.audit.calls).toEqual(s.audit.calls);
    expect(again.audit.simulatedSeconds).toBe(s.audit.simulatedSeconds);
    expect(again.baseline.calls).toEqual(s.baseline.calls);
    expect(again.baseline.simulatedSeconds).toBe(s.baseline.simulatedSeconds);
  }, 60_000);

  it('measures the audit memory in its own process', () => {
    const m = size().memory;
    expect(m.users).toBe(USERS);
    expect(m.samples).toBeGreaterThanOrEqual(2);
    expect(m.peakJsMb).toBeGreaterThanOrEqual(m.beforeAuditJsMb);
    expect(m.auditJsMb).toBeCloseTo(m.peakJsMb - m.beforeAuditJsMb, 0);
    expect(m.idleRssMb).toBeGreaterThan(0);
  });

  it('rotates within 1.2 × delay + 1 s of virtual time and fails cleanly when the key never works', () => {
    const runs = result.rotation.runs;
    expect(runs.map((r) => r.delaySeconds)).toEqual([0, 5]);
    for (const r of runs) {
      expect(r.succeeded).toBe(true);
      // The new key cannot be verified before it propagates.
      expect(r.totalSeconds).toBeGreaterThanOrEqual(r.delaySeconds);
      expect(r.totalSeconds).toBeLessThanOrEqual(1.2 * r.delaySeconds + 1);
    }
    expect(runs[0]?.stsAttempts).toBe(1);
    expect(runs[1]?.stsAttempts).toBeGreaterThan(1);
    const f = result.rotation.failure;
    expect(f.outcome).toBe('failed');
    expect(f.currentVersionUnchanged && f.currentKeyUnchanged && f.currentKeyStillActive).toBe(true);
    expect(f.pendingNotPromoted).toBe(true);
    expect(f.keysOfUser).toBeLessThanOrEqual(2);
    expect(f.clean).toBe(true);
    // Without call latency, the only wait is the propagation delay.
    expect(result.rotationNoLatency.runs[0]?.totalSeconds).toBe(0);
  });

  it('bundles every serverless.yml function with its esbuild options and times both imports', () => {
    const cold = result.coldStart;
    expect(cold?.handlers.map((h) => h.name)).toEqual(['rotation', 'audit', 'rotateNow']);
    expect(cold?.esbuildOptions).toMatchObject({
      bundle: true,
      minify: true,
      treeShaking: true,
      format: 'esm',
      target: 'node22',
      platform: 'node',
      // serverless.yml's custom.esbuild.exclude: the credential providers Lambda never reaches.
      external: expect.arrayContaining(['@aws-sdk/credential-provider-sso', '@aws-sdk/nested-clients']),
      outExtension: { '.js': '.mjs' },
    });
    for (const h of cold?.handlers ?? []) {
      expect(h.bundleBytes).toBeGreaterThan(h.bundleGzipBytes);
      expect(h.bundledImportMs).toHaveLength(1);
      expect(h.unbundledImportMs).toHaveLength(1);
      expect(h.speedup).toBeCloseTo(h.unbundledMedianMs / h.bundledMedianMs, 1);
    }
  });

  it('checks every target and writes the figures as JSON', async () => {
    const ids = result.checks.map((c) => c.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'scan-calls',
        'per-user-calls',
        'call-ratio',
        'call-ratio-nobody-due',
        'duration',
        'memory-256',
        'rotation-0s',
        'rotation-5s',
        'rotation-never-valid',
        'bundle-audit',
        'import-audit',
      ]),
    );
    const scan = result.checks.find((c) => c.id === 'scan-calls');
    expect(scan?.met).toBe(size().audit.scanIamCalls <= 10);
    const json = JSON.parse(await readFile(join(dir, 'latest.json'), 'utf8')) as BenchResult;
    expect(json.sizes[0]?.audit.calls).toEqual(size().audit.calls);
    expect(json.checks).toEqual(result.checks);
    expect(result.report).toContain('| users');
    expect(result.report).toContain(join(dir, 'latest.json'));
  });
});

describe('bench helpers', () => {
  it('reads serverless.yml blocks, skipping sequences, and maps custom.esbuild as serverless-esbuild does', () => {
    const yml = [
      'custom:',
      '  esbuild:',
      '    minify: true',
      '    format: esm',
      '    outputFileExtension: .mjs',
      '    mainFields: [module, main]',
      '    banner:',
      '      js: "import x from \'y\';"',
      '    exclude: []',
      'functions:',
      '  one:',
      '    handler: handlers/one.handler',
      '    events:',
      '      - schedule:',
      '          rate: cron(0 6 * * ? *)',
      '  two:',
      '    handler: handlers/two.handler',
    ].join('\n');
    expect(yamlBlock(yml, ['custom', 'esbuild']).banner).toEqual({ js: "import x from 'y';" });
    expect(deployedEsbuildOptions(yml)).toEqual({
      minify: true,
      format: 'esm',
      mainFields: ['module', 'main'],
      banner: { js: "import x from 'y';" },
      external: [],
      bundle: true,
      platform: 'node',
      outExtension: { '.js': '.mjs' },
    });
    expect(handlerEntries(yml)).toEqual([
      { name: 'one', source: 'handlers/one.ts' },
      { name: 'two', source: 'handlers/two.ts' },
    ]);
    // Without `exclude`, serverless-esbuild leaves the v2 SDK out of the bundle.
    expect(deployedEsbuildOptions('custom:\n  esbuild:\n    minify: true\n').external).toEqual(['aws-sdk']);
  });

  it('reads the real serverless.yml', () => {
    const yml = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
    expect(handlerEntries(yml).map((h) => h.source)).toContain('handlers/audit.ts');
  });

  it('computes medians and growth exponents', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(growthExponent(1000, 10, 4000, 40)).toBeCloseTo(1, 10);
    expect(growthExponent(1000, 10, 4000, 20)).toBeCloseTo(0.5, 10);
    expect(growthExponent(1000, 0, 4000, 20)).toBeNaN();
  });
});
