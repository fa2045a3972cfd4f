import { CreateAccessKeyCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it } from 'vitest';
import { clock } from '../../src/clock.js';
import type { SimOptions, SimRotationEvent } from './index.js';
import { SimAccount, SimulatedCrash } from './index.js';

const unexpected = (): never => {
  throw new Error('expected the call to fail');
};

let sim: SimAccount;
afterEach(() => sim.restore());

/** A minimal rotation function in the style of AWS's templates, to drive the simulator. */
function miniRotator(events: SimRotationEvent[], o: { failStep?: string; failTimes?: number } = {}) {
  const sm = new SecretsManagerClient({});
  const iam = new IAMClient({});
  let failures = 0;
  return async (event: SimRotationEvent) => {
    events.push(event);
    if (event.Step === o.failStep && failures < (o.failTimes ?? Number.POSITIVE_INFINITY)) {
      failures++;
      throw new Error(`${event.Step} failed on purpose`);
    }
    const { SecretId, ClientRequestToken: token } = event;
    switch (event.Step) {
      case 'createSecret': {
        const exists = await sm
          .send(new GetSecretValueCommand({ SecretId, VersionId: token, VersionStage: 'AWSPENDING' }))
          .then(
            () => true,
            () => false,
          );
        if (exists) return;
        const current = JSON.parse(
          (await sm.send(new GetSecretValueCommand({ SecretId }))).SecretString ?? '{}',
        );
        const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: current.UserName }));
        await sm.send(
          new PutSecretValueCommand({
            SecretId,
            ClientRequestToken: token,
            VersionStages: ['AWSPENDING'],
            SecretString: JSON.stringify({
              ...current,
              AccessKeyId: AccessKey?.AccessKeyId,
              SecretAccessKey: AccessKey?.SecretAccessKey,
            }),
          }),
        );
        return;
      }
      case 'setSecret':
        return;
      case 'testSecret': {
        const pending = JSON.parse(
          (
            await sm.send(
              new GetSecretValueCommand({ SecretId, VersionId: token, VersionStage: 'AWSPENDING' }),
            )
          ).SecretString ?? '{}',
        );
        const sts = new STSClient({
          credentials: { accessKeyId: pending.AccessKeyId, secretAccessKey: pending.SecretAccessKey },
        });
        for (let i = 0; ; i++) {
          try {
            await sts.send(new GetCallerIdentityCommand({}));
            return;
          } catch (err) {
            if (i >= 10) throw err;
            await clock().sleep(2_000);
          }
        }
      }
      case 'finishSecret': {
        const d = await sm.send(new DescribeSecretCommand({ SecretId }));
        const current = Object.entries(d.VersionIdsToStages ?? {}).find(([, s]) =>
          s.includes('AWSCURRENT'),
        )?.[0];
        if (current === token) return;
        await sm.send(
          new UpdateSecretVersionStageCommand({
            SecretId,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: token,
            RemoveFromVersionId: current,
          }),
        );
        return;
      }
    }
  };
}

function setup(options: SimOptions = {}, rotator: { failStep?: string; failTimes?: number } = {}) {
  sim = new SimAccount(options).install();
  sim.addUser('alice');
  const key = sim.addKey('alice', { ageDays: 100 });
  const arn = sim.rotationFunctionArn();
  const events: SimRotationEvent[] = [];
  sim.registerRotationFunction(arn, miniRotator(events, rotator));
  const secret = sim.addSecret({
    name: 'iam-key-rotator/alice',
    value: { UserName: 'alice', ...key },
    rotationLambdaArn: arn,
    rotationDays: 30,
  });
  return { key, secret, events, sm: new SecretsManagerClient({}) };
}

describe('RotateSecret', () => {
  it('stages AWSPENDING, runs the four steps with the token and promotes the new version', async () => {
    const { key, secret, events, sm } = setup();
    const out = await sm.send(
      new RotateSecretCommand({ SecretId: secret.name, ClientRequestToken: 'tok-1' }),
    );
    expect(out).toMatchObject({ ARN: secret.arn, Name: secret.name, VersionId: 'tok-1' });
    expect(events.map((e) => e.Step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    for (const e of events) {
      expect(e.SecretId).toBe(secret.arn);
      expect(e.ClientRequestToken).toBe('tok-1');
      expect(e.RotationToken).toMatch(/^[A-Za-z0-9]{64}$/);
    }
    expect(sim.versionWithStage(secret.name, 'AWSCURRENT')).toBe('tok-1');
    expect(sim.versionWithStage(secret.name, 'AWSPENDING')).toBeUndefined();
    expect(sim.versionWithStage(secret.name, 'AWSPREVIOUS')).toBe(secret.versions[0]?.versionId);
    const value = JSON.parse(sim.valueAt(secret.name) ?? '{}');
    expect(value.AccessKeyId).not.toBe(key.accessKeyId);
    expect(sim.keys('alice')).toHaveLength(2);
    expect(sim.rotations()).toEqual([
      { secretArn: secret.arn, token: 'tok-1', attempts: 1, outcome: 'succeeded', errors: [] },
    ]);
    // The test step had to wait out the propagation delay on the virtual clock.
    expect(sim.clock.now().getTime()).toBeGreaterThanOrEqual(new Date('2026-06-01T00:00:08Z').getTime());
    const d = await sm.send(new DescribeSecretCommand({ SecretId: secret.name }));
    expect(d.LastRotatedDate).toEqual(sim.secret(secret.name)?.lastRotated);
    expect(d.NextRotationDate?.getTime()).toBe((d.LastRotatedDate?.getTime() ?? 0) + 30 * 86_400_000);
  });

  it('retries the whole rotation from createSecret after a failing step', async () => {
    const { secret, events, sm } = setup({}, { failStep: 'testSecret', failTimes: 1 });
    await sm.send(new RotateSecretCommand({ SecretId: secret.name }));
    expect(events.map((e) => e.Step)).toEqual([
      'createSecret',
      'setSecret',
      'testSecret',
      'createSecret',
      'setSecret',
      'testSecret',
      'finishSecret',
    ]);
    expect(new Set(events.map((e) => e.ClientRequestToken)).size).toBe(1);
    const [record] = sim.rotations();
    expect(record).toMatchObject({
      attempts: 2,
      outcome: 'succeeded',
      errors: ['Error: testSecret failed on purpose'],
    });
    expect(sim.keys('alice')).toHaveLength(2);
  });

  it('leaves a stuck AWSPENDING after every attempt failed, and refuses later rotations', async () => {
    const { secret, events, sm } = setup({ rotationAttempts: 2 }, { failStep: 'finishSecret' });
    const out = await sm.send(
      new RotateSecretCommand({ SecretId: secret.name, ClientRequestToken: 'tok-1' }),
    );
    expect(out.VersionId).toBe('tok-1');
    expect(events.filter((e) => e.Step === 'createSecret')).toHaveLength(2);
    expect(sim.rotations()[0]).toMatchObject({ outcome: 'failed', attempts: 2 });
    expect(sim.versionWithStage(secret.name, 'AWSPENDING')).toBe('tok-1');
    expect(sim.versionWithStage(secret.name, 'AWSCURRENT')).toBe(secret.versions[0]?.versionId);
    const err = await sm
      .send(new RotateSecretCommand({ SecretId: secret.name }))
      .then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(InvalidRequestException);
    expect(err.message).toBe("A previous rotation isn't complete. That rotation will be reattempted.");
    expect(sim.rotations()).toHaveLength(1);
  });

  it('treats a crash inside a step as a failed attempt', async () => {
    const { secret, sm } = setup();
    sim.crashAfterCall('PutSecretValue');
    await sm.send(new RotateSecretCommand({ SecretId: secret.name }));
    const [record] = sim.rotations();
    expect(record?.outcome).toBe('succeeded');
    expect(record?.attempts).toBe(2);
    expect(record?.errors[0]).toMatch(/^SimulatedCrash/);
    expect(SimulatedCrash.name).toBe('SimulatedCrash');
  });

  it('only changes settings when RotateImmediately is false', async () => {
    const { secret, events, sm } = setup();
    await sm.send(
      new RotateSecretCommand({
        SecretId: secret.name,
        RotateImmediately: false,
        RotationRules: { AutomaticallyAfterDays: 7 },
      }),
    );
    expect(events).toEqual([]);
    expect(sim.secret(secret.name)?.rotationDays).toBe(7);
    expect(sim.rotations()).toEqual([]);
  });

  it('refuses a function that is not registered, changing nothing', async () => {
    const { secret, sm } = setup();
    const err = await sm
      .send(
        new RotateSecretCommand({
          SecretId: secret.name,
          RotationLambdaARN: sim.rotationFunctionArn('other'),
        }),
      )
      .then(unexpected, (e: unknown) => e as Error);
    expect(err.name).toBe('AccessDeniedException');
    expect(sim.versionWithStage(secret.name, 'AWSPENDING')).toBeUndefined();
    expect(sim.secret(secret.name)?.rotationLambdaArn).toBe(sim.rotationFunctionArn());
  });
});

describe('deferred rotation', () => {
  it('stages AWSPENDING at once and refuses a concurrent RotateSecret', async () => {
    const { secret, events, sm } = setup({ rotationMode: 'deferred' });
    const results = await Promise.allSettled(
      ['first', 'second'].map((token) =>
        sm.send(new RotateSecretCommand({ SecretId: secret.name, ClientRequestToken: token })),
      ),
    );
    // Concurrent requests have no order: exactly one wins, the other is refused.
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.VersionId] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(won).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(InvalidRequestException);
    expect(events).toEqual([]);
    expect(sim.rotations()[0]?.outcome).toBe('running');
    const pending = await sm
      .send(new GetSecretValueCommand({ SecretId: secret.name, VersionStage: 'AWSPENDING' }))
      .then(unexpected, (e: unknown) => e as Error);
    // Staged, but no value until createSecret puts one.
    expect(pending.message).toMatch(/staging label: AWSPENDING/);
    await sim.runPendingRotations();
    expect(sim.rotations()[0]?.outcome).toBe('succeeded');
    expect(sim.versionWithStage(secret.name, 'AWSCURRENT')).toBe(won[0]);
  });

  it('starts when the virtual clock passes one second after the call', async () => {
    const { secret, events, sm } = setup({ rotationMode: 'deferred' });
    await sm.send(new RotateSecretCommand({ SecretId: secret.name }));
    await sim.clock.sleep(500);
    expect(events).toEqual([]);
    await sim.clock.sleep(60_000);
    expect(sim.rotations()[0]?.outcome).toBe('succeeded');
    expect(events.map((e) => e.Step)).toHaveLength(4);
  });
});

describe('scheduled rotation', () => {
  it('rotates secrets whose NextRotationDate has passed', async () => {
    const { secret } = setup();
    await sim.runScheduledRotations();
    expect(sim.rotations()).toEqual([]);
    sim.clock.advance(31 * 86_400_000);
    await sim.runScheduledRotations();
    expect(sim.rotations()).toMatchObject([{ secretArn: secret.arn, outcome: 'succeeded' }]);
  });
});
