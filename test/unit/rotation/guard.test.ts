import { GetUserCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BindingError, RotatorError, SecretFormatError } from '../../../src/errors.js';
import { guard } from '../../../src/rotation/guard.js';
import { rotate } from '../../../src/rotation/index.js';
import {
  ACCOUNT,
  type CapturedLogs,
  CURRENT_KEY,
  CURRENT_VERSION,
  captureLogs,
  event,
  expectNoSecretsIn,
  expectNothingChanged,
  install,
  legacyValue,
  type Mocks,
  PREVIOUS_VERSION,
  ROTATION_TOKEN,
  SECRET_ARN,
  SECRET_NAME,
  TOKEN,
  testConfig,
  USER,
  USER_ARN,
  world,
} from './fixtures.js';

let m: Mocks | undefined;
let logs: CapturedLogs;
beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => {
  m?.restore();
  m = undefined;
  logs.restore();
  expectNoSecretsIn(logs.lines);
});

describe('guard', () => {
  it('builds the step context from the secret, its AWSCURRENT value and the bound user', async () => {
    const w = world();
    m = install(w);
    const cfg = testConfig();
    const ctx = await guard(event('createSecret'), cfg);
    expect(ctx).not.toBe('done');
    if (ctx === 'done') return;
    expect(ctx).toMatchObject({
      step: 'createSecret',
      secretArn: SECRET_ARN,
      secretName: SECRET_NAME,
      token: TOKEN,
      rotationToken: ROTATION_TOKEN,
      userName: USER,
      userArn: USER_ARN,
      accountId: ACCOUNT,
      currentVersionId: CURRENT_VERSION,
      tokenIsCurrent: false,
      ownerEmail: 'alice.smith@example.com',
      config: cfg,
    });
    expect(ctx.current.accessKeyId).toBe(CURRENT_KEY);
    expect(ctx.versions).toEqual(w.versions);
    expect(m.sm).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: SECRET_ARN,
      VersionId: CURRENT_VERSION,
      VersionStage: 'AWSCURRENT',
    });
  });

  it('reads the owner from the configured tag key', async () => {
    m = install(
      world({ userTags: { 'iam-key-rotator:secret': SECRET_ARN, 'team-email': 'Ops@Example.com' } }),
    );
    const ctx = await guard(event('setSecret'), testConfig({ OWNER_TAG_KEY: 'team-email' }));
    expect(ctx !== 'done' && ctx.ownerEmail).toBe('ops@example.com');
  });

  it('has no owner when the user carries no owner tag', async () => {
    m = install(world({ userTags: { 'iam-key-rotator:secret': SECRET_ARN } }));
    const ctx = await guard(event('setSecret'), testConfig());
    expect(ctx !== 'done' && ctx.ownerEmail).toBeUndefined();
  });

  it('accepts the secret name as SecretId and works on the ARN from DescribeSecret', async () => {
    m = install(world());
    const ctx = await guard(event('createSecret', { SecretId: SECRET_NAME }), testConfig());
    expect(ctx !== 'done' && ctx.secretArn).toBe(SECRET_ARN);
    expect(m.sm).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN });
  });

  it('accepts the older secret shape', async () => {
    const w = world();
    w.values[CURRENT_VERSION] = legacyValue();
    m = install(w);
    const ctx = await guard(event('createSecret'), testConfig());
    expect(ctx !== 'done' && ctx.current.shape).toBe('legacy');
  });

  it('refuses when rotation is not enabled', async () => {
    m = install(world({ rotationEnabled: false }));
    await expect(guard(event('createSecret'), testConfig())).rejects.toThrow(
      new RotatorError(`rotation is not enabled for secret ${SECRET_ARN}`),
    );
  });

  it('refuses a token that is not a version of the secret', async () => {
    m = install(world());
    await expect(
      guard(event('createSecret', { ClientRequestToken: 'other-token' }), testConfig()),
    ).rejects.toThrow(`version other-token is not staged for rotation of secret ${SECRET_ARN}`);
  });

  it('returns done without further calls when the token is already AWSCURRENT', async () => {
    m = install(world({ versions: { [TOKEN]: ['AWSCURRENT'], [CURRENT_VERSION]: ['AWSPREVIOUS'] } }));
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
      await expect(guard(event(step), testConfig())).resolves.toBe('done');
    }
    expect(m.sm).not.toHaveReceivedCommand(GetSecretValueCommand);
    expect(m.iam).not.toHaveReceivedCommand(GetUserCommand);
  });

  it('lets a retried finishSecret through when there is no grace period, to retire the previous key', async () => {
    m = install(
      world({
        versions: { [TOKEN]: ['AWSCURRENT'], [PREVIOUS_VERSION]: ['AWSPREVIOUS'] },
        values: {
          [TOKEN]: JSON.stringify({ UserName: USER, AccessKeyId: CURRENT_KEY, SecretAccessKey: 's' }),
        },
      }),
    );
    const ctx = await guard(event('finishSecret'), testConfig({ ROTATION_GRACE_DAYS: '0' }));
    expect(ctx !== 'done' && ctx.tokenIsCurrent).toBe(true);
    await expect(guard(event('createSecret'), testConfig({ ROTATION_GRACE_DAYS: '0' }))).resolves.toBe(
      'done',
    );
  });

  it('refuses a token that is staged but not AWSPENDING', async () => {
    m = install(world({ versions: { [CURRENT_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPREVIOUS'] } }));
    await expect(guard(event('createSecret'), testConfig())).rejects.toThrow(
      `version ${TOKEN} of secret ${SECRET_ARN} is not AWSPENDING (stages: AWSPREVIOUS)`,
    );
  });

  it('refuses a secret without an AWSCURRENT value', async () => {
    m = install(world({ values: {} }));
    await expect(guard(event('createSecret'), testConfig())).rejects.toThrow(
      `secret ${SECRET_ARN} has no AWSCURRENT value to rotate`,
    );
  });

  it('refuses an AWSCURRENT value that does not parse, saying which version and field', async () => {
    m = install(
      world({ values: { [CURRENT_VERSION]: JSON.stringify({ UserName: USER, AccessKeyId: CURRENT_KEY }) } }),
    );
    const err = await guard(event('createSecret'), testConfig()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretFormatError);
    expect((err as Error).message).toBe(
      `AWSCURRENT value of secret ${SECRET_ARN}: secret value has no field SecretAccessKey`,
    );
  });
});

describe('binding', () => {
  const cases: [string, () => ReturnType<typeof world>, string][] = [
    [
      'the secret has no user tag',
      () => world({ secretTags: {} }),
      `secret ${SECRET_ARN} has no tag iam-key-rotator:user, so it is not bound to user ${USER}`,
    ],
    [
      'the secret is tagged for another user',
      () => world({ secretTags: { 'iam-key-rotator:user': 'mallory' } }),
      `secret ${SECRET_ARN} is tagged iam-key-rotator:user=mallory but its value is for user ${USER}`,
    ],
    ['the user does not exist', () => world({ userExists: false }), `user ${USER} does not exist`],
    [
      'the user has no secret tag',
      () => world({ userTags: { owner: 'a@example.com' } }),
      `user ${USER} has no tag iam-key-rotator:secret, so it is not bound to secret ${SECRET_ARN}`,
    ],
    [
      'the user is bound to another secret',
      () =>
        world({
          userTags: {
            'iam-key-rotator:secret': `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:other-XyZ987`,
          },
        }),
      `user ${USER} is tagged iam-key-rotator:secret=arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:other-XyZ987, not secret ${SECRET_ARN}`,
    ],
    [
      "the user's tag holds the secret's name instead of its ARN",
      () => world({ userTags: { 'iam-key-rotator:secret': SECRET_NAME } }),
      `user ${USER} is tagged iam-key-rotator:secret=${SECRET_NAME}, not secret ${SECRET_ARN}`,
    ],
  ];

  it.each(cases)('refuses when %s, and changes nothing', async (_what, make, message) => {
    m = install(make());
    const err = await rotate(event('createSecret'), { config: testConfig() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BindingError);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).toContain('nothing was changed');
    expectNothingChanged(m);
  });
});
