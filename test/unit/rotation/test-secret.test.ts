import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setClock } from '../../../src/clock.js';
import { VerificationError } from '../../../src/errors.js';
import { rotate } from '../../../src/rotation/index.js';
import { nextWaitMs } from '../../../src/rotation/test.js';
import {
  ACCOUNT,
  awsError,
  type CapturedLogs,
  captureLogs,
  event,
  expectNoSecretsIn,
  expectNothingChanged,
  install,
  type Mocks,
  NEW_KEY,
  NEW_SECRET,
  SECRET_ARN,
  TOKEN,
  testConfig,
  USER,
  USER_ARN,
  useFakeClock,
  withPendingValue,
  world,
} from './fixtures.js';

let m: Mocks;
let logs: CapturedLogs;
let clock: ReturnType<typeof useFakeClock>;
beforeEach(() => {
  logs = captureLogs();
  clock = useFakeClock();
  m = install(withPendingValue(world()));
});
afterEach(() => {
  m.restore();
  logs.restore();
  setClock(undefined);
  expectNoSecretsIn(logs.lines);
});

const identity = { Arn: USER_ARN, Account: ACCOUNT, UserId: 'AIDAEXAMPLEUSERID0001' };
const notYet = () =>
  awsError('InvalidClientTokenId', 'The security token included in the request is invalid.');

function testSecret(env: Record<string, string> = {}) {
  return rotate(event('testSecret'), { config: testConfig(env) });
}

/** STS that rejects the key until `validAfterMs` of virtual time has passed, each call taking `latencyMs`. */
function propagatesAfter(validAfterMs: number, latencyMs = 0) {
  const start = clock.t;
  m.sts.on(GetCallerIdentityCommand).callsFake(async () => {
    clock.t += latencyMs;
    if (clock.t - start < validAfterMs) throw notYet();
    return identity;
  });
}

describe('testSecret', () => {
  it('signs GetCallerIdentity with the pending key and accepts the bound user', async () => {
    const used: { accessKeyId: string; secretAccessKey: string }[] = [];
    m.sts.on(GetCallerIdentityCommand).callsFake(async (_input, getClient) => {
      const credentials = getClient().config.credentials;
      used.push(await (typeof credentials === 'function' ? credentials() : credentials));
      return identity;
    });
    await testSecret();
    expect(used).toEqual([expect.objectContaining({ accessKeyId: NEW_KEY, secretAccessKey: NEW_SECRET })]);
    expect(clock.slept).toEqual([]);
    expectNothingChanged(m);
    const verified = logs.entries().find((e) => e.message === 'pending key verified');
    expect(verified).toMatchObject({ accessKeyId: NEW_KEY, attempts: 1, elapsedMs: 0 });
  });

  it('retries InvalidClientTokenId with growing waits on the injected clock until the key works', async () => {
    propagatesAfter(8_000);
    await testSecret();
    expect(clock.slept.length).toBeGreaterThan(3);
    let elapsed = 0;
    for (const wait of clock.slept) {
      expect(wait).toBe(nextWaitMs(elapsed));
      elapsed += wait;
    }
    expect(clock.slept[0]).toBe(500);
    expect(clock.slept.at(-1)).toBeGreaterThan(clock.slept[0] ?? 0);
    expect(m.sts).toHaveReceivedCommandTimes(GetCallerIdentityCommand, clock.slept.length + 1);
    const verified = logs.entries().find((e) => e.message === 'pending key verified');
    expect(verified).toMatchObject({ attempts: clock.slept.length + 1, elapsedMs: elapsed });
  });

  it('retries STS throttling the same way', async () => {
    m.sts
      .on(GetCallerIdentityCommand)
      .rejectsOnce(awsError('Throttling', 'Rate exceeded', 400))
      .resolves(identity);
    await testSecret();
    expect(clock.slept).toEqual([500]);
  });

  it('gives up with VerificationError when the budget is spent, without overshooting it', async () => {
    m.sts.on(GetCallerIdentityCommand).rejects(notYet());
    const start = clock.t;
    const err = await testSecret({ VERIFY_BUDGET_SECONDS: '20' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    const attempts = clock.slept.length + 1;
    expect((err as Error).message).toBe(
      `pending key ${NEW_KEY} of user ${USER} did not authenticate within 20 s (${attempts} attempts, ` +
        'last error InvalidClientTokenId); AWSCURRENT was not moved',
    );
    expect(clock.t - start).toBe(20_000);
    expect(clock.slept.every((ms) => ms <= 3_000)).toBe(true);
    expectNothingChanged(m);
  });

  it('fails at once on SignatureDoesNotMatch: the stored secret is wrong', async () => {
    m.sts.on(GetCallerIdentityCommand).rejects(awsError('SignatureDoesNotMatch', 'signature does not match'));
    const err = await testSecret().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toContain(
      `pending key ${NEW_KEY} was rejected with SignatureDoesNotMatch`,
    );
    expect((err as Error).message).toContain(`version ${TOKEN} of secret ${SECRET_ARN}`);
    expect(m.sts).toHaveReceivedCommandOnce(GetCallerIdentityCommand);
    expect(clock.slept).toEqual([]);
  });

  it('refuses a key that authenticates as someone else', async () => {
    const other = `arn:aws:iam::${ACCOUNT}:user/mallory`;
    m.sts.on(GetCallerIdentityCommand).resolves({ ...identity, Arn: other });
    const err = await testSecret().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toBe(
      `pending key ${NEW_KEY} authenticated as ${other}, not as the bound user ${USER_ARN}; AWSCURRENT was not moved`,
    );
  });

  it('does not retry errors that waiting cannot fix', async () => {
    m.sts.on(GetCallerIdentityCommand).rejects(awsError('ExpiredToken', 'expired'));
    await expect(testSecret()).rejects.toThrow('expired');
    expect(m.sts).toHaveReceivedCommandOnce(GetCallerIdentityCommand);
  });

  it.each([0, 250, 1_000, 2_500, 5_000, 8_000, 9_600, 12_000, 15_000, 20_000, 25_000, 29_999, 30_000])(
    'verifies a key that propagates after %i ms within 1.2 x delay + 1 s',
    async (delay) => {
      propagatesAfter(delay, 20);
      const start = clock.t;
      await testSecret({ VERIFY_BUDGET_SECONDS: '120' });
      expect(clock.t - start).toBeLessThanOrEqual(1.2 * delay + 1_000);
    },
  );

  it('keeps the bound for every delay up to 30 s (fine sweep)', async () => {
    for (let delay = 0; delay <= 30_000; delay += 97) {
      m.sts.reset();
      propagatesAfter(delay, 20);
      const start = clock.t;
      await testSecret({ VERIFY_BUDGET_SECONDS: '120' });
      expect(clock.t - start, `delay ${delay} ms`).toBeLessThanOrEqual(1.2 * delay + 1_000);
    }
  });
});

describe('nextWaitMs', () => {
  it('starts at 500 ms, grows with the time spent and stops at 3 s', () => {
    expect(nextWaitMs(0)).toBe(500);
    expect(nextWaitMs(10_000)).toBe(2_000);
    expect(nextWaitMs(60_000)).toBe(3_000);
  });
});
