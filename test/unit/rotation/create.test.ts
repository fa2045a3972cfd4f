import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PublishCommand } from '@aws-sdk/client-sns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessKeyLimitError } from '../../../src/aws/iam.js';
import { KeyInUseError } from '../../../src/errors.js';
import { rotate } from '../../../src/rotation/index.js';
import {
  ACCOUNT,
  awsError,
  type CapturedLogs,
  CURRENT_KEY,
  CURRENT_SECRET,
  CURRENT_VERSION,
  captureLogs,
  event,
  expectNoSecretsIn,
  expectNothingChanged,
  type FakeWorld,
  install,
  legacyValue,
  type Mocks,
  NEW_KEY,
  NEW_KEY_2,
  NEW_SECRET,
  NEW_SECRET_2,
  OTHER_KEY,
  PREVIOUS_KEY,
  PREVIOUS_SECRET,
  PREVIOUS_VERSION,
  ROTATION_TOKEN,
  SECRET_ARN,
  standardValue,
  TOKEN,
  TOPIC_ARN,
  testConfig,
  USER,
  world,
} from './fixtures.js';

let m: Mocks;
let logs: CapturedLogs;
beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => {
  m.restore();
  logs.restore();
  expectNoSecretsIn(logs.lines);
});

const USED = new Date('2026-05-30T08:15:00Z');

function createSecret(w: FakeWorld, env: Record<string, string> = {}) {
  m = install(w);
  return rotate(event('createSecret'), { config: testConfig(env) });
}

/** A second key next to the current one. */
function withSecondKey(key: FakeWorld['keys'][number], extra: Partial<FakeWorld> = {}): FakeWorld {
  const w = world(extra);
  w.keys.push(key);
  return w;
}

/** AWSCURRENT plus an AWSPREVIOUS version holding PREVIOUS_KEY. */
function withPreviousVersion(previousValue = standardValue(PREVIOUS_KEY, PREVIOUS_SECRET)): FakeWorld {
  const w = world({
    versions: {
      [CURRENT_VERSION]: ['AWSCURRENT'],
      [PREVIOUS_VERSION]: ['AWSPREVIOUS'],
      [TOKEN]: ['AWSPENDING'],
    },
  });
  w.values[PREVIOUS_VERSION] = previousValue;
  w.keys.push({ id: PREVIOUS_KEY, status: 'Active', lastUsed: USED });
  return w;
}

describe('createSecret', () => {
  it('does nothing when the pending value is already stored (a retried rotation)', async () => {
    const w = world();
    w.values[TOKEN] = standardValue(NEW_KEY, NEW_SECRET);
    await createSecret(w);
    expect(m.sm).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: SECRET_ARN,
      VersionId: TOKEN,
      VersionStage: 'AWSPENDING',
    });
    expect(m.iam).not.toHaveReceivedCommand(ListAccessKeysCommand);
    expectNothingChanged(m);
    expect(logs.entries().some((e) => e.message === 'pending value already stored')).toBe(true);
  });

  it('creates a key and stores it as AWSPENDING under the token, with the RotationToken', async () => {
    const w = world();
    await createSecret(w);
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(CreateAccessKeyCommand, { UserName: USER });
    expect(m.sm).toHaveReceivedCommandExactlyOnceWith(PutSecretValueCommand, {
      SecretId: SECRET_ARN,
      ClientRequestToken: TOKEN,
      SecretString: standardValue(NEW_KEY, NEW_SECRET),
      VersionStages: ['AWSPENDING'],
      RotationToken: ROTATION_TOKEN,
    });
    expect(m.iam).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(w.keys.map((k) => k.id)).toEqual([CURRENT_KEY, NEW_KEY]);
  });

  it('omits RotationToken when the event has none', async () => {
    m = install(world());
    await rotate(event('createSecret', { RotationToken: undefined }), { config: testConfig() });
    const input = m.sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(input).toBeDefined();
    expect(input && 'RotationToken' in input).toBe(false);
  });

  it('writes the new pair in the older shape, keeping every other field', async () => {
    const w = world();
    w.values[CURRENT_VERSION] = legacyValue(CURRENT_KEY, CURRENT_SECRET, { host: 'db.internal', port: 5432 });
    await createSecret(w);
    const stored = JSON.parse(w.values[TOKEN] ?? '{}');
    expect(stored).toEqual({
      username: USER,
      accesskey: NEW_KEY,
      secretkey: NEW_SECRET,
      host: 'db.internal',
      port: 5432,
    });
  });

  it('deletes an inactive second key before creating the new one', async () => {
    const w = withSecondKey({ id: OTHER_KEY, status: 'Inactive', lastUsed: USED });
    await createSecret(w);
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: OTHER_KEY,
    });
    // Inactive is reason enough: no need to ask when it was used.
    expect(m.iam).not.toHaveReceivedCommand(GetAccessKeyLastUsedCommand);
    expect(w.keys.map((k) => k.id)).toEqual([CURRENT_KEY, NEW_KEY]);
  });

  it('deletes the AWSPREVIOUS key even though it is active and in use', async () => {
    const w = withPreviousVersion();
    await createSecret(w);
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: PREVIOUS_KEY,
    });
    expect(w.keys.map((k) => k.id)).toEqual([CURRENT_KEY, NEW_KEY]);
  });

  it('deletes the unused stray key before creating a new one', async () => {
    const w = withSecondKey({ id: OTHER_KEY, status: 'Active' });
    await createSecret(w);
    expect(m.iam).toHaveReceivedCommandWith(GetAccessKeyLastUsedCommand, { AccessKeyId: OTHER_KEY });
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: OTHER_KEY,
    });
    expect(m.iam).toHaveReceivedCommandOnce(CreateAccessKeyCommand);
  });

  describe('when the second key is active, used and not managed', () => {
    const blocked = `user ${USER} has a second active key ${OTHER_KEY} last used ${USED.toISOString()} that is not managed by secret ${SECRET_ARN}; delete or deactivate it, then remove AWSPENDING from version ${TOKEN} (the audit does so after STUCK_ROTATION_HOURS) and rotate again`;

    it('refuses with KeyInUseError, deletes nothing and tells the owner once', async () => {
      const w = withSecondKey({ id: OTHER_KEY, status: 'Active', lastUsed: USED });
      const err = await createSecret(w).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyInUseError);
      expect((err as Error).message).toBe(blocked);
      expectNothingChanged(m);
      expect(w.keys.map((k) => k.id)).toEqual([CURRENT_KEY, OTHER_KEY]);
      expect(m.sns).toHaveReceivedCommandOnce(PublishCommand);
      expect(m.sns).toHaveReceivedCommandWith(PublishCommand, {
        TopicArn: TOPIC_ARN,
        Subject: `Access key rotation blocked for IAM user ${USER}`,
        MessageAttributes: {
          owner: { DataType: 'String', StringValue: 'alice.smith@example.com' },
          severity: { DataType: 'String', StringValue: 'action' },
          account: { DataType: 'String', StringValue: ACCOUNT },
        },
      });
      const body = m.sns.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '';
      expect(body).toContain(OTHER_KEY);
      expect(body).toContain(SECRET_ARN);
      expect(body).toContain(`aws iam update-access-key --user-name ${USER} --access-key-id ${OTHER_KEY}`);
      expectNoSecretsIn(body);
    });

    it('tells the security audience when the user has no owner', async () => {
      const w = withSecondKey(
        { id: OTHER_KEY, status: 'Active', lastUsed: USED },
        { userTags: { 'iam-key-rotator:secret': SECRET_ARN } },
      );
      await expect(createSecret(w)).rejects.toThrow(KeyInUseError);
      const attrs = m.sns.commandCalls(PublishCommand)[0]?.args[0].input.MessageAttributes;
      expect(attrs).toEqual({
        audience: { DataType: 'String', StringValue: 'security' },
        severity: { DataType: 'String', StringValue: 'action' },
        account: { DataType: 'String', StringValue: ACCOUNT },
      });
    });

    it('publishes nothing when no topic is configured', async () => {
      const w = withSecondKey({ id: OTHER_KEY, status: 'Active', lastUsed: USED });
      m = install(w);
      const config = { ...testConfig(), topicArn: undefined };
      await expect(rotate(event('createSecret'), { config })).rejects.toThrow(blocked);
      expect(m.sns).not.toHaveReceivedCommand(PublishCommand);
    });

    it('still fails with the real reason when SNS is unavailable', async () => {
      const w = withSecondKey({ id: OTHER_KEY, status: 'Active', lastUsed: USED });
      m = install(w);
      m.sns.on(PublishCommand).rejects(awsError('AuthorizationError', 'not allowed to publish'));
      await expect(rotate(event('createSecret'), { config: testConfig() })).rejects.toThrow(blocked);
      expect(logs.entries().some((e) => e.message === 'could not publish the blocked-rotation notice')).toBe(
        true,
      );
    });

    it('treats an AWSPREVIOUS value that does not parse as holding no key', async () => {
      const w = withPreviousVersion('not json at all');
      // The used second key is the one AWSPREVIOUS would have named, but that cannot be known.
      await expect(createSecret(w)).rejects.toThrow(KeyInUseError);
      expectNothingChanged(m);
      expect(
        logs.entries().some((e) => e.level === 'WARN' && String(e.message).includes('AWSPREVIOUS')),
      ).toBe(true);
    });
  });

  it('never deletes the AWSCURRENT key, even when it is inactive', async () => {
    const w = world();
    w.keys = [
      { id: CURRENT_KEY, status: 'Inactive', lastUsed: USED },
      { id: OTHER_KEY, status: 'Active', lastUsed: USED },
    ];
    await expect(createSecret(w)).rejects.toThrow(KeyInUseError);
    expectNothingChanged(m);
  });

  it('warns when the AWSCURRENT key is not among the user\u2019s keys, and still makes room safely', async () => {
    const w = world();
    w.keys = [
      { id: OTHER_KEY, status: 'Active', lastUsed: USED },
      { id: PREVIOUS_KEY, status: 'Active' },
    ];
    await createSecret(w);
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: PREVIOUS_KEY,
    });
    expect(w.keys.map((k) => k.id)).toEqual([OTHER_KEY, NEW_KEY]);
    const warning = logs.entries().find((e) => e.level === 'WARN');
    expect(warning?.message).toBe('AWSCURRENT key is not among the user\u2019s access keys');
    expect(warning?.currentKeyId).toBe(CURRENT_KEY);
  });

  it('leaves no orphan when the process died between CreateAccessKey and PutSecretValue', async () => {
    const w = world();
    m = install(w);
    m.sm.on(PutSecretValueCommand).rejectsOnce(new Error('Lambda timed out'));
    await expect(rotate(event('createSecret'), { config: testConfig() })).rejects.toThrow('Lambda timed out');
    expect(w.keys.map((k) => k.id)).toEqual([CURRENT_KEY, NEW_KEY]);
    expect(w.values[TOKEN]).toBeUndefined();

    m.restore();
    m = install(w);
    // Secrets Manager retries the rotation with the same token: the orphan has never been used.
    await rotate(event('createSecret'), { config: testConfig() });
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: NEW_KEY,
    });
    expect(w.keys.map((k) => k.id)).toEqual([CURRENT_KEY, NEW_KEY_2]);
    expect(w.values[TOKEN]).toBe(standardValue(NEW_KEY_2, NEW_SECRET_2));
  });

  it('fails clearly and does not retry when CreateAccessKey hits LimitExceeded (a race)', async () => {
    const w = world();
    m = install(w);
    // Another process added a key after ListAccessKeys answered.
    m.iam.on(ListAccessKeysCommand).resolvesOnce({
      AccessKeyMetadata: [{ UserName: USER, AccessKeyId: CURRENT_KEY, Status: 'Active' }],
    });
    w.keys.push({ id: OTHER_KEY, status: 'Active', lastUsed: USED });
    const err = await rotate(event('createSecret'), { config: testConfig() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessKeyLimitError);
    expect((err as Error).message).toContain(`cannot create a new access key for user ${USER}`);
    expect((err as Error).message).toContain('nothing was deleted and the call was not retried');
    expect(m.iam).toHaveReceivedCommandOnce(CreateAccessKeyCommand);
    expect(m.sm).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(m.iam).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(m.iam).not.toHaveReceivedCommand(UpdateAccessKeyCommand);
  });
});
