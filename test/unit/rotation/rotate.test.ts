import { CreateAccessKeyCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { DescribeSecretCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setClock } from '../../../src/clock.js';
import { RotationEventError, VerificationError } from '../../../src/errors.js';
import { logger } from '../../../src/logger.js';
import { rotate } from '../../../src/rotation/index.js';
import {
  ACCOUNT,
  awsError,
  type CapturedLogs,
  CURRENT_KEY,
  CURRENT_VERSION,
  captureLogs,
  event,
  expectNoSecretsIn,
  expectNothingChanged,
  install,
  type Mocks,
  NEW_KEY,
  NEW_SECRET,
  OTHER_KEY,
  ROTATION_TOKEN,
  SECRET_ARN,
  SECRET_NAME,
  standardValue,
  TOKEN,
  testConfig,
  USER_ARN,
  useFakeClock,
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
  setClock(undefined);
  expectNoSecretsIn(logs.lines);
});

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

describe('rotate', () => {
  it('runs a whole rotation: new key stored, verified after propagation, promoted', async () => {
    const w = world();
    m = install(w);
    const clock = useFakeClock();
    const start = clock.t;
    m.sts.on(GetCallerIdentityCommand).callsFake(async () => {
      if (clock.t - start < 6_000) throw awsError('InvalidClientTokenId');
      return { Arn: USER_ARN, Account: ACCOUNT };
    });
    for (const step of STEPS) await rotate(event(step), { config: testConfig() });

    expect(w.values[TOKEN]).toBe(standardValue(NEW_KEY, NEW_SECRET));
    expect(w.versions[TOKEN]).toContain('AWSCURRENT');
    expect(w.versions[CURRENT_VERSION]).toEqual(['AWSPREVIOUS']);
    expect(w.keys).toEqual([
      expect.objectContaining({ id: CURRENT_KEY, status: 'Active' }),
      expect.objectContaining({ id: NEW_KEY, status: 'Active' }),
    ]);
    expect(clock.slept.length).toBeGreaterThan(0);
  });

  it('is idempotent: the same rotation run twice creates one key and moves the label once', async () => {
    const w = world();
    m = install(w);
    for (const step of STEPS) await rotate(event(step), { config: testConfig() });
    const after = structuredClone({ keys: w.keys, versions: w.versions, values: w.values });
    for (const step of STEPS) await rotate(event(step), { config: testConfig() });
    expect({ keys: w.keys, versions: w.versions, values: w.values }).toEqual(after);
    expect(m.iam).toHaveReceivedCommandOnce(CreateAccessKeyCommand);
    expect(m.sm).toHaveReceivedCommandOnce(UpdateSecretVersionStageCommand);
  });

  it('rejects a malformed event before any AWS call', async () => {
    m = install(world());
    await expect(
      rotate({ Step: 'rotateAll', SecretId: SECRET_ARN, ClientRequestToken: TOKEN }),
    ).rejects.toThrow(RotationEventError);
    expect(m.sm).not.toHaveReceivedCommand(DescribeSecretCommand);
    expectNothingChanged(m);
  });

  it('lets errors propagate so Secrets Manager sees the failure and retries', async () => {
    m = install(
      world({ values: { [CURRENT_VERSION]: standardValue(), [TOKEN]: standardValue(NEW_KEY, NEW_SECRET) } }),
    );
    m.sts.on(GetCallerIdentityCommand).rejects(awsError('SignatureDoesNotMatch'));
    await expect(rotate(event('testSecret'), { config: testConfig() })).rejects.toThrow(VerificationError);
    expect(m.sm).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(m.iam).not.toHaveReceivedCommand(UpdateAccessKeyCommand);
  });
});

describe('logs', () => {
  it('are structured, keyed by step and secret id, and never hold a secret or the RotationToken', async () => {
    const w = world();
    w.keys.push({ id: OTHER_KEY, status: 'Active' }); // an unused stray key: deleted, logged
    m = install(w);
    const clock = useFakeClock();
    const start = clock.t;
    m.sts.on(GetCallerIdentityCommand).callsFake(async () => {
      if (clock.t - start < 2_000) throw awsError('InvalidClientTokenId');
      return { Arn: USER_ARN, Account: ACCOUNT };
    });
    for (const step of STEPS) {
      await rotate(event(step, { SecretId: SECRET_NAME }), {
        config: testConfig({ ROTATION_GRACE_DAYS: '0' }),
      });
    }
    const entries = logs.entries();
    expect(entries.length).toBeGreaterThan(8);
    for (const entry of entries) {
      expect(STEPS).toContain(entry.step);
      expect(entry.secretId).toBe(SECRET_NAME);
      expect(entry.service).toBe('iam-key-rotator');
    }
    for (const step of STEPS) {
      expect(entries.some((e) => e.step === step && e.message === 'rotation step completed')).toBe(true);
    }
    const messages = entries.map((e) => e.message);
    expect(messages).toContain('access key deleted to make room');
    expect(messages).toContain('access key created');
    expect(messages).toContain('pending key not accepted yet; retrying');
    expect(messages).toContain('pending key verified');
    expect(messages).toContain('previous key deactivated (no grace period)');
    expect(entries.find((e) => e.message === 'access key created')?.accessKeyId).toBe(NEW_KEY);
    expect(logs.lines.join('\n')).not.toContain(ROTATION_TOKEN);
    expect(logs.lines.join('\n')).not.toContain(NEW_SECRET);
  });

  it('keep the failure message on error, and drop the step keys after the invocation', async () => {
    m = install(world({ secretTags: {} }));
    await expect(rotate(event('createSecret'), { config: testConfig() })).rejects.toThrow();
    const failure = logs.entries().find((e) => e.level === 'ERROR');
    expect(failure).toMatchObject({
      message: 'rotation step failed',
      step: 'createSecret',
      secretId: SECRET_ARN,
    });
    expect(String(failure?.error)).toContain('BindingError: secret');

    logger.warn('after the invocation');
    const last = logs.entries().at(-1);
    expect(last?.message).toBe('after the invocation');
    expect(last).not.toHaveProperty('step');
    expect(last).not.toHaveProperty('secretId');
  });

  it('never include the RotationToken of a rejected event', async () => {
    m = install(world());
    await expect(
      rotate({
        Step: 'createSecret',
        SecretId: SECRET_ARN,
        ClientRequestToken: '',
        RotationToken: ROTATION_TOKEN,
      }),
    ).rejects.toThrow('ClientRequestToken');
    expect(logs.lines.length).toBeGreaterThan(0);
  });
});
