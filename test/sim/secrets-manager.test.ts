import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimAccount } from './index.js';

const unexpected = (): never => {
  throw new Error('expected the call to fail');
};

let sim: SimAccount;
let sm: SecretsManagerClient;
beforeEach(() => {
  sim = new SimAccount().install();
  sm = new SecretsManagerClient({});
});
afterEach(() => sim.restore());

describe('Secrets Manager secrets', () => {
  it('creates a secret whose ARN has the random suffix, readable by name or ARN', async () => {
    const out = await sm.send(
      new CreateSecretCommand({
        Name: 'iam-key-rotator/alice',
        SecretString: '{"UserName":"alice"}',
        ClientRequestToken: 'token-1',
        Tags: [{ Key: 'iam-key-rotator:user', Value: 'alice' }],
      }),
    );
    expect(out.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:123456789012:secret:iam-key-rotator\/alice-[A-Za-z0-9]{6}$/,
    );
    expect(out.VersionId).toBe('token-1');
    const byArn = await sm.send(new GetSecretValueCommand({ SecretId: out.ARN }));
    expect(byArn).toMatchObject({
      SecretString: '{"UserName":"alice"}',
      VersionId: 'token-1',
      VersionStages: ['AWSCURRENT'],
    });
    const d = await sm.send(new DescribeSecretCommand({ SecretId: 'iam-key-rotator/alice' }));
    expect(d.Tags).toEqual([{ Key: 'iam-key-rotator:user', Value: 'alice' }]);
    expect(d.VersionIdsToStages).toEqual({ 'token-1': ['AWSCURRENT'] });
    expect(d.RotationEnabled).toBe(false);
    await expect(
      sm.send(new CreateSecretCommand({ Name: 'iam-key-rotator/alice', SecretString: 'x' })),
    ).rejects.toBeInstanceOf(ResourceExistsException);
    const missing = await sm
      .send(new GetSecretValueCommand({ SecretId: 'nope' }))
      .then(unexpected, (e: unknown) => e as Error);
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect(missing.message).toBe("Secrets Manager can't find the specified secret.");
  });

  it('describes rotation settings and the next rotation date', () => {
    const arn = sim.rotationFunctionArn();
    sim.addSecret({ name: 's', value: { a: 1 }, rotationLambdaArn: arn, rotationDays: 30 });
    return sm.send(new DescribeSecretCommand({ SecretId: 's' })).then((d) => {
      expect(d).toMatchObject({
        RotationEnabled: true,
        RotationLambdaARN: arn,
        RotationRules: { AutomaticallyAfterDays: 30 },
        NextRotationDate: new Date('2026-07-01T00:00:00Z'),
      });
    });
  });

  it('PutSecretValue: same token and value is a no-op, a different value is refused', async () => {
    sim.addSecret({ name: 's', value: 'v1' });
    const first = await sm.send(
      new PutSecretValueCommand({ SecretId: 's', ClientRequestToken: 't2', SecretString: 'v2' }),
    );
    expect(first.VersionStages).toEqual(['AWSCURRENT']);
    const again = await sm.send(
      new PutSecretValueCommand({ SecretId: 's', ClientRequestToken: 't2', SecretString: 'v2' }),
    );
    expect(again.VersionId).toBe('t2');
    await expect(
      sm.send(new PutSecretValueCommand({ SecretId: 's', ClientRequestToken: 't2', SecretString: 'other' })),
    ).rejects.toBeInstanceOf(ResourceExistsException);
    expect(sim.valueAt('s')).toBe('v2');
    // The old current became AWSPREVIOUS.
    expect(sim.valueAt('s', 'AWSPREVIOUS')).toBe('v1');
    expect(sim.secret('s')?.versions).toHaveLength(2);
  });

  it('PutSecretValue with AWSPENDING leaves AWSCURRENT where it was', async () => {
    sim.addSecret({ name: 's', value: 'v1' });
    await sm.send(
      new PutSecretValueCommand({
        SecretId: 's',
        ClientRequestToken: 'p',
        SecretString: 'v2',
        VersionStages: ['AWSPENDING'],
      }),
    );
    expect(sim.valueAt('s')).toBe('v1');
    expect(sim.versionWithStage('s', 'AWSPENDING')).toBe('p');
    const pending = await sm.send(new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPENDING' }));
    expect(pending.SecretString).toBe('v2');
    const byBoth = await sm.send(
      new GetSecretValueCommand({ SecretId: 's', VersionId: 'p', VersionStage: 'AWSPENDING' }),
    );
    expect(byBoth.VersionId).toBe('p');
  });

  it('GetSecretValue names the missing staging label', async () => {
    sim.addSecret({ name: 's', value: 'v1' });
    const err = await sm
      .send(new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPENDING' }))
      .then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    expect(err.message).toBe(
      "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
    );
  });

  it('UpdateSecretVersionStage enforces RemoveFromVersionId and adds AWSPREVIOUS', async () => {
    const { versions } = sim.addSecret({ name: 's', value: 'v1' });
    const v1 = versions[0]?.versionId ?? '';
    await sm.send(
      new PutSecretValueCommand({
        SecretId: 's',
        ClientRequestToken: 'v2',
        SecretString: 'two',
        VersionStages: ['AWSPENDING'],
      }),
    );
    const missingRemove = await sm
      .send(
        new UpdateSecretVersionStageCommand({
          SecretId: 's',
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: 'v2',
        }),
      )
      .catch((e: unknown) => e);
    expect(missingRemove).toBeInstanceOf(InvalidParameterException);
    expect(sim.versionWithStage('s', 'AWSCURRENT')).toBe(v1);
    await expect(
      sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 's',
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: 'v2',
          RemoveFromVersionId: 'v2',
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 's',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: 'v2',
        RemoveFromVersionId: v1,
      }),
    );
    expect(sim.versionWithStage('s', 'AWSCURRENT')).toBe('v2');
    expect(sim.versionWithStage('s', 'AWSPREVIOUS')).toBe(v1);
    // AWSPENDING stays on v2 until removed.
    expect(
      sim
        .secret('s')
        ?.versions.find((v) => v.versionId === 'v2')
        ?.stages.sort(),
    ).toEqual(['AWSCURRENT', 'AWSPENDING']);
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 's',
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: 'v2',
      }),
    );
    expect(sim.versionWithStage('s', 'AWSPENDING')).toBeUndefined();
    await expect(
      sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 's',
          VersionStage: 'AWSPENDING',
          RemoveFromVersionId: 'v2',
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    const ids = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 's' }));
    expect(ids.Versions?.map((v) => [v.VersionId, v.VersionStages])).toEqual([
      [v1, ['AWSPREVIOUS']],
      ['v2', ['AWSCURRENT']],
    ]);
  });

  it('tags, untags, deletes and cancels rotation without removing AWSPENDING', async () => {
    const arn = sim.rotationFunctionArn();
    sim.addSecret({ name: 's', value: 'v', rotationLambdaArn: arn });
    await sm.send(
      new PutSecretValueCommand({
        SecretId: 's',
        ClientRequestToken: 'p',
        SecretString: 'n',
        VersionStages: ['AWSPENDING'],
      }),
    );
    await sm.send(
      new TagResourceCommand({
        SecretId: 's',
        Tags: [
          { Key: 'k', Value: 'v' },
          { Key: 'x', Value: 'y' },
        ],
      }),
    );
    await sm.send(new UntagResourceCommand({ SecretId: 's', TagKeys: ['x'] }));
    expect(sim.secret('s')?.tags).toEqual({ k: 'v' });
    await sm.send(new CancelRotateSecretCommand({ SecretId: 's' }));
    expect(sim.secret('s')?.rotationEnabled).toBe(false);
    expect(sim.versionWithStage('s', 'AWSPENDING')).toBe('p');
    await sm.send(new DeleteSecretCommand({ SecretId: 's', RecoveryWindowInDays: 7 }));
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 's' }))).rejects.toBeInstanceOf(
      InvalidRequestException,
    );
    await sm.send(new DeleteSecretCommand({ SecretId: 's', ForceDeleteWithoutRecovery: true }));
    expect(sim.secret('s')).toBeUndefined();
  });
});

describe('ListSecrets', () => {
  it('pages (MaxResults at most 100) and filters by tag key, tag value and name', async () => {
    for (let i = 0; i < 130; i++) {
      sim.addSecret({ name: `iam-key-rotator/u${i}`, value: 'v', tags: { 'iam-key-rotator:user': `u${i}` } });
    }
    for (let i = 0; i < 5; i++) sim.addSecret({ name: `other/${i}`, value: 'v', tags: { team: 'x' } });
    const first = await sm.send(new ListSecretsCommand({}));
    expect(first.SecretList).toHaveLength(100);
    expect(first.NextToken).toBeDefined();
    await expect(sm.send(new ListSecretsCommand({ MaxResults: 101 }))).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await sm.send(
        new ListSecretsCommand({
          MaxResults: 50,
          NextToken: token,
          Filters: [{ Key: 'tag-key', Values: ['iam-key-rotator:user'] }],
        }),
      );
      names.push(...(page.SecretList ?? []).map((s) => s.Name ?? ''));
      token = page.NextToken;
    } while (token);
    expect(names).toHaveLength(130);
    const byValue = await sm.send(
      new ListSecretsCommand({ Filters: [{ Key: 'tag-value', Values: ['u12'] }] }),
    );
    expect(byValue.SecretList?.map((s) => s.Name)).toEqual([
      'iam-key-rotator/u12',
      ...Array.from({ length: 10 }, (_, i) => `iam-key-rotator/u12${i}`),
    ]);
    const byName = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['other/'] }] }));
    expect(byName.SecretList).toHaveLength(5);
    const entry = byName.SecretList?.[0];
    expect(entry?.Tags).toEqual([{ Key: 'team', Value: 'x' }]);
    expect(Object.values(entry?.SecretVersionsToStages ?? {})).toEqual([['AWSCURRENT']]);
    const negated = await sm.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['!iam-key-rotator/'] }] }),
    );
    expect(negated.SecretList).toHaveLength(5);
  });
});
