import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resetClients } from '../../src/aws/clients.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/output.js';
import { loadConfig } from '../../src/config.js';
import { rotate } from '../../src/rotation/index.js';
import { SimAccount } from '../sim/index.js';
import { enrolledUser, keyPairAt } from './fixtures.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'src/cli/bin.mjs');
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
const ANSI = /\u001b\[[0-9;]*m/;

function capture(isTty = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), isTty };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

let sim: SimAccount;
const ENV = { AWS_REGION: 'us-east-1' };

/**
 * alice: enrolled, key 80 days old. bob: not enrolled, key 120 days old (expired). carol: no keys.
 * The rotation function is registered under the names enrollment defaults to.
 */
async function world(): Promise<void> {
  sim = new SimAccount({ seed: 23 }).install();
  resetClients();
  const cfg = loadConfig(ENV);
  for (const name of [
    'iam-key-rotator-rotation',
    'iam-key-rotator-dev-rotation',
    'iam-key-rotator-prod-rotation',
    'custom-rotator',
  ]) {
    sim.registerRotationFunction(sim.rotationFunctionArn(name), (e) => rotate(e, { config: cfg }));
  }
  await enrolledUser(sim, { name: 'alice', owner: 'alice@example.com' });
  sim.addUser('bob', { tags: { owner: 'bob@example.com' } });
  sim.addKey('bob', { ageDays: 120, lastUsedDaysAgo: 1 });
  sim.addUser('carol');
}

afterEach(() => {
  sim?.restore();
  resetClients();
});

async function run(argv: string[], o: { isTty?: boolean; env?: Record<string, string> } = {}) {
  const c = capture(o.isTty);
  const code = await main(argv, c.io, { env: { ...ENV, ...o.env } });
  // Invariant 6: nothing the account ever issued as a secret reaches the terminal.
  for (const secret of sim.issuedSecrets()) {
    expect(c.stdout()).not.toContain(secret);
    expect(c.stderr()).not.toContain(secret);
  }
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('CLI in-process on the simulated account', () => {
  it('audit --dry-run --json: the summary on stdout, exit 1 for the expired key, nothing changed', async () => {
    await world();
    const before = sim.snapshot();
    const r = await run(['audit', '--dry-run', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.summary).toMatchObject({ accountId: '123456789012', dryRun: true, users: 3, keys: 2 });
    expect(out.summary.keysByStatus.expired).toBe(1);
    expect(out.findings.map((u: { userName: string }) => u.userName)).toEqual(
      expect.arrayContaining(['alice', 'bob', 'carol']),
    );
    expect(sim.snapshot()).toEqual(before);
  });

  it('audit: a readable report, no colour when not on a terminal', async () => {
    await world();
    const r = await run(['audit']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^Audit of account 123456789012, 2026-06-01 \d\d:\d\d UTC\n3 users, 2 access keys/,
    );
    expect(r.stdout).toMatch(/\nexpired +1\n/);
    expect(r.stdout).toContain('Mail: none sent (TOPIC_ARN is not set)');
    expect(r.stdout).toContain('Findings: 1 expired key(s), 0 failure(s).');
    expect(r.stdout).not.toMatch(ANSI);
    expect(r.stderr).toBe('');
  });

  it('audit on a terminal: colour on stdout, progress on stderr', async () => {
    await world();
    const r = await run(['audit', '--dry-run'], { isTty: true });
    expect(r.stdout).toMatch(ANSI);
    expect(r.stderr).toContain('Auditing the account');
  });

  it('audit exits 0 when no key is expired and nothing failed', async () => {
    sim = new SimAccount({ seed: 3 }).install();
    resetClients();
    sim.addUser('young', { tags: { owner: 'y@example.com' } });
    sim.addKey('young', { ageDays: 10, lastUsedDaysAgo: 1 });
    const r = await run(['audit']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No expired keys, no failures.');
  });

  it('status lists enrolled users; status <user> shows keys and stages', async () => {
    await world();
    const all = await run(['status', '--json']);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout).enrolled).toEqual([
      expect.objectContaining({
        userName: 'alice',
        secretName: 'iam-key-rotator/alice',
        rotationEnabled: true,
      }),
    ]);

    const one = await run(['status', 'alice', '--json']);
    const status = JSON.parse(one.stdout);
    expect(status).toMatchObject({ userName: 'alice', owner: 'alice@example.com', enrolled: true });
    expect(status.keys).toEqual([
      expect.objectContaining({ status: 'Active', ageDays: 80, stages: ['AWSCURRENT'], policy: 'warning' }),
    ]);

    const human = await run(['status', 'bob']);
    expect(human.stdout).toContain('User bob (not enrolled)');
    const lines = human.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('ACCESS KEY'));
    const row = lines.find((l) => l.startsWith('AKIA'));
    expect(header?.indexOf('STATUS')).toBe(row?.indexOf('Active'));
    expect(human.stdout).toMatch(/is older than 90 days/);
  });

  it('rotate <user> --wait --json: the new key id, never its secret', async () => {
    await world();
    const r = await run(['rotate', 'alice', '--wait', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.status).toBe('completed');
    expect(result.accessKeyId).toBe(keyPairAt(sim, result.secretArn, 'AWSCURRENT')?.accessKeyId);
    expect(Object.keys(result).sort()).toEqual(
      ['accessKeyId', 'previousAccessKeyId', 'secretArn', 'status', 'userName', 'versionId'].sort(),
    );
  });

  it('rotate <user>: a human summary', async () => {
    await world();
    const r = await run(['rotate', 'alice', '--wait']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Rotation of alice completed\.\n {2}secret +arn:aws:secretsmanager:/);
    expect(r.stdout).toMatch(/new key +AKIA[A-Z0-9]{16} \(AWSCURRENT\)/);
    expect(r.stdout).toContain('stays active 7 days');
  });

  it('--verbose sends the service logs to stderr and keeps stdout parseable', async () => {
    await world();
    const r = await run(['--verbose', 'rotate', 'alice', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe('started');
    expect(r.stderr).toMatch(/"message": ?"Rotation started"/);
  });

  it('a failed operation: exit 1, one line on stderr, the error as JSON with --json', async () => {
    await world();
    const before = sim.snapshot();
    const r = await run(['rotate', 'bob']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      'error: user bob is not enrolled: it has no iam-key-rotator:secret tag (enroll it with: iam-key-rotator enroll bob --owner <email>)',
      '',
    ]);
    const j = await run(['rotate', 'nobody', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({
      error: { type: 'UnknownUserError', message: 'IAM user nobody does not exist', exitCode: 1 },
    });
    expect(sim.snapshot()).toEqual(before);
  });

  it('bad input caught by the library is a usage error too (exit 2)', async () => {
    await world();
    const r = await run(['enroll', 'carol', '--owner', 'carol-at-example']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: owner must be an email address (got "carol-at-example")\n');
  });

  it('enroll uses the stage default function in this account and region, then rotate works', async () => {
    await world();
    const r = await run(['enroll', 'carol', '--owner', 'carol@example.com', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ userName: 'carol', mode: 'created', owner: 'carol@example.com' });
    expect(sim.secret('iam-key-rotator/carol')?.rotationLambdaArn).toBe(
      'arn:aws:lambda:us-east-1:123456789012:function:iam-key-rotator-dev-rotation',
    );
    expect((await run(['rotate', 'carol', '--wait'])).code).toBe(0);
  });

  it.each([
    [['--stage', 'prod'], 'arn:aws:lambda:us-east-1:123456789012:function:iam-key-rotator-prod-rotation'],
    [
      ['--rotation-function', 'custom-rotator'],
      'arn:aws:lambda:us-east-1:123456789012:function:custom-rotator',
    ],
    [
      ['--rotation-function', 'arn:aws:lambda:us-east-1:123456789012:function:custom-rotator'],
      'arn:aws:lambda:us-east-1:123456789012:function:custom-rotator',
    ],
  ])('enroll %j attaches %s', async (args, arn) => {
    await world();
    const r = await run([
      'enroll',
      'carol',
      '--owner',
      'carol@example.com',
      '--schedule-days',
      '30',
      ...args,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Enrolled carol \(created secret iam-key-rotator\/carol\)\./);
    expect(sim.secret('iam-key-rotator/carol')).toMatchObject({ rotationLambdaArn: arn, rotationDays: 30 });
  });

  it.each([
    [['--schedule-days', 'weekly'], '--schedule-days must be a whole number from 1 to 1000 (got "weekly")'],
    [['--stage', 'prod', '--rotation-function', 'x'], 'give --rotation-function or --stage, not both'],
    [['--stage', 'pr od'], '--stage "pr od" is not a serverless stage name (letters, digits, -)'],
  ])('enroll %j is a usage error', async (args, message) => {
    await world();
    const before = sim.snapshot();
    const r = await run(['enroll', 'carol', '--owner', 'carol@example.com', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: ${message}\nsee iam-key-rotator enroll --help\n`);
    expect(sim.snapshot()).toEqual(before);
  });

  it('unenroll keeps the keys and says so', async () => {
    await world();
    const keys = sim.keys('alice').map((k) => k.accessKeyId);
    const r = await run(['unenroll', 'alice', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).keptKeyIds).toEqual(keys);
    expect(sim.keys('alice').map((k) => k.accessKeyId)).toEqual(keys);
    const human = await run(['status', 'alice']);
    expect(human.stdout).toContain('User alice (not enrolled)');
  });
});

/** Runs the package bin in a child process; `preload` is an ES module run first (the sim). */
function spawnBin(
  args: string[],
  o: { env?: Record<string, string>; preload?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, ...ENV, ...o.env };
  delete env.AWS_PROFILE;
  const nodeArgs = o.preload ? ['--import', 'tsx', '--import', pathToFileURL(o.preload).href, BIN] : [BIN];
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('CLI as a child process (the package bin)', () => {
  let dir: string;
  let preload: string;
  beforeAll(() => {
    // The simulated account, installed in the child before the bin runs: the CLI itself has no
    // test hook. The sim mocks the SDK classes the bin's modules import (same module URLs).
    dir = mkdtempSync(join(tmpdir(), 'iam-key-rotator-cli-'));
    preload = join(dir, 'sim.mjs');
    const from = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, p)).href);
    writeFileSync(
      preload,
      `const { SimAccount } = await import(${from('test/sim/index.ts')});
const { enrolledUser } = await import(${from('test/scenario/fixtures.ts')});
const { rotate } = await import(${from('src/rotation/index.ts')});
const { loadConfig } = await import(${from('src/config.ts')});
const sim = new SimAccount({ seed: 23 }).install();
const cfg = loadConfig({});
sim.registerRotationFunction(sim.rotationFunctionArn(), (e) => rotate(e, { config: cfg }));
await enrolledUser(sim, { name: 'alice', owner: 'alice@example.com' });
sim.addUser('bob', { tags: { owner: 'bob@example.com' } });
sim.addKey('bob', { ageDays: 120, lastUsedDaysAgo: 1 });
`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help: exit 0, the help on stdout', async () => {
    const r = await spawnBin(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: iam-key-rotator [global options] <command> [options]');
    expect(r.stderr).toBe('');
  });

  it('rotate --help', async () => {
    const r = await spawnBin(['rotate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: iam-key-rotator rotate <user> \[--wait\]/);
  });

  it('a usage error: exit 2, one line and the help pointer on stderr', async () => {
    const r = await spawnBin(['rotate']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'error: missing argument: iam-key-rotator rotate <user> [--wait] [--timeout <seconds>]\nsee iam-key-rotator rotate --help\n',
    );
  });

  it('bad settings: exit 2, the variable named, and the error as JSON with --json', async () => {
    const r = await spawnBin(['--json', 'status'], { env: { MAX_KEY_AGE_DAYS: 'ninety' } });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        type: 'ConfigError',
        message: 'Invalid setting MAX_KEY_AGE_DAYS: must be a whole number of days (got "ninety")',
        exitCode: 2,
      },
    });
    expect(r.stderr).toBe(
      'error: Invalid setting MAX_KEY_AGE_DAYS: must be a whole number of days (got "ninety")\n',
    );
  });

  it('status <user> --json on a simulated account', async () => {
    const r = await spawnBin(['status', 'alice', '--json'], { preload });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout);
    expect(status).toMatchObject({ userName: 'alice', enrolled: true });
    expect(status.keys[0].stages).toEqual(['AWSCURRENT']);
  });

  it('rotate <user> --wait --json on a simulated account', async () => {
    const r = await spawnBin(['rotate', 'alice', '--wait', '--json'], { preload });
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ userName: 'alice', status: 'completed' });
    expect(result.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(result.accessKeyId).not.toBe(result.previousAccessKeyId);
  });

  it('audit --dry-run --json on a simulated account: exit 1 for the expired key', async () => {
    const r = await spawnBin(['audit', '--dry-run', '--json'], { preload });
    expect(r.code).toBe(1);
    const { summary } = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ dryRun: true, users: 2, keys: 2 });
    expect(summary.keysByStatus.expired).toBe(1);
  });

  it('a failed operation on a simulated account: exit 1, one line, no stack', async () => {
    const r = await spawnBin(['rotate', 'bob'], { preload });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: user bob is not enrolled: it has no iam-key-rotator:secret tag (enroll it with: iam-key-rotator enroll bob --owner <email>)\n',
    );
  });
});
