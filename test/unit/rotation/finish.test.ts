import { ListAccessKeysCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rotate } from '../../../src/rotation/index.js';
import {
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
  type Mocks,
  NEW_KEY,
  NEW_SECRET,
  PREVIOUS_VERSION,
  SECRET_ARN,
  standardValue,
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

function finishSecret(w: FakeWorld, graceDays = '7') {
  m = install(w);
  return rotate(event('finishSecret'), { config: testConfig({ ROTATION_GRACE_DAYS: graceDays }) });
}

const keyStatus = (w: FakeWorld, id: string) => w.keys.find((k) => k.id === id)?.status;

/** State after a finishSecret whose stage move succeeded (and the old version became AWSPREVIOUS). */
function finishedWorld(): FakeWorld {
  const w = withPendingValue(world());
  w.versions = { [TOKEN]: ['AWSCURRENT'], [CURRENT_VERSION]: ['AWSPREVIOUS'] };
  return w;
}

describe('finishSecret', () => {
  it('moves AWSCURRENT to the token and leaves the previous key active during the grace period', async () => {
    const w = withPendingValue(world());
    await finishSecret(w);
    expect(m.sm).toHaveReceivedCommandExactlyOnceWith(UpdateSecretVersionStageCommand, {
      SecretId: SECRET_ARN,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: TOKEN,
      RemoveFromVersionId: CURRENT_VERSION,
    });
    expect(w.versions[TOKEN]).toContain('AWSCURRENT');
    expect(w.versions[CURRENT_VERSION]).toEqual(['AWSPREVIOUS']);
    expect(m.iam).not.toHaveReceivedCommand(UpdateAccessKeyCommand);
    expect(keyStatus(w, CURRENT_KEY)).toBe('Active');
  });

  it('deactivates the previous key at once when ROTATION_GRACE_DAYS=0, never the new one', async () => {
    const w = withPendingValue(world());
    await finishSecret(w, '0');
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(UpdateAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: CURRENT_KEY,
      Status: 'Inactive',
    });
    expect(keyStatus(w, CURRENT_KEY)).toBe('Inactive');
    expect(keyStatus(w, NEW_KEY)).toBe('Active');
  });

  it('does not touch a previous key that is already inactive', async () => {
    const w = withPendingValue(world());
    const current = w.keys.find((k) => k.id === CURRENT_KEY);
    if (current) current.status = 'Inactive';
    await finishSecret(w, '0');
    expect(m.iam).not.toHaveReceivedCommand(UpdateAccessKeyCommand);
  });

  it('does not deactivate anything when the pending value holds the current key', async () => {
    const w = world();
    w.values[TOKEN] = standardValue(CURRENT_KEY, CURRENT_SECRET);
    await finishSecret(w, '0');
    expect(m.sm).toHaveReceivedCommandOnce(UpdateSecretVersionStageCommand);
    expect(m.iam).not.toHaveReceivedCommand(UpdateAccessKeyCommand);
    expect(keyStatus(w, CURRENT_KEY)).toBe('Active');
  });

  it('returns without changes when the token is already AWSCURRENT', async () => {
    const w = finishedWorld();
    await finishSecret(w);
    expectNothingChanged(m);
    expect(m.iam).not.toHaveReceivedCommand(ListAccessKeysCommand);
  });

  it('on a retry without grace, deactivates the previous key the crashed attempt left active', async () => {
    const w = finishedWorld();
    await finishSecret(w, '0');
    expect(m.sm).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(m.iam).toHaveReceivedCommandExactlyOnceWith(UpdateAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: CURRENT_KEY,
      Status: 'Inactive',
    });
    expect(keyStatus(w, NEW_KEY)).toBe('Active');
  });

  it('on such a retry, changes nothing once the previous key is inactive', async () => {
    const w = finishedWorld();
    const old = w.keys.find((k) => k.id === CURRENT_KEY);
    if (old) old.status = 'Inactive';
    await finishSecret(w, '0');
    expectNothingChanged(m);
  });

  it('on such a retry, tolerates an AWSPREVIOUS that does not parse', async () => {
    const w = finishedWorld();
    w.values[CURRENT_VERSION] = '{"broken"';
    await finishSecret(w, '0');
    expectNothingChanged(m);
    expect(keyStatus(w, CURRENT_KEY)).toBe('Active');
  });

  it('reads the AWSPREVIOUS version by its id', async () => {
    const w = finishedWorld();
    w.versions = { [TOKEN]: ['AWSCURRENT'], [PREVIOUS_VERSION]: ['AWSPREVIOUS'], [CURRENT_VERSION]: [] };
    w.values[PREVIOUS_VERSION] = standardValue(CURRENT_KEY, CURRENT_SECRET);
    w.values[TOKEN] = standardValue(NEW_KEY, NEW_SECRET);
    await finishSecret(w, '0');
    expect(keyStatus(w, CURRENT_KEY)).toBe('Inactive');
  });
});
