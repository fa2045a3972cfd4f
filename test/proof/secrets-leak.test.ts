import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Io } from '../../src/cli/output.js';
import type { ProofAccount } from './harness.js';
import type { LeakWatch } from './leaks.js';

/**
 * Invariant 6 end to end: the three Lambda handlers as packaged (middy, Powertools context and
 * metrics), the operator CLI with --json and --verbose, successes and every kind of failure, over
 * simulated weeks. Every secret access key the simulator issued and every RotationToken is looked
 * for in every log line, SNS message and confirmation mail, handler result, error (with its stack
 * and causes) and CLI output: zero hits. A planted secret shows the search finds what it should.
 */

// Everything is imported after POWERTOOLS_LOG_LEVEL=DEBUG is set, so the one Logger is built at
// DEBUG: the handlers' middleware resets the level to the configured one on every invocation.
type Modules = {
  h: typeof import('./harness.js');
  leaks: typeof import('./leaks.js');
  worlds: typeof import('./worlds.js');
  cli: typeof import('../../src/cli/main.js');
  config: typeof import('../../src/config.js');
};
let m: Modules;
let watch: LeakWatch;
let a: ProofAccount;
type Handlers = {
  rotation: (event: unknown, context: Context) => Promise<unknown>;
  rotateNow: (event: unknown, context: Context) => Promise<unknown>;
  audit: (event: unknown, context: Context) => Promise<unknown>;
};
let handlers: Handlers;

const context = (name: string): Context =>
  ({
    functionName: `iam-key-rotator-proof-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:iam-key-rotator-proof-${name}`,
    memoryLimitInMB: '256',
    awsRequestId: `req-${name}-${Math.floor(Math.random() * 1e9)}`,
    logGroupName: `/aws/lambda/iam-key-rotator-proof-${name}`,
    logStreamName: 'proof',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 300_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) as Context;

beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
  m = {
    h: await import('./harness.js'),
    leaks: await import('./leaks.js'),
    worlds: await import('./worlds.js'),
    cli: await import('../../src/cli/main.js'),
    config: await import('../../src/config.js'),
  };
  watch = new m.leaks.LeakWatch().start();
  let rotationHandler: Handlers['rotation'] | undefined;
  a = m.h.proofAccount({
    env: { ENFORCE: 'delete', CREATE_OWNER_SUBSCRIPTIONS: 'true' },
    rotationFunction: (event) => (rotationHandler as Handlers['rotation'])(event, context('rotation')),
  });
  // The handlers read their settings at cold start, as in Lambda.
  vi.stubEnv('TOPIC_ARN', a.topicArn);
  vi.stubEnv('ENFORCE', 'delete');
  vi.stubEnv('CREATE_OWNER_SUBSCRIPTIONS', 'true');
  m.config.resetConfig();
  const [rotation, rotateNow, audit] = await Promise.all([
    import('../../handlers/rotation.js'),
    import('../../handlers/rotate-now.js'),
    import('../../handlers/audit.js'),
  ]);
  rotationHandler = rotation.handler as Handlers['rotation'];
  handlers = {
    rotation: rotationHandler,
    rotateNow: rotateNow.handler as Handlers['rotateNow'],
    audit: audit.handler as Handlers['audit'],
  };
});

afterAll(() => {
  watch.stop();
  vi.unstubAllEnvs();
  m.config.resetConfig();
  a?.sim.restore();
});

async function handle(name: keyof Handlers, event: unknown): Promise<unknown> {
  try {
    const result = await handlers[name](event, context(name));
    watch.add(`handler.${name}.result`, result);
    return result;
  } catch (err) {
    watch.add(`handler.${name}.error`, err);
    return err;
  }
}

async function cli(argv: string[]): Promise<number> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { isTty: false, out: (t) => out.push(t), err: (t) => err.push(t) };
  const code = await m.cli.main(argv, io, {
    env: { TOPIC_ARN: a.topicArn, ENFORCE: 'delete', CREATE_OWNER_SUBSCRIPTIONS: 'true' },
    configureClients: () => {},
  });
  watch.add(`cli.${argv.join(' ')}.stdout`, out.join(''));
  watch.add(`cli.${argv.join(' ')}.stderr`, err.join(''));
  if (process.env.PROOF_DEBUG) m.h.figure(`${argv.join(' ')} -> ${out.join('')} ${err.join('')}`);
  return code;
}

describe('no secret access key or RotationToken leaves the service', () => {
  it('through a month of enrollment, rotations, audits and failures', async () => {
    const fn = ['--rotation-function', a.rotationArn];
    a.sim.addUser('alice', { tags: { owner: 'alice@example.com' } });
    a.sim.addUser('bob.builder', {});
    a.sim.addKey('bob.builder', { ageDays: 40, lastUsedDaysAgo: 1 });
    expect(await cli(['enroll', 'alice', '--owner', 'alice@example.com', ...fn])).toBe(0);
    expect(
      await cli(['--json', '--verbose', 'enroll', 'bob.builder', '--owner', 'bob@example.com', ...fn]),
    ).toBe(0);
    const legacy = await m.h.enrollUser(a, 'legacy-svc', {
      owner: 'legacy@example.com',
      legacy: true,
      ageDays: 85,
    });
    a.sim.addUser('carol', { tags: { owner: 'carol@example.com' } });
    a.sim.addKey('carol', { ageDays: 101, lastUsedDaysAgo: 3 });
    a.sim.addUser('no-owner', {});
    a.sim.addKey('no-owner', { ageDays: 90, lastUsedDaysAgo: 3 });

    // Rotations through the CLI and the rotate-now handler; statuses in both output forms.
    expect(await cli(['rotate', 'alice', '--wait'])).toBe(0);
    // Refused: bob's old key is still in use (the enrollment told him to move off it).
    expect(await cli(['--json', '--verbose', 'rotate', 'bob.builder', '--wait'])).toBe(1);
    await handle('rotateNow', { userName: 'legacy-svc', wait: true });
    await handle('rotateNow', { userName: 'alice', wait: true });
    expect(await cli(['status', 'alice'])).toBe(0);
    expect(await cli(['--json', 'status', 'legacy-svc'])).toBe(0);
    expect(await cli(['--json', 'status'])).toBe(0);

    // Failures: a blocked rotation (owner told), a pending value with the wrong secret, a bad
    // event, a confused deputy, errors with --verbose stack traces.
    const dana = await m.h.enrollUser(a, 'dana', { owner: 'dana@example.com' });
    a.sim.addKey('dana', { ageDays: 2, lastUsedDaysAgo: 0 });
    expect(await cli(['--verbose', 'rotate', 'dana', '--wait'])).toBe(1);
    await m.worlds.rotateSecret(dana.secretArn);
    await m.worlds.rotateSecret(legacy.secretArn);
    await handle('rotation', {
      Step: 'createSecret',
      SecretId: legacy.secretArn,
      ClientRequestToken: 'nope',
    });
    a.rotationTokens.push('sensitive-token-abc');
    await handle('rotation', {
      Step: 'bogus',
      SecretId: legacy.secretArn,
      ClientRequestToken: 'x',
      RotationToken: 'sensitive-token-abc',
    });
    await handle('rotateNow', { userName: 'carol' });
    await handle('rotateNow', { userName: 'alice', wait: 'yes' });
    await cli(['--verbose', 'rotate', 'ghost']);
    await cli(['--json', 'enroll', 'alice', '--owner', 'alice@example.com', ...fn]);

    // Audits over a month, the last ones with mails, subscriptions, disables and deletes.
    for (let day = 0; day < 30; day += 3) {
      await handle('audit', day % 2 === 0 ? { source: 'schedule' } : { dryRun: true });
      m.h.daysLater(a, 3);
    }
    expect(await cli(['--json', 'audit', '--dry-run'])).toBeLessThan(2);
    await cli(['--verbose', 'audit']);
    expect(await cli(['--verbose', 'unenroll', 'bob.builder'])).toBe(0);

    m.leaks.collectAccount(watch, a);
    // The runs did what they should: rotations happened, owners were mailed and subscribed.
    expect(a.sim.rotations().filter((r) => r.outcome === 'succeeded').length).toBeGreaterThanOrEqual(4);
    expect(a.sim.published().length).toBeGreaterThan(5);
    expect(a.sim.confirmationRequests().length).toBeGreaterThan(0);
    expect(a.rotationTokens.length).toBeGreaterThan(3);
    expect(m.h.keyAt(a, legacy.secretArn)).toBeDefined();

    m.h.figure(watch.summary('end-to-end (handlers, CLI, a month of audits)'));
    expect(watch.scan()).toEqual([]);
    expect(watch.secretCount).toBeGreaterThanOrEqual(8);
    expect(watch.logLines).toBeGreaterThan(100);
  });

  it('finds a planted secret (the search is not blind)', () => {
    const control = new m.leaks.LeakWatch();
    const secret = a.sim.issuedSecrets()[0] as string;
    control.collect(a.sim);
    control.add('planted', { note: `key ${secret.slice(0, 10)}${secret.slice(10)}` });
    control.add('clean', 'nothing to see');
    expect(control.scan()).toEqual([{ where: 'planted', secretPrefix: secret.slice(0, 6) }]);
  });
});
