import { Readable } from 'node:stream';
import {
  CreateAccessKeyCommand,
  IAMClient,
  type IAMClientConfig,
  ListAccessKeysCommand,
  NoSuchEntityException,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AccessKeyLimitError,
  createAccessKey,
  deleteAccessKey,
  listAccessKeys,
  setAccessKeyStatus,
  tagMap,
} from '../../../src/aws/iam.js';
import { getSecretString, versionWithStage } from '../../../src/aws/secrets.js';
import { publish, snsSubject } from '../../../src/aws/sns.js';
import { setClock } from '../../../src/clock.js';
import { SecretFormatError } from '../../../src/errors.js';
import { awsError, useFakeClock } from './fixtures.js';

afterEach(() => setClock(undefined));

const meta = { $metadata: {} };

describe('createAccessKey over a real IAM client', () => {
  // The SDK's standard retry strategy counts LimitExceededException as throttling; a real client
  // (no aws-sdk-client-mock) shows how many HTTP requests one call makes.
  function iamAnswering(status: number, body: string) {
    let requests = 0;
    const client = new IAMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAEXAMPLECALLER001', secretAccessKey: 'not-a-real-secret' },
      requestHandler: {
        handle: async () => {
          requests++;
          return {
            response: {
              statusCode: status,
              headers: { 'content-type': 'text/xml' },
              body: Readable.from([Buffer.from(body)]),
            },
          };
        },
      },
    } as IAMClientConfig);
    return { client, requests: () => requests };
  }

  it('sends exactly one request when IAM answers LimitExceeded, and fails with AccessKeyLimitError', async () => {
    const iam = iamAnswering(
      409,
      '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>' +
        '<Code>LimitExceeded</Code><Message>Cannot exceed quota for AccessKeysPerUser: 2</Message></Error>' +
        '<RequestId>r-1</RequestId></ErrorResponse>',
    );
    const err = await createAccessKey('bob', iam.client).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessKeyLimitError);
    expect((err as Error).message).toBe(
      'IAM refused a new access key for user bob: it already has two (LimitExceeded)',
    );
    expect(iam.requests()).toBe(1);
  });

  it('returns the new pair on success', async () => {
    const iam = iamAnswering(
      200,
      '<CreateAccessKeyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateAccessKeyResult>' +
        '<AccessKey><UserName>bob</UserName><AccessKeyId>AKIANEWKEY0000000009</AccessKeyId><Status>Active</Status>' +
        '<SecretAccessKey>fresh-secret</SecretAccessKey><CreateDate>2026-06-01T00:00:00Z</CreateDate></AccessKey>' +
        '</CreateAccessKeyResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></CreateAccessKeyResponse>',
    );
    await expect(createAccessKey('bob', iam.client)).resolves.toEqual({
      accessKeyId: 'AKIANEWKEY0000000009',
      secretAccessKey: 'fresh-secret',
      status: 'Active',
      createDate: new Date('2026-06-01T00:00:00Z'),
    });
  });
});

describe('iam helpers', () => {
  let iam: AwsClientStub<IAMClient>;
  beforeEach(() => {
    iam = mockClient(IAMClient);
  });
  afterEach(() => iam.restore());

  it('listAccessKeys follows Marker pagination', async () => {
    iam
      .on(ListAccessKeysCommand)
      .resolvesOnce({
        AccessKeyMetadata: [{ AccessKeyId: 'AKIAPAGEONEKEY000001', Status: 'Active', UserName: 'bob' }],
        IsTruncated: true,
        Marker: 'm1',
      })
      .resolvesOnce({
        AccessKeyMetadata: [{ AccessKeyId: 'AKIAPAGETWOKEY000002', Status: 'Inactive', UserName: 'bob' }],
        IsTruncated: false,
      });
    const keys = await listAccessKeys('bob', new IAMClient({}));
    expect(keys.map((k) => [k.accessKeyId, k.status])).toEqual([
      ['AKIAPAGEONEKEY000001', 'Active'],
      ['AKIAPAGETWOKEY000002', 'Inactive'],
    ]);
    expect(iam).toHaveReceivedNthCommandWith(ListAccessKeysCommand, 2, { UserName: 'bob', Marker: 'm1' });
  });

  it('retries IAM throttling on the service clock', async () => {
    const clock = useFakeClock();
    iam
      .on(UpdateAccessKeyCommand)
      .rejectsOnce(awsError('Throttling', 'Rate exceeded', 400))
      .resolves({});
    await expect(
      setAccessKeyStatus('bob', 'AKIAPAGEONEKEY000001', 'Inactive', new IAMClient({})),
    ).resolves.toBe(true);
    expect(iam).toHaveReceivedCommandTimes(UpdateAccessKeyCommand, 2);
    expect(clock.slept).toHaveLength(1);
  });

  it('reports keys that are already gone instead of failing', async () => {
    const gone = new NoSuchEntityException({ message: 'The Access Key with id X cannot be found.', ...meta });
    iam.onAnyCommand().rejects(gone);
    await expect(deleteAccessKey('bob', 'AKIAPAGEONEKEY000001', new IAMClient({}))).resolves.toBe(false);
    await expect(
      setAccessKeyStatus('bob', 'AKIAPAGEONEKEY000001', 'Inactive', new IAMClient({})),
    ).resolves.toBe(false);
  });

  it('turns a mocked LimitExceededException into AccessKeyLimitError without retrying', async () => {
    const { LimitExceededException } = await import('@aws-sdk/client-iam');
    iam.on(CreateAccessKeyCommand).rejects(new LimitExceededException({ message: 'quota', ...meta }));
    await expect(createAccessKey('bob', new IAMClient({}))).rejects.toThrow(AccessKeyLimitError);
    expect(iam).toHaveReceivedCommandTimes(CreateAccessKeyCommand, 1);
  });

  it('tagMap flattens IAM tags', () => {
    expect(
      tagMap([
        { Key: 'a', Value: '1' },
        { Key: 'b', Value: '' },
      ]),
    ).toEqual({ a: '1', b: '' });
    expect(tagMap(undefined)).toEqual({});
  });
});

describe('secrets helpers', () => {
  let sm: AwsClientStub<SecretsManagerClient>;
  beforeEach(() => {
    sm = mockClient(SecretsManagerClient);
  });
  afterEach(() => sm.restore());

  it('getSecretString returns undefined when Secrets Manager has no such value', async () => {
    sm.on(GetSecretValueCommand).rejects(new ResourceNotFoundException({ message: 'not found', ...meta }));
    await expect(
      getSecretString('s', { versionId: 'v', stage: 'AWSPENDING' }, new SecretsManagerClient({})),
    ).resolves.toBe(undefined);
    expect(sm).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: 's',
      VersionId: 'v',
      VersionStage: 'AWSPENDING',
    });
  });

  it('getSecretString refuses a binary secret', async () => {
    sm.on(GetSecretValueCommand).resolves({ ARN: 'arn:s', SecretBinary: new Uint8Array([1, 2]) });
    await expect(getSecretString('s', {}, new SecretsManagerClient({}))).rejects.toThrow(SecretFormatError);
  });

  it('versionWithStage finds the version carrying a label', () => {
    expect(versionWithStage({ a: ['AWSPREVIOUS'], b: ['AWSCURRENT', 'custom'] }, 'AWSCURRENT')).toBe('b');
    expect(versionWithStage({ a: [] }, 'AWSPENDING')).toBeUndefined();
  });
});

describe('sns helpers', () => {
  let sns: AwsClientStub<SNSClient>;
  beforeEach(() => {
    sns = mockClient(SNSClient);
  });
  afterEach(() => sns.restore());

  it('publishes string attributes and a subject SNS accepts', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'id-1' });
    const id = await publish(
      'arn:aws:sns:us-east-1:123456789012:t',
      { subject: 'Key\nrotation \u2013 blocked', message: 'body', attributes: { owner: 'a@example.com' } },
      new SNSClient({}),
    );
    expect(id).toBe('id-1');
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: 'arn:aws:sns:us-east-1:123456789012:t',
      Subject: 'Key rotation blocked',
      Message: 'body',
      MessageAttributes: { owner: { DataType: 'String', StringValue: 'a@example.com' } },
    });
  });

  it('shortens long subjects to 99 characters (SNS: less than 100)', () => {
    const subject = snsSubject('x'.repeat(150));
    expect(subject).toHaveLength(99);
    expect(subject.endsWith('...')).toBe(true);
  });
});
