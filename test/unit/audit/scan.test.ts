import {
  CredentialReportExpiredException,
  CredentialReportNotPresentException,
  CredentialReportNotReadyException,
  GenerateCredentialReportCommand,
  GetAccountAuthorizationDetailsCommand,
  GetCredentialReportCommand,
  IAMClient,
  IAMServiceException,
} from '@aws-sdk/client-iam';
import {
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CredentialReportError,
  fetchCredentialReport,
  listAccountUsers,
  listBoundSecrets,
} from '../../../src/audit/scan.js';
import { type Clock, setClock } from '../../../src/clock.js';

const iamMock = mockClient(IAMClient);
const smMock = mockClient(SecretsManagerClient);
const iam = new IAMClient({ region: 'us-east-1' });
const sm = new SecretsManagerClient({ region: 'us-east-1' });
const meta = { $metadata: {} };

const T0 = Date.parse('2026-06-01T06:00:00Z');
let clock: Clock & { t: number; slept: number[] };
beforeEach(() => {
  iamMock.reset();
  smMock.reset();
  clock = {
    t: T0,
    slept: [],
    now: () => new Date(clock.t),
    sleep: async (ms: number) => {
      clock.slept.push(ms);
      clock.t += ms;
    },
  };
  setClock(clock);
});
afterEach(() => setClock(undefined));

const CSV = new TextEncoder().encode('user,arn\n');
const report = (generatedAgoMs = 60_000) => ({
  ...meta,
  Content: CSV,
  ReportFormat: 'text/csv' as const,
  GeneratedTime: new Date(clock.t - generatedAgoMs),
});
const state = (State: 'STARTED' | 'INPROGRESS' | 'COMPLETE') => ({ ...meta, State });
const err = (C: new (o: { message: string; $metadata: object }) => Error): Error =>
  new C({ message: 'simulated', $metadata: {} });

describe('fetchCredentialReport', () => {
  it('uses a recent report at the cost of two calls and no wait', async () => {
    iamMock.on(GenerateCredentialReportCommand).resolves(state('COMPLETE'));
    iamMock.on(GetCredentialReportCommand).resolves(report(3_600_000));

    const r = await fetchCredentialReport(iam);

    expect(r.content).toBe(CSV);
    expect(r.generatedAt).toEqual(new Date(T0 - 3_600_000));
    expect(iamMock.commandCalls(GenerateCredentialReportCommand)).toHaveLength(1);
    expect(iamMock.commandCalls(GetCredentialReportCommand)).toHaveLength(1);
    expect(clock.slept).toEqual([]);
  });

  it('waits for a report being generated, polling less often as it goes', async () => {
    iamMock
      .on(GenerateCredentialReportCommand)
      .resolvesOnce(state('STARTED'))
      .resolvesOnce(state('INPROGRESS'))
      .resolvesOnce(state('INPROGRESS'))
      .resolves(state('COMPLETE'));
    iamMock.on(GetCredentialReportCommand).callsFake(() => report(0));

    const r = await fetchCredentialReport(iam);

    expect(r.content).toBe(CSV);
    expect(clock.slept).toEqual([2_000, 4_000, 8_000]);
    expect(iamMock.commandCalls(GenerateCredentialReportCommand)).toHaveLength(4);
    expect(iamMock.commandCalls(GetCredentialReportCommand)).toHaveLength(1);
  });

  it('caps the wait between polls', async () => {
    const gen = iamMock.on(GenerateCredentialReportCommand);
    for (let i = 0; i < 6; i++) gen.resolvesOnce(state('INPROGRESS'));
    gen.resolves(state('COMPLETE'));
    iamMock.on(GetCredentialReportCommand).callsFake(() => report(0));

    await fetchCredentialReport(iam, { pollMs: 1_000, maxPollMs: 5_000 });

    expect(clock.slept).toEqual([1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
  });

  it.each([
    ['ReportExpired', CredentialReportExpiredException],
    ['ReportNotPresent', CredentialReportNotPresentException],
  ] as const)('generates a new report at once when GetCredentialReport says %s', async (_, E) => {
    iamMock
      .on(GenerateCredentialReportCommand)
      .resolvesOnce(state('COMPLETE'))
      .resolvesOnce(state('STARTED'))
      .resolves(state('COMPLETE'));
    iamMock
      .on(GetCredentialReportCommand)
      .rejectsOnce(err(E))
      .callsFake(() => report(0));

    const r = await fetchCredentialReport(iam);

    expect(r.content).toBe(CSV);
    // No wait before regenerating; one wait for the new report.
    expect(clock.slept).toEqual([2_000]);
    expect(iamMock.commandCalls(GenerateCredentialReportCommand)).toHaveLength(3);
  });

  it('waits when GetCredentialReport says ReportInProgress (another caller started a new one)', async () => {
    iamMock.on(GenerateCredentialReportCommand).resolves(state('COMPLETE'));
    iamMock
      .on(GetCredentialReportCommand)
      .rejectsOnce(err(CredentialReportNotReadyException))
      .callsFake(() => report(0));

    await fetchCredentialReport(iam);

    expect(clock.slept).toEqual([2_000]);
    expect(iamMock.commandCalls(GetCredentialReportCommand)).toHaveLength(2);
  });

  it('does not use a report older than 4 hours', async () => {
    iamMock
      .on(GenerateCredentialReportCommand)
      .resolvesOnce(state('COMPLETE'))
      .resolvesOnce(state('STARTED'))
      .resolves(state('COMPLETE'));
    iamMock
      .on(GetCredentialReportCommand)
      .resolvesOnce(report(4 * 3_600_000 + 1_000))
      .callsFake(() => report(0));

    const r = await fetchCredentialReport(iam);

    expect(r.generatedAt.getTime()).toBe(clock.t);
    expect(iamMock.commandCalls(GetCredentialReportCommand)).toHaveLength(2);
  });

  it('gives up after the maximum wait with an error that says nothing was changed', async () => {
    iamMock.on(GenerateCredentialReportCommand).resolves(state('INPROGRESS'));

    const e = await fetchCredentialReport(iam, { maxWaitMs: 60_000 }).catch((x: unknown) => x);

    expect(e).toBeInstanceOf(CredentialReportError);
    expect((e as Error).message).toBe(
      'the credential report was not ready after 60 s (state INPROGRESS); nothing was changed',
    );
    expect(clock.t - T0).toBe(60_000);
    expect(iamMock.commandCalls(GetCredentialReportCommand)).toHaveLength(0);
  });

  it('retries throttling and fails on any other error', async () => {
    const throttled = new IAMServiceException({
      name: 'Throttling',
      message: 'Rate exceeded',
      $fault: 'client',
      $metadata: {},
    });
    iamMock.on(GenerateCredentialReportCommand).rejectsOnce(throttled).resolves(state('COMPLETE'));
    iamMock.on(GetCredentialReportCommand).callsFake(() => report(0));
    await expect(fetchCredentialReport(iam)).resolves.toMatchObject({ content: CSV });

    const denied = new IAMServiceException({
      name: 'AccessDenied',
      message: 'not authorized to perform iam:GetCredentialReport',
      $fault: 'client',
      $metadata: {},
    });
    iamMock.on(GetCredentialReportCommand).rejects(denied);
    await expect(fetchCredentialReport(iam)).rejects.toBe(denied);
  });

  it('reports an empty answer as an error', async () => {
    iamMock.on(GenerateCredentialReportCommand).resolves(state('COMPLETE'));
    iamMock.on(GetCredentialReportCommand).resolves({ ...meta });
    await expect(fetchCredentialReport(iam)).rejects.toThrow(CredentialReportError);
  });
});

describe('listAccountUsers', () => {
  it('reads every page of users, 1,000 at a time, with tags and groups', async () => {
    iamMock
      .on(GetAccountAuthorizationDetailsCommand)
      .resolvesOnce({
        ...meta,
        UserDetailList: [
          {
            UserName: 'alice',
            Arn: 'arn:aws:iam::123456789012:user/alice',
            Path: '/',
            Tags: [{ Key: 'owner', Value: 'Alice@Example.com' }],
            GroupList: ['admins'],
          },
          { Arn: 'arn:aws:iam::123456789012:user/nameless' },
        ],
        IsTruncated: true,
        Marker: 'page-2',
      })
      .resolvesOnce({
        ...meta,
        UserDetailList: [
          { UserName: 'bob+ci@x', Arn: 'arn:aws:iam::123456789012:user/ci/bob+ci@x', Path: '/ci/' },
        ],
        IsTruncated: false,
      });

    const users = await listAccountUsers(iam);

    expect(users).toEqual([
      {
        userName: 'alice',
        arn: 'arn:aws:iam::123456789012:user/alice',
        path: '/',
        tags: { owner: 'Alice@Example.com' },
        groups: ['admins'],
      },
      {
        userName: 'bob+ci@x',
        arn: 'arn:aws:iam::123456789012:user/ci/bob+ci@x',
        path: '/ci/',
        tags: {},
        groups: [],
      },
    ]);
    const calls = iamMock.commandCalls(GetAccountAuthorizationDetailsCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { Filter: ['User'], MaxItems: 1000, Marker: undefined },
      { Filter: ['User'], MaxItems: 1000, Marker: 'page-2' },
    ]);
  });
});

describe('listBoundSecrets', () => {
  const arn = (n: string) =>
    `arn:aws:secretsmanager:us-east-1:123456789012:secret:iam-key-rotator/${n}-AbCdEf`;

  it('lists secrets tagged for a user, page by page, and dates only pending rotations', async () => {
    smMock
      .on(ListSecretsCommand)
      .resolvesOnce({
        ...meta,
        SecretList: [
          {
            ARN: arn('alice'),
            Name: 'iam-key-rotator/alice',
            RotationEnabled: true,
            RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:rot',
            LastRotatedDate: new Date('2026-05-01T00:00:00Z'),
            NextRotationDate: new Date('2026-07-22T00:00:00Z'),
            Tags: [{ Key: 'iam-key-rotator:user', Value: 'alice' }],
            SecretVersionsToStages: { v1: ['AWSCURRENT'], v0: ['AWSPREVIOUS'] },
          },
          // Tagged with a longer key that the prefix filter also matches: not bound.
          { ARN: arn('x'), Name: 'x', Tags: [{ Key: 'iam-key-rotator:username', Value: 'x' }] },
        ],
        NextToken: 't2',
      })
      .resolvesOnce({
        ...meta,
        SecretList: [
          {
            ARN: arn('bob'),
            Name: 'iam-key-rotator/bob',
            RotationEnabled: true,
            Tags: [{ Key: 'iam-key-rotator:user', Value: 'bob' }],
            SecretVersionsToStages: { v2: ['AWSCURRENT'], v3: ['AWSPENDING'] },
          },
        ],
      });
    smMock.on(ListSecretVersionIdsCommand).resolves({
      ...meta,
      Versions: [
        { VersionId: 'v2', VersionStages: ['AWSCURRENT'], CreatedDate: new Date('2026-01-01T00:00:00Z') },
        { VersionId: 'v3', VersionStages: ['AWSPENDING'], CreatedDate: new Date('2026-05-31T20:00:00Z') },
      ],
    });

    const secrets = await listBoundSecrets(sm);

    expect(secrets.map((s) => s.userName)).toEqual(['alice', 'bob']);
    expect(secrets[0]).toMatchObject({
      secretArn: arn('alice'),
      secretName: 'iam-key-rotator/alice',
      rotationEnabled: true,
      lastRotated: new Date('2026-05-01T00:00:00Z'),
      pendingVersionId: undefined,
      pendingSince: null,
    });
    expect(secrets[1]).toMatchObject({
      rotationEnabled: true,
      lastRotated: null,
      pendingVersionId: 'v3',
      pendingSince: new Date('2026-05-31T20:00:00Z'),
    });
    const listCalls = smMock.commandCalls(ListSecretsCommand).map((c) => c.args[0].input);
    expect(listCalls[0]).toMatchObject({ Filters: [{ Key: 'tag-key', Values: ['iam-key-rotator:user'] }] });
    expect(listCalls[1]).toMatchObject({ NextToken: 't2' });
    // One call for the one secret with a rotation under way, none for the others.
    expect(smMock.commandCalls(ListSecretVersionIdsCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      arn('bob'),
    ]);
  });

  it('does not count AWSPENDING on the AWSCURRENT version as a rotation under way', async () => {
    smMock.on(ListSecretsCommand).resolves({
      ...meta,
      SecretList: [
        {
          ARN: arn('carol'),
          Name: 'iam-key-rotator/carol',
          Tags: [{ Key: 'iam-key-rotator:user', Value: 'carol' }],
          SecretVersionsToStages: { v1: ['AWSCURRENT', 'AWSPENDING'] },
        },
      ],
    });
    const [carol] = await listBoundSecrets(sm);
    expect(carol).toMatchObject({ pendingVersionId: undefined, rotationEnabled: false });
    expect(smMock.commandCalls(ListSecretVersionIdsCommand)).toHaveLength(0);
  });

  it("dates a pending rotation it may not read by the secret's last change, and lists the rest", async () => {
    smMock.on(ListSecretsCommand).resolves({
      ...meta,
      SecretList: [
        {
          ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:elsewhere/dan-AbCdEf',
          Name: 'elsewhere/dan',
          RotationEnabled: true,
          LastChangedDate: new Date('2026-05-30T10:00:00Z'),
          Tags: [{ Key: 'iam-key-rotator:user', Value: 'dan' }],
          SecretVersionsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] },
        },
        {
          ARN: arn('eve'),
          Name: 'iam-key-rotator/eve',
          Tags: [{ Key: 'iam-key-rotator:user', Value: 'eve' }],
          SecretVersionsToStages: { v1: ['AWSCURRENT'] },
        },
      ],
    });
    const denied = new Error('not authorized to perform: secretsmanager:ListSecretVersionIds');
    denied.name = 'AccessDeniedException';
    smMock.on(ListSecretVersionIdsCommand).rejects(denied);

    const secrets = await listBoundSecrets(sm);

    expect(secrets.map((s) => [s.userName, s.pendingSince])).toEqual([
      ['dan', new Date('2026-05-30T10:00:00Z')],
      ['eve', null],
    ]);
  });
});
