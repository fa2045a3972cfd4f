import {
  CreateAccessKeyCommand,
  GetUserCommand,
  IAMClient,
  ListUsersCommand,
  ListVirtualMFADevicesCommand,
  TagUserCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient, ThrottledException } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it } from 'vitest';
import { isThrottling, withRetry } from '../../src/aws/retry.js';
import { clock, systemClock } from '../../src/clock.js';
import type { SimOptions } from './index.js';
import { SimAccount, SimClock, SimulatedCrash, SimulatedFault } from './index.js';

let sim: SimAccount | undefined;
afterEach(() => sim?.restore());
const start = (o: SimOptions = {}) => {
  sim = new SimAccount(o).install();
  return sim;
};
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & { $retryable?: unknown },
  );

describe('virtual clock', () => {
  it('sleeps without real time and overlaps concurrent sleepers', async () => {
    const c = new SimClock(new Date('2026-01-01T00:00:00Z'));
    const woke: string[] = [];
    await Promise.all([
      c.sleep(8_000).then(() => woke.push(`a@${c.nowMs()}`)),
      c.sleep(3_000).then(() => woke.push(`b@${c.nowMs()}`)),
      c.sleep(8_000).then(() => woke.push(`c@${c.nowMs()}`)),
    ]);
    const t0 = new Date('2026-01-01T00:00:00Z').getTime();
    expect(woke).toEqual([`b@${t0 + 3_000}`, `a@${t0 + 8_000}`, `c@${t0 + 8_000}`]);
    expect(c.now()).toEqual(new Date('2026-01-01T00:00:08Z'));
  });

  it('advance() fires background timers that fall due, in order', () => {
    const c = new SimClock(new Date(0));
    const fired: number[] = [];
    c.at(2_000, () => fired.push(2));
    c.at(1_000, () => fired.push(1));
    const cancel = c.at(1_500, () => fired.push(15));
    cancel();
    c.advance(999);
    expect(fired).toEqual([]);
    c.advance(5_000);
    expect(fired).toEqual([1, 2]);
    expect(c.nowMs()).toBe(5_999);
  });

  it('install() makes it the service clock and restore() puts the system clock back', () => {
    const s = start();
    expect(clock()).toBe(s.clock);
    s.restore();
    expect(clock()).toBe(systemClock);
    sim = undefined;
  });

  it('a second account installed over the first keeps working after the first is restored', async () => {
    const first = start();
    const second = new SimAccount({ accountId: '210987654321' }).install();
    first.restore();
    expect(clock()).toBe(second.clock);
    sim = second;
    second.addUser('bob');
    const out = await new IAMClient({}).send(new GetUserCommand({ UserName: 'bob' }));
    expect(out.User?.Arn).toBe('arn:aws:iam::210987654321:user/bob');
  });
});

describe('latency and the call log', () => {
  it('advances the clock by latencyMs per call and counts calls per operation and service', async () => {
    const s = start({ latencyMs: 50 });
    s.addUser('alice');
    const iam = new IAMClient({});
    await iam.send(new GetUserCommand({ UserName: 'alice' }));
    await iam.send(new ListUsersCommand({}));
    await errorOf(iam.send(new GetUserCommand({ UserName: 'nobody' })));
    expect(s.clock.now()).toEqual(new Date('2026-06-01T00:00:00.150Z'));
    expect(s.calls.count()).toBe(3);
    expect(s.calls.count('GetUser')).toBe(2);
    expect(s.calls.count('GetUser', 'sts')).toBe(0);
    expect(s.calls.byOperation()).toEqual({ GetUser: 2, ListUsers: 1 });
    expect(s.calls.byService()).toEqual({ iam: 3, sts: 0, secretsManager: 0, sns: 0 });
    expect(s.calls.entries()[2]).toMatchObject({
      service: 'iam',
      op: 'GetUser',
      ok: false,
      error: 'NoSuchEntityException',
    });
    s.calls.reset();
    expect(s.calls.count()).toBe(0);
  });

  it('rejects commands it does not model, naming them', async () => {
    start();
    await expect(new IAMClient({}).send(new ListVirtualMFADevicesCommand({}))).rejects.toThrow(
      /ListVirtualMFADevicesCommand/,
    );
  });

  it('does not log or fault seeding', () => {
    const s = start();
    s.failCall('CreateAccessKey');
    s.addUser('alice');
    s.addKey('alice');
    expect(s.calls.count()).toBe(0);
  });
});

describe('throttling', () => {
  it('throttles IAM account-wide beyond the token bucket, with no effect, and refills on the virtual clock', async () => {
    const s = start({ throttle: { iam: { ratePerSecond: 2, burst: 2 } } });
    s.addUser('alice');
    const iam = new IAMClient({});
    const tag = (v: string) =>
      iam.send(new TagUserCommand({ UserName: 'alice', Tags: [{ Key: 't', Value: v }] }));
    await tag('1');
    await tag('2');
    const err = await errorOf(tag('3'));
    expect(err?.name).toBe('Throttling');
    expect(err?.message).toBe('Rate exceeded');
    expect(err?.$retryable).toEqual({ throttling: true });
    expect(s.user('alice')?.tags).toEqual({ t: '2' });
    // Other services have their own buckets.
    const sm = new SecretsManagerClient({});
    s.addSecret({ name: 's', value: 'v' });
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 's' }))).resolves.toBeDefined();
    await s.clock.sleep(500);
    await tag('4');
    expect(s.user('alice')?.tags).toEqual({ t: '4' });
    expect(s.calls.failures()).toHaveLength(1);
  });

  it('is retried by withRetry on the virtual clock', async () => {
    const s = start({ throttle: { iam: { ratePerSecond: 1 } } });
    for (let i = 0; i < 5; i++) s.addUser(`u${i}`);
    const iam = new IAMClient({});
    for (let i = 0; i < 5; i++) await withRetry(() => iam.send(new GetUserCommand({ UserName: `u${i}` })));
    expect(s.calls.count('GetUser')).toBeGreaterThan(5);
    expect(s.clock.now().getTime()).toBeGreaterThanOrEqual(new Date('2026-06-01T00:00:04Z').getTime());
  });

  it("throws each service's own throttling error, which withRetry recognises", async () => {
    const s = start({ throttle: { probability: 1 } });
    s.addUser('alice');
    s.addSecret({ name: 's', value: 'v' });
    const topic = s.addTopic('t');
    const errors = await Promise.all([
      errorOf(new IAMClient({}).send(new GetUserCommand({ UserName: 'alice' }))),
      errorOf(new STSClient({}).send(new GetCallerIdentityCommand({}))),
      errorOf(new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: 's' }))),
      errorOf(new SNSClient({}).send(new PublishCommand({ TopicArn: topic, Message: 'm' }))),
    ]);
    expect(errors.map((e) => e?.name)).toEqual([
      'Throttling',
      'Throttling',
      'ThrottlingException',
      'ThrottledException',
    ]);
    expect(errors[3]).toBeInstanceOf(ThrottledException);
    for (const e of errors) expect(isThrottling(e)).toBe(true);
    expect(s.published()).toEqual([]);
  });

  it('throttles a seeded random fraction of calls, the same ones for the same seed', async () => {
    const run = async (seed: number) => {
      const s = start({ seed, throttle: { probability: 0.3 } });
      s.addTopic('t');
      const sns = new SNSClient({});
      const pattern: string[] = [];
      for (let i = 0; i < 60; i++) {
        const err = await errorOf(
          sns.send(new PublishCommand({ TopicArn: s.topics()[0], Message: `m${i}` })),
        );
        pattern.push(err ? err.name : 'ok');
      }
      s.restore();
      return { pattern, published: s.published().length };
    };
    const a = await run(3);
    const b = await run(3);
    const c = await run(4);
    expect(a.pattern).toEqual(b.pattern);
    expect(a.pattern).not.toEqual(c.pattern);
    const throttled = a.pattern.filter((p) => p === 'ThrottledException').length;
    expect(throttled).toBeGreaterThan(5);
    // withRetry (src/aws/retry.ts) must recognise each service's throttling error.
    expect(isThrottling(Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' }))).toBe(
      true,
    );
    expect(throttled).toBeLessThan(35);
    expect(a.published).toBe(60 - throttled);
  });
});

describe('faults', () => {
  it('failCall fails the nth call (and `times` after it) without effect', async () => {
    const s = start();
    s.addUser('alice');
    const iam = new IAMClient({});
    s.failCall('CreateAccessKey', { nth: 2 });
    await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }));
    const err = await errorOf(iam.send(new CreateAccessKeyCommand({ UserName: 'alice' })));
    expect(err).toBeInstanceOf(SimulatedFault);
    expect(s.keys('alice')).toHaveLength(1);
    await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }));
    expect(s.keys('alice')).toHaveLength(2);

    const custom = new Error('boom');
    s.failCall('GetUser', { error: custom, times: 2 });
    await expect(iam.send(new GetUserCommand({ UserName: 'alice' }))).rejects.toBe(custom);
    await expect(iam.send(new GetUserCommand({ UserName: 'alice' }))).rejects.toBe(custom);
    await expect(iam.send(new GetUserCommand({ UserName: 'alice' }))).resolves.toBeDefined();
  });

  it('crashAfterCall lets the call take effect, then throws SimulatedCrash', async () => {
    const s = start();
    s.addUser('alice');
    const key = s.addKey('alice');
    s.crashAfterCall('UpdateAccessKey');
    const err = await errorOf(
      new IAMClient({}).send(
        new UpdateAccessKeyCommand({ UserName: 'alice', AccessKeyId: key.accessKeyId, Status: 'Inactive' }),
      ),
    );
    expect(err).toBeInstanceOf(SimulatedCrash);
    expect(err?.name).toBe('SimulatedCrash');
    expect(s.key(key.accessKeyId)?.status).toBe('Inactive');
  });

  it('failWhen inspects the input and can be removed', async () => {
    const s = start();
    s.addSecret({ name: 'a', value: 'v' });
    s.addSecret({ name: 'b', value: 'v' });
    const sm = new SecretsManagerClient({});
    const remove = s.failWhen((op, input) =>
      op === 'PutSecretValue' && (input as { SecretId?: string }).SecretId === 'b'
        ? new Error('no b')
        : undefined,
    );
    await sm.send(new PutSecretValueCommand({ SecretId: 'a', SecretString: 'x' }));
    await expect(sm.send(new PutSecretValueCommand({ SecretId: 'b', SecretString: 'x' }))).rejects.toThrow(
      'no b',
    );
    remove();
    await sm.send(new PutSecretValueCommand({ SecretId: 'b', SecretString: 'x' }));
    expect(s.valueAt('b')).toBe('x');
  });
});

describe('snapshot', () => {
  it('is equal when nothing changed and differs after any change', async () => {
    const s = start();
    s.addUser('alice', { tags: { owner: 'a@example.com' } });
    s.addKey('alice', { ageDays: 30 });
    s.addSecret({ name: 'iam-key-rotator/alice', value: { UserName: 'alice' } });
    s.addSubscription(s.addTopic('t'), 'email', 'a@example.com');
    const before = s.snapshot();
    // Reads change nothing.
    await new IAMClient({}).send(new ListUsersCommand({}));
    await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: 'iam-key-rotator/alice' }));
    expect(s.snapshot()).toEqual(before);
    expect(JSON.stringify(before)).not.toContain(s.keys('alice')[0]?.secretAccessKey);
    await new SecretsManagerClient({}).send(
      new PutSecretValueCommand({ SecretId: 'iam-key-rotator/alice', SecretString: '{}' }),
    );
    expect(s.snapshot()).not.toEqual(before);
    const mid = s.snapshot();
    s.useKey(s.keys('alice')[0]?.accessKeyId ?? '');
    expect(s.snapshot()).not.toEqual(mid);
  });
});

describe('install() and the environment', () => {
  it('uses fake operator credentials instead of a profile, and restore() puts the environment back', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      process.env.AWS_PROFILE = 'someones-real-profile';
      const s = start();
      expect(process.env.AWS_PROFILE).toBeUndefined();
      const out = await new STSClient({}).send(new GetCallerIdentityCommand({}));
      expect(out.Arn).toBe('arn:aws:iam::123456789012:user/operator');
      s.restore();
      sim = undefined;
      expect(process.env.AWS_PROFILE).toBe('someones-real-profile');
      expect(process.env.AWS_ACCESS_KEY_ID).toBeUndefined();
    } finally {
      for (const k of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
