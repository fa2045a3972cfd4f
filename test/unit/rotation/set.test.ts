import { ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BindingError, RotatorError } from '../../../src/errors.js';
import { rotate } from '../../../src/rotation/index.js';
import {
  type CapturedLogs,
  captureLogs,
  event,
  expectNoSecretsIn,
  expectNothingChanged,
  type FakeWorld,
  install,
  type Mocks,
  NEW_KEY,
  NEW_SECRET,
  SECRET_ARN,
  TOKEN,
  testConfig,
  USER,
  withPendingValue,
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

function setSecret(w: FakeWorld) {
  m = install(w);
  return rotate(event('setSecret'), { config: testConfig() });
}

describe('setSecret', () => {
  it('confirms the pending key exists and is active, and changes nothing', async () => {
    await setSecret(withPendingValue(world()));
    expect(m.sm).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: SECRET_ARN,
      VersionId: TOKEN,
      VersionStage: 'AWSPENDING',
    });
    expect(m.iam).toHaveReceivedCommandWith(ListAccessKeysCommand, { UserName: USER });
    expectNothingChanged(m);
    expect(
      logs
        .entries()
        .some((e) => e.message === 'pending key exists and is active' && e.accessKeyId === NEW_KEY),
    ).toBe(true);
  });

  it('fails when the pending key no longer exists', async () => {
    const w = withPendingValue(world());
    w.keys = w.keys.filter((k) => k.id !== NEW_KEY);
    await expect(setSecret(w)).rejects.toThrow(
      `pending key ${NEW_KEY} in version ${TOKEN} of secret ${SECRET_ARN} does not exist for user ${USER}`,
    );
    expectNothingChanged(m);
  });

  it('fails on an inactive pending key and does not reactivate it', async () => {
    const w = withPendingValue(world());
    const key = w.keys.find((k) => k.id === NEW_KEY);
    if (key) key.status = 'Inactive';
    await expect(setSecret(w)).rejects.toThrow(`pending key ${NEW_KEY} of user ${USER} is Inactive`);
    expectNothingChanged(m);
    expect(key?.status).toBe('Inactive');
  });

  it('fails when createSecret has not stored a value', async () => {
    const err = await setSecret(world()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RotatorError);
    expect((err as Error).message).toBe(
      `version ${TOKEN} of secret ${SECRET_ARN} has no value; createSecret has not stored the new key`,
    );
  });

  it('refuses a pending value written for another user', async () => {
    const w = withPendingValue(world());
    w.values[TOKEN] = JSON.stringify({
      UserName: 'mallory',
      AccessKeyId: NEW_KEY,
      SecretAccessKey: NEW_SECRET,
    });
    await expect(setSecret(w)).rejects.toThrow(BindingError);
    expectNothingChanged(m);
  });
});
