import { IAMClient, IAMServiceException, TagUserCommand } from '@aws-sdk/client-iam';
import {
  CancelRotateSecretCommand,
  InvalidRequestException,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rotateNowHandler } from '../../handlers/rotate-now.js';
import { resetClients } from '../../src/aws/clients.js';
import { type Config, loadConfig } from '../../src/config.js';
import {
  BindingError,
  KeyInUseError,
  NotEnrolledError,
  RotationEventError,
  RotationInProgressError,
} from '../../src/errors.js';
import {
  NotAllowedError,
  RotationNotEnabledError,
  RotationTimeoutError,
  rotateNow,
  UnknownUserError,
} from '../../src/rotate-now.js';
import { rotate } from '../../src/rotation/index.js';
import { SimAccount, type SimOptions } from '../sim/index.js';
import { enrolledUser, keyPairAt, whoAmI } from './fixtures.js';
import * as guards from './guards.js';

let sim: SimAccount;
let cfg: Config;
let logged: string[];

function world(options: SimOptions = {}, env: Record<string, string> = {}): SimAccount {
  sim = new SimAccount({ seed: 41, ...options }).install();
  resetClients();
  cfg = loadConfig({ AWS_REGION: 'us-east-1', ...env });
  sim.registerRotationFunction(sim.rotationFunctionArn(), (event) => rotate(event, { config: cfg }));
  return sim;
}

/** The service logs through the global console in tests (POWERTOOLS_DEV): keep what it wrote. */
beforeEach(() => {
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

const accessDenied = (service: 'iam' | 'sm', action: string): Error => {
  const options = {
    name: service === 'iam' ? 'AccessDenied' : 'AccessDeniedException',
    message: `User: arn:aws:sts::123456789012:assumed-role/ops/me is not authorized to perform: ${action}`,
    $fault: 'client' as const,
    $metadata: { httpStatusCode: 403 },
  };
  return service === 'iam' ? new IAMServiceException(options) : new SecretsManagerServiceException(options);
};

describe('rotateNow', () => {
  it('starts a rotation by user name that replaces the key with a verified new one', async () => {
    world();
    const alice = await enrolledUser(sim, { name: 'alice', owner: 'alice@example.com' });

    const result = await rotateNow({ userName: 'alice' });

    expect(result).toMatchObject({ userName: 'alice', secretArn: alice.secretArn, status: 'started' });
    expect(result.previousAccessKeyId).toBe(alice.key.accessKeyId);
    // The returned version is the rotation's: it now carries AWSCURRENT and holds a new key.
    expect(sim.versionWithStage(alice.secretArn, 'AWSCURRENT')).toBe(result.versionId);
    const current = keyPairAt(sim, alice.secretArn, 'AWSCURRENT');
    expect(current?.accessKeyId).not.toBe(alice.key.accessKeyId);
    expect(await whoAmI(sim, current as NonNullable<typeof current>)).toBe(alice.userArn);
    expect(keyPairAt(sim, alice.secretArn, 'AWSPREVIOUS')?.accessKeyId).toBe(alice.key.accessKeyId);
    expect(sim.keys('alice').map((k) => [k.accessKeyId, k.status])).toEqual([
      [alice.key.accessKeyId, 'Active'],
      [current?.accessKeyId, 'Active'],
    ]);
    expectNoSecrets(result);
  });

  it('accepts the secret by name or ARN instead of the user', async () => {
    world();
    const bob = await enrolledUser(sim, { name: 'bob' });
    const byName = await rotateNow({ secretId: bob.secretName });
    expect(byName.userName).toBe('bob');
    const byArn = await rotateNow({ secretId: bob.secretArn });
    expect(byArn.userName).toBe('bob');
    expect(byArn.versionId).not.toBe(byName.versionId);
    expect(sim.versionWithStage(bob.secretArn, 'AWSCURRENT')).toBe(byArn.versionId);
    // The second rotation made room by deleting the first one's AWSPREVIOUS key, the original.
    expect(sim.keys('bob').map((k) => k.accessKeyId)).not.toContain(bob.key.accessKeyId);
    expect(sim.keys('bob')).toHaveLength(2);
  });

  it('with wait, returns the new AWSCURRENT key id once the rotation finished', async () => {
    world({ rotationMode: 'deferred' });
    const carol = await enrolledUser(sim, { name: 'carol' });
    const started = sim.clock.nowMs();

    const result = await rotateNow({ userName: 'carol', wait: true });

    expect(result.status).toBe('completed');
    expect(result.accessKeyId).toBe(keyPairAt(sim, carol.secretArn, 'AWSCURRENT')?.accessKeyId);
    expect(result.accessKeyId).not.toBe(carol.key.accessKeyId);
    expect(result.previousAccessKeyId).toBe(carol.key.accessKeyId);
    // Deferred: RotateSecret answered at once and the wait covered the key's propagation delay.
    expect(sim.clock.nowMs() - started).toBeGreaterThanOrEqual(8_000);
    expectNoSecrets(result);
  });

  it('with wait, gives up after timeoutSeconds when the rotation never completes', async () => {
    // The new key takes longer to propagate than testSecret may wait: every attempt fails.
    world({ propagationDelayMs: 600_000 }, { VERIFY_BUDGET_SECONDS: '5' });
    await enrolledUser(sim, { name: 'dave' });
    const err = await rotateNow({ userName: 'dave', wait: true, timeoutSeconds: 30 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RotationTimeoutError);
    expect((err as Error).message).toMatch(/has not completed after 30 s/);
    expect(sim.rotations().at(-1)?.outcome).toBe('failed');
  });

  it('makes room by deleting an inactive second key (the rotation function may)', async () => {
    world();
    const erin = await enrolledUser(sim, {
      name: 'erin',
      otherKeys: [{ ageDays: 200, status: 'Inactive', lastUsedDaysAgo: 150 }],
    });
    const result = await rotateNow({ userName: 'erin', wait: true });
    expect(result.status).toBe('completed');
    expect(sim.keys('erin').map((k) => k.accessKeyId)).toEqual([erin.key.accessKeyId, result.accessKeyId]);
  });

  it('still rotates when its role may not list keys (the rotation function then checks for room)', async () => {
    world();
    const uma = await enrolledUser(sim, { name: 'uma' });
    sim.failWhen((op) =>
      op === 'ListAccessKeys' && sim.calls.count('RotateSecret') === 0
        ? accessDenied('iam', 'iam:ListAccessKeys')
        : undefined,
    );
    const result = await rotateNow({ userName: 'uma', wait: true });
    expect(result.status).toBe('completed');
    expect(sim.calls.failures().map((c) => c.op)).toContain('ListAccessKeys');
    expect(keyPairAt(sim, uma.secretArn, 'AWSPREVIOUS')?.accessKeyId).toBe(uma.key.accessKeyId);
  });

  it('is what `aws secretsmanager rotate-secret --secret-id` does: a plain RotateSecret rotates too', async () => {
    world();
    const frank = await enrolledUser(sim, { name: 'frank', shape: 'legacy', extraFields: { note: 'kept' } });
    await new SecretsManagerClient({ region: 'us-east-1' }).send(
      new RotateSecretCommand({ SecretId: frank.secretName }),
    );
    const current = keyPairAt(sim, frank.secretArn, 'AWSCURRENT');
    expect(current?.accessKeyId).not.toBe(frank.key.accessKeyId);
    expect(current?.shape).toBe('legacy');
    expect(current?.fields.note).toBe('kept');
    expect(await whoAmI(sim, current as NonNullable<typeof current>)).toBe(frank.userArn);
    expect(sim.rotations().at(-1)).toMatchObject({ outcome: 'succeeded', attempts: 1 });
  });

  it('runs the same way through the rotate-now handler', async () => {
    world();
    const gina = await enrolledUser(sim, { name: 'gina' });
    const result = await rotateNowHandler({ userName: 'gina', wait: true });
    expect(result).toMatchObject({ status: 'completed', secretArn: gina.secretArn });
    expect(result.accessKeyId).toBe(keyPairAt(sim, gina.secretArn, 'AWSCURRENT')?.accessKeyId);
  });
});

describe('rotateNow refuses, changing nothing', () => {
  it('an unknown user', async () => {
    world();
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'nobody' }));
    expect(err).toBeInstanceOf(UnknownUserError);
    expect(err.message).toBe('IAM user nobody does not exist');
  });

  it('a user that is not enrolled, saying how to enroll it', async () => {
    world();
    sim.addUser('hank');
    sim.addKey('hank', { ageDays: 100 });
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'hank' }));
    expect(err).toBeInstanceOf(NotEnrolledError);
    expect(err.message).toMatch(/user hank is not enrolled: it has no iam-key-rotator:secret tag/);
    expect(err.message).toContain('iam-key-rotator enroll hank --owner <email>');
  });

  it('a secret that is not bound to a user', async () => {
    world();
    sim.addUser('ivy');
    const key = sim.addKey('ivy');
    sim.addSecret({
      name: 'handmade/ivy',
      value: { UserName: 'ivy', AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey },
      rotationLambdaArn: sim.rotationFunctionArn(),
    });
    const err = await rejectsUnchanged(() => rotateNow({ secretId: 'handmade/ivy' }));
    expect(err).toBeInstanceOf(NotEnrolledError);
    expect(err.message).toMatch(/is not bound to a user: it has no iam-key-rotator:user tag/);
  });

  it('a secret that does not exist', async () => {
    world();
    const err = await rejectsUnchanged(() => rotateNow({ secretId: 'iam-key-rotator/ghost' }));
    expect(err).toBeInstanceOf(NotEnrolledError);
    expect(err.message).toBe('secret iam-key-rotator/ghost does not exist');
  });

  it('a binding that does not agree both ways', async () => {
    world();
    await enrolledUser(sim, { name: 'jack' });
    const kate = await enrolledUser(sim, { name: 'kate' });
    // jack's tag names kate's secret, which says it belongs to kate.
    await new IAMClient({ region: 'us-east-1' }).send(
      new TagUserCommand({
        UserName: 'jack',
        Tags: [{ Key: 'iam-key-rotator:secret', Value: kate.secretArn }],
      }),
    );
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'jack' }));
    expect(err).toBeInstanceOf(BindingError);
    expect(err.message).toContain('that secret is bound to user kate');
  });

  it('a secret whose rotation is not enabled', async () => {
    world();
    const lena = await enrolledUser(sim, { name: 'lena' });
    await new SecretsManagerClient({ region: 'us-east-1' }).send(
      new CancelRotateSecretCommand({ SecretId: lena.secretArn }),
    );
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'lena' }));
    expect(err).toBeInstanceOf(RotationNotEnabledError);
    expect(err.message).toContain('enroll user lena again');
  });

  it('while a previous rotation is in progress, saying what to do', async () => {
    world({ rotationMode: 'deferred' });
    const mia = await enrolledUser(sim, { name: 'mia' });
    const first = await rotateNow({ userName: 'mia' });
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'mia' }));
    expect(err).toBeInstanceOf(RotationInProgressError);
    expect(err.message).toContain(`version ${first.versionId}`);
    expect(err.message).toContain('wait for it to finish and try again');
    expect(err.message).toContain(
      `aws secretsmanager update-secret-version-stage --secret-id ${mia.secretArn} --version-stage AWSPENDING --remove-from-version-id ${first.versionId}`,
    );
    expect(sim.calls.count('RotateSecret')).toBe(1);
  });

  it('when another rotation starts between its check and RotateSecret', async () => {
    world();
    await enrolledUser(sim, { name: 'ned' });
    sim.failWhen((op) =>
      op === 'RotateSecret'
        ? new InvalidRequestException({
            message: "A previous rotation isn't complete. That rotation will be reattempted.",
            $metadata: {},
          })
        : undefined,
    );
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'ned' }));
    expect(err).toBeInstanceOf(RotationInProgressError);
    expect(err.message).toContain('still in progress');
  });

  it('when RotateSecret is not allowed', async () => {
    world();
    await enrolledUser(sim, { name: 'olga' });
    sim.failWhen((op) =>
      op === 'RotateSecret' ? accessDenied('sm', 'secretsmanager:RotateSecret') : undefined,
    );
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'olga' }));
    expect(err).toBeInstanceOf(NotAllowedError);
    expect(err.message).toMatch(
      /^not allowed to rotate arn:aws:secretsmanager:.*olga.*: User: .* is not authorized to perform: secretsmanager:RotateSecret$/,
    );
  });

  it('when reading the user is not allowed', async () => {
    world();
    await enrolledUser(sim, { name: 'pete' });
    sim.failWhen((op) => (op === 'GetUser' ? accessDenied('iam', 'iam:GetUser') : undefined));
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'pete' }));
    expect(err).toBeInstanceOf(NotAllowedError);
    expect(err.message).toMatch(/^not allowed to read IAM user pete: /);
  });

  it('when the user holds a second key in use that the secret does not manage', async () => {
    world();
    const quinn = await enrolledUser(sim, {
      name: 'quinn',
      otherKeys: [{ ageDays: 30, lastUsedDaysAgo: 1 }],
    });
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'quinn', wait: true }));
    expect(err).toBeInstanceOf(KeyInUseError);
    expect(err.message).toContain(`second active key ${quinn.otherKeyIds[0]}`);
    expect(err.message).toContain('Nothing changed');
    expect(err.message).toContain('--status Inactive');
    // Refused before Secrets Manager was asked: no AWSPENDING left behind to block later rotations.
    expect(sim.calls.count('RotateSecret')).toBe(0);
  });

  it('when the secret holds a key of another user', async () => {
    world();
    const rita = await enrolledUser(sim, { name: 'rita' });
    sim.addUser('sam');
    const sams = sim.addKey('sam');
    await new SecretsManagerClient({ region: 'us-east-1' }).send(
      new PutSecretValueCommand({
        SecretId: rita.secretArn,
        SecretString: JSON.stringify({
          UserName: 'sam',
          AccessKeyId: sams.accessKeyId,
          SecretAccessKey: sams.secretAccessKey,
        }),
      }),
    );
    const err = await rejectsUnchanged(() => rotateNow({ userName: 'rita' }));
    expect(err).toBeInstanceOf(BindingError);
    expect(err.message).toContain('holds a key of user sam');
  });

  it.each([
    [{}, 'give exactly one of userName or secretId'],
    [{ userName: 'a', secretId: 'b' }, 'give exactly one of userName or secretId'],
    [{ userName: 'not a name!' }, 'userName: userName must be an IAM user name'],
    [{ userName: 42 }, 'userName: userName must be a string'],
    [{ userName: 'tom', wait: 'yes' }, 'wait: wait must be true or false'],
    [{ userName: 'tom', timeoutSeconds: 0 }, 'timeoutSeconds: timeoutSeconds must be at least 1'],
    [{ userName: 'tom', force: true }, 'unknown field(s) force'],
    ['tom', 'invalid rotate-now request'],
  ])('bad input %j, before any AWS call', async (input, message) => {
    world();
    await enrolledUser(sim, { name: 'tom' });
    sim.calls.reset();
    const err = await rejectsUnchanged(() => rotateNow(input));
    expect(err).toBeInstanceOf(RotationEventError);
    expect(err.message).toContain(message);
    expect(sim.calls.count()).toBe(0);
  });
});
