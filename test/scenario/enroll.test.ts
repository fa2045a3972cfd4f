import { IAMClient, IAMServiceException, TagUserCommand } from '@aws-sdk/client-iam';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetClients } from '../../src/aws/clients.js';
import { type Config, loadConfig } from '../../src/config.js';
import { EnrollInputError, EnrollmentError, enroll, unenroll } from '../../src/enroll.js';
import { BindingError, NotEnrolledError } from '../../src/errors.js';
import { rotateNow, UnknownUserError } from '../../src/rotate-now.js';
import { rotate } from '../../src/rotation/index.js';
import { SimAccount } from '../sim/index.js';
import { keyPairAt, secretValue, whoAmI } from './fixtures.js';
import * as guards from './guards.js';

let sim: SimAccount;
let cfg: Config;
let fn: string;
let logged: string[];

beforeEach(() => {
  sim = new SimAccount({ seed: 5 }).install();
  resetClients();
  cfg = loadConfig({ AWS_REGION: 'us-east-1' });
  fn = sim.rotationFunctionArn('iam-key-rotator-dev-rotation');
  sim.registerRotationFunction(fn, (event) => rotate(event, { config: cfg }));
  logged = guards.captureConsole();
});

afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
  resetClients();
});

const expectNoSecrets = (...texts: unknown[]): void => guards.expectNoSecrets(sim, logged, ...texts);

const rejectsUnchanged = (call: () => Promise<unknown>): Promise<Error> =>
  guards.rejectsUnchanged(sim, logged, call);

const accessDenied = (action: string) =>
  new IAMServiceException({
    name: 'AccessDenied',
    message: `not authorized to perform: ${action}`,
    $fault: 'client',
    $metadata: { httpStatusCode: 403 },
  });

describe('enroll: create', () => {
  it('creates the secret with a fresh key, binds both ways, sets the owner and the schedule', async () => {
    sim.addUser('deploy');

    const result = await enroll({ userName: 'deploy', owner: 'Ops@Example.com', rotationLambdaArn: fn }, cfg);

    const secret = sim.secret('iam-key-rotator/deploy');
    expect(secret).toBeDefined();
    expect(result).toMatchObject({
      userName: 'deploy',
      mode: 'created',
      secretArn: secret?.arn,
      secretName: 'iam-key-rotator/deploy',
      owner: 'ops@example.com',
      scheduleDays: 82,
      otherKeyIds: [],
      shape: 'standard',
    });
    expect(secret?.tags['iam-key-rotator:user']).toBe('deploy');
    expect(sim.user('deploy')?.tags).toEqual({
      'iam-key-rotator:secret': secret?.arn,
      owner: 'ops@example.com',
    });
    expect(secret).toMatchObject({ rotationEnabled: true, rotationLambdaArn: fn, rotationDays: 82 });
    // Attached without rotating: the key was just created.
    expect(sim.rotations()).toEqual([]);
    const stored = keyPairAt(sim, secret?.arn as string, 'AWSCURRENT');
    expect(stored).toMatchObject({ shape: 'standard', userName: 'deploy', accessKeyId: result.accessKeyId });
    expect(sim.keys('deploy').map((k) => k.accessKeyId)).toEqual([result.accessKeyId]);
    sim.clock.advance(10_000);
    expect(await whoAmI(sim, stored as NonNullable<typeof stored>)).toBe(sim.user('deploy')?.arn);
    expect(result.consumers).toContain('must read the key from secret iam-key-rotator/deploy');
    expect(result.consumers).toContain('fields AccessKeyId and SecretAccessKey, stage AWSCURRENT');
    expectNoSecrets(result);
  });

  it('keeps the key a user already has and tells consumers to move off it', async () => {
    sim.addUser('etl', { tags: { owner: 'data@example.com' } });
    const old = sim.addKey('etl', { ageDays: 120, lastUsedDaysAgo: 0 });

    const result = await enroll({ userName: 'etl', rotationLambdaArn: fn, scheduleDays: 30 }, cfg);

    expect(result.owner).toBe('data@example.com');
    expect(result.otherKeyIds).toEqual([old.accessKeyId]);
    expect(result.scheduleDays).toBe(30);
    expect(result.consumers).toContain(`Stop using ${old.accessKeyId}`);
    expect(sim.keys('etl').map((k) => [k.accessKeyId, k.status])).toEqual([
      [old.accessKeyId, 'Active'],
      [result.accessKeyId, 'Active'],
    ]);
    // The owner tag was already right: enrollment did not rewrite it.
    expect(sim.user('etl')?.tags.owner).toBe('data@example.com');
  });

  it('refuses a user that already has two keys (a third is impossible), changing nothing', async () => {
    sim.addUser('full');
    const a = sim.addKey('full', { ageDays: 10 });
    const b = sim.addKey('full', { ageDays: 5, status: 'Inactive' });
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'full', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err).toBeInstanceOf(EnrollmentError);
    expect(err.message).toContain(`already has two access keys (${a.accessKeyId}, ${b.accessKeyId})`);
    expect(sim.calls.count('CreateAccessKey')).toBe(0);
  });

  it('refuses a user outside MANAGED_USER_PATH, whose keys the rotation role may not change', async () => {
    sim.addUser('person', { path: '/people/' });
    sim.addKey('person', { ageDays: 10 });
    const scoped = loadConfig({ MANAGED_USER_PATH: '/ci/' });
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'person', owner: 'a@example.com', rotationLambdaArn: fn }, scoped),
    );
    expect(err).toBeInstanceOf(EnrollmentError);
    expect(err.message).toBe(
      "user person has path /people/, outside MANAGED_USER_PATH (/ci/): the rotation function's role may not change its keys",
    );
    expect(sim.calls.count('CreateAccessKey')).toBe(0);
  });

  it('deletes the new key again when the secret cannot be created', async () => {
    sim.addUser('flaky');
    sim.failWhen((op) => (op === 'CreateSecret' ? accessDenied('secretsmanager:CreateSecret') : undefined));
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'flaky', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err.name).toBe('AccessDenied');
    expect(sim.calls.count('CreateAccessKey')).toBe(1);
    expect(sim.calls.count('DeleteAccessKey')).toBe(1);
  });

  it('stops after the secret exists when binding fails, and a second enroll finishes by adopting it', async () => {
    sim.addUser('half');
    const remove = sim.failWhen((op) => (op === 'TagUser' ? accessDenied('iam:TagUser') : undefined));
    const err = await enroll({ userName: 'half', owner: 'a@example.com', rotationLambdaArn: fn }, cfg).then(
      () => new Error('expected enroll to fail'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(EnrollmentError);
    expect(err.message).toContain('run enroll again to finish (it adopts the secret)');
    // Half-bound: the rotation function would refuse it, and rotate now does.
    await expect(rotateNow({ secretId: 'iam-key-rotator/half' })).rejects.toBeInstanceOf(BindingError);

    remove();
    const again = await enroll({ userName: 'half', owner: 'a@example.com', rotationLambdaArn: fn }, cfg);
    expect(again.mode).toBe('adopted');
    expect(sim.keys('half')).toHaveLength(1);
    expect(sim.user('half')?.tags['iam-key-rotator:secret']).toBe(again.secretArn);
    expect((await rotateNow({ userName: 'half', wait: true })).status).toBe('completed');
  });

  it('enrolling again is harmless: it adopts its own secret and creates no key', async () => {
    sim.addUser('twice');
    const first = await enroll({ userName: 'twice', owner: 'a@example.com', rotationLambdaArn: fn }, cfg);
    const second = await enroll({ userName: 'twice', rotationLambdaArn: fn }, cfg);
    expect(second).toMatchObject({
      mode: 'adopted',
      secretArn: first.secretArn,
      accessKeyId: first.accessKeyId,
    });
    expect(sim.keys('twice')).toHaveLength(1);
    expect(sim.calls.count('CreateAccessKey')).toBe(1);
  });
});

describe('enroll: adopt', () => {
  it("adopts a hand-made secret holding the user's key, in its own field names, without a new key", async () => {
    sim.addUser('legacy-app', { tags: { owner: 'apps@example.com' } });
    const key = sim.addKey('legacy-app', { ageDays: 60, lastUsedDaysAgo: 0 });
    const old = 'arn:aws:lambda:us-east-1:123456789012:function:handmade-rotator';
    const made = sim.addSecret({
      name: 'iam-key-rotator/legacy-app',
      value: secretValue('legacy', 'legacy-app', key, { endpoint: 'https://example.com' }),
      rotationLambdaArn: old,
      rotationEnabled: false,
    });

    const result = await enroll({ userName: 'legacy-app', rotationLambdaArn: fn }, cfg);

    expect(result).toMatchObject({
      mode: 'adopted',
      secretArn: made.arn,
      accessKeyId: key.accessKeyId,
      shape: 'legacy',
      replacedRotationLambdaArn: old,
      otherKeyIds: [],
    });
    expect(result.consumers).toContain('fields accesskey and secretkey');
    expect(sim.calls.count('CreateAccessKey')).toBe(0);
    expect(sim.secret(made.arn)).toMatchObject({
      rotationEnabled: true,
      rotationLambdaArn: fn,
      tags: { 'iam-key-rotator:user': 'legacy-app' },
    });
    expect(sim.user('legacy-app')?.tags['iam-key-rotator:secret']).toBe(made.arn);

    // The adopted secret rotates, keeping its shape and other fields.
    const rotated = await rotateNow({ userName: 'legacy-app', wait: true });
    const current = keyPairAt(sim, made.arn, 'AWSCURRENT');
    expect(current).toMatchObject({ shape: 'legacy', accessKeyId: rotated.accessKeyId });
    expect(current?.fields.endpoint).toBe('https://example.com');
  });

  it('refuses a secret that holds a key the user no longer has', async () => {
    sim.addUser('moved');
    sim.addSecret({
      name: 'iam-key-rotator/moved',
      value: secretValue('standard', 'moved', {
        accessKeyId: 'AKIAGONEGONEGONEGONE',
        secretAccessKey: 'x'.repeat(40),
      }),
    });
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'moved', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err).toBeInstanceOf(EnrollmentError);
    expect(err.message).toContain('holds key AKIAGONEGONEGONEGONE, which user moved no longer has');
  });

  it("refuses a secret that holds another user's key", async () => {
    sim.addUser('una');
    sim.addUser('vic');
    const vics = sim.addKey('vic');
    sim.addSecret({ name: 'iam-key-rotator/una', value: secretValue('standard', 'vic', vics) });
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'una', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err).toBeInstanceOf(BindingError);
    expect(err.message).toContain('holds a key of user vic, not una');
  });

  it('refuses a secret tagged for another user', async () => {
    sim.addUser('walt');
    const key = sim.addKey('walt');
    sim.addSecret({
      name: 'iam-key-rotator/walt',
      value: secretValue('standard', 'walt', key),
      tags: { 'iam-key-rotator:user': 'xena' },
    });
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'walt', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err).toBeInstanceOf(BindingError);
    expect(err.message).toContain('is bound to another user: xena');
  });

  it('refuses a user bound to another secret', async () => {
    sim.addUser('yuri', {
      tags: { 'iam-key-rotator:secret': 'arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf' },
    });
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'yuri', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err).toBeInstanceOf(BindingError);
    expect(err.message).toContain('already bound to another secret');
  });
});

describe('enroll refuses bad requests before any change', () => {
  it('an unknown user', async () => {
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'nobody', owner: 'a@example.com', rotationLambdaArn: fn }, cfg),
    );
    expect(err).toBeInstanceOf(UnknownUserError);
  });

  it('a user without an owner when none is given', async () => {
    sim.addUser('orphan');
    const err = await rejectsUnchanged(() => enroll({ userName: 'orphan', rotationLambdaArn: fn }, cfg));
    expect(err).toBeInstanceOf(EnrollmentError);
    expect(err.message).toContain('give --owner <email>');
  });

  it.each([
    [{ userName: 'bad name' }, 'user name must be an IAM user name'],
    [{ owner: 'not-an-email' }, 'owner must be an email address (got "not-an-email")'],
    [{ rotationLambdaArn: 'my-function' }, 'rotation function must be a Lambda function ARN'],
    [{ scheduleDays: 0 }, 'schedule must be a whole number of days from 1 to 1000 (got 0)'],
    [{ scheduleDays: 2.5 }, 'schedule must be a whole number of days'],
  ])('%j, without calling AWS', async (override, message) => {
    sim.addUser('zoe');
    sim.calls.reset();
    const err = await rejectsUnchanged(() =>
      enroll({ userName: 'zoe', owner: 'a@example.com', rotationLambdaArn: fn, ...override }, cfg),
    );
    expect(err).toBeInstanceOf(EnrollInputError);
    expect(err.message).toContain(message);
    expect(sim.calls.count()).toBe(0);
  });
});

describe('unenroll', () => {
  it('removes the binding and the schedule and keeps the secret and every key', async () => {
    sim.addUser('leaver', { tags: { owner: 'a@example.com' } });
    const old = sim.addKey('leaver', { ageDays: 40, lastUsedDaysAgo: 1 });
    const enrolled = await enroll({ userName: 'leaver', rotationLambdaArn: fn }, cfg);
    const valueBefore = sim.valueAt(enrolled.secretArn);

    const result = await unenroll('leaver', cfg);

    expect(result).toEqual({
      userName: 'leaver',
      secretArn: enrolled.secretArn,
      keptKeyIds: [old.accessKeyId, enrolled.accessKeyId],
    });
    expect(sim.keys('leaver').map((k) => [k.accessKeyId, k.status])).toEqual([
      [old.accessKeyId, 'Active'],
      [enrolled.accessKeyId, 'Active'],
    ]);
    const secret = sim.secret(enrolled.secretArn);
    expect(secret?.rotationEnabled).toBe(false);
    expect(secret?.tags['iam-key-rotator:user']).toBeUndefined();
    expect(sim.valueAt(enrolled.secretArn)).toBe(valueBefore);
    expect(sim.user('leaver')?.tags).toEqual({ owner: 'a@example.com' });
    await expect(rotateNow({ userName: 'leaver' })).rejects.toBeInstanceOf(NotEnrolledError);
    expectNoSecrets(result);
  });

  it('refuses an unknown user and a user that was never enrolled, changing nothing', async () => {
    expect(await rejectsUnchanged(() => unenroll('ghost', cfg))).toBeInstanceOf(UnknownUserError);
    sim.addUser('plain');
    const err = await rejectsUnchanged(() => unenroll('plain', cfg));
    expect(err).toBeInstanceOf(NotEnrolledError);
    expect(err.message).toContain('user plain is not enrolled');
  });

  it("refuses when the user's tag names a secret bound to someone else", async () => {
    sim.addUser('mallory');
    const key = sim.addKey('mallory');
    const other = sim.addSecret({
      name: 'iam-key-rotator/victim',
      value: secretValue('standard', 'mallory', key),
      tags: { 'iam-key-rotator:user': 'victim' },
    });
    await new IAMClient({ region: 'us-east-1' }).send(
      new TagUserCommand({
        UserName: 'mallory',
        Tags: [{ Key: 'iam-key-rotator:secret', Value: other.arn }],
      }),
    );
    const err = await rejectsUnchanged(() => unenroll('mallory', cfg));
    expect(err).toBeInstanceOf(BindingError);
  });
});
