import {
  BatchEntryIdsNotDistinctException,
  BatchRequestTooLongException,
  CreateTopicCommand,
  EmptyBatchRequestException,
  InvalidParameterException,
  ListSubscriptionsByTopicCommand,
  ListSubscriptionsCommand,
  NotFoundException,
  PublishBatchCommand,
  PublishCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
  TooManyEntriesInBatchRequestException,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimAccount } from './index.js';

const unexpected = (): never => {
  throw new Error('expected the call to fail');
};

let sim: SimAccount;
let sns: SNSClient;
let topic: string;
beforeEach(async () => {
  sim = new SimAccount().install();
  sns = new SNSClient({});
  topic = (await sns.send(new CreateTopicCommand({ Name: 'iam-key-rotator' }))).TopicArn ?? '';
});
afterEach(() => sim.restore());

const ownerAttr = (owner: string, severity = 'warning') => ({
  owner: { DataType: 'String', StringValue: owner },
  severity: { DataType: 'String', StringValue: severity },
});

describe('SNS topics and subscriptions', () => {
  it('CreateTopic is idempotent by name', async () => {
    const again = await sns.send(new CreateTopicCommand({ Name: 'iam-key-rotator' }));
    expect(again.TopicArn).toBe(topic);
    expect(topic).toBe('arn:aws:sns:us-east-1:123456789012:iam-key-rotator');
    expect(sim.topics()).toEqual([topic]);
  });

  it('email subscriptions wait for confirmation and receive nothing until then', async () => {
    const out = await sns.send(
      new SubscribeCommand({
        TopicArn: topic,
        Protocol: 'email',
        Endpoint: 'alice@example.com',
        Attributes: { FilterPolicy: JSON.stringify({ owner: ['alice@example.com'] }) },
      }),
    );
    expect(out.SubscriptionArn).toBe('pending confirmation');
    expect(sim.confirmationRequests()).toMatchObject([{ endpoint: 'alice@example.com', topicArn: topic }]);
    const listed = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic }));
    expect(listed.Subscriptions?.[0]?.SubscriptionArn).toBe('PendingConfirmation');
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'hi',
        MessageAttributes: ownerAttr('alice@example.com'),
      }),
    );
    expect(sim.deliveries()).toEqual([]);
    const [sub] = sim.subscriptions(topic);
    sim.confirmSubscription(sub?.arn ?? '');
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'hi again',
        Subject: 'Keys',
        MessageAttributes: ownerAttr('alice@example.com'),
      }),
    );
    expect(sim.deliveries('alice@example.com')).toMatchObject([
      {
        message: 'hi again',
        subject: 'Keys',
        attributes: { owner: 'alice@example.com', severity: 'warning' },
      },
    ]);
    expect(sim.published()).toHaveLength(2);
  });

  it('expires unconfirmed subscriptions after three days', async () => {
    await sns.send(
      new SubscribeCommand({ TopicArn: topic, Protocol: 'email', Endpoint: 'late@example.com' }),
    );
    sim.clock.advance(3 * 86_400_000 + 1);
    expect(sim.subscriptions(topic)).toEqual([]);
  });

  it('delivers to each subscription only what its filter policy matches', async () => {
    const alice = sim.addSubscription(topic, 'email', 'alice@example.com', {
      filterPolicy: { owner: ['alice@example.com'] },
    });
    sim.addSubscription(topic, 'email', 'security@example.com', { filterPolicy: { audience: ['security'] } });
    sim.addSubscription(topic, 'email', 'urgent@example.com', {
      filterPolicy: { severity: [{ 'anything-but': ['warning'] }], owner: [{ prefix: 'bob' }] },
    });
    sim.addSubscription(topic, 'email', 'no-owner@example.com', {
      filterPolicy: { owner: [{ exists: false }] },
    });
    sim.addSubscription(topic, 'email', 'everything@example.com');
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'a',
        MessageAttributes: ownerAttr('alice@example.com'),
      }),
    );
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'b',
        MessageAttributes: ownerAttr('bob@example.com', 'expired'),
      }),
    );
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'c',
        MessageAttributes: ownerAttr('bob@example.com', 'warning'),
      }),
    );
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'summary',
        MessageAttributes: { audience: { DataType: 'String', StringValue: 'security' } },
      }),
    );
    const got = (endpoint: string) => sim.deliveries(endpoint).map((d) => d.message);
    expect(got('alice@example.com')).toEqual(['a']);
    expect(sim.deliveries(alice)).toHaveLength(1);
    expect(got('urgent@example.com')).toEqual(['b']);
    expect(got('security@example.com')).toEqual(['summary']);
    expect(got('no-owner@example.com')).toEqual(['summary']);
    expect(got('everything@example.com')).toEqual(['a', 'b', 'c', 'summary']);
  });

  it('applies a filter policy set later, and refuses a malformed one', async () => {
    const arn = sim.addSubscription(topic, 'email', 'alice@example.com');
    await sns.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: arn,
        AttributeName: 'FilterPolicy',
        AttributeValue: '{"owner":["x"]}',
      }),
    );
    await sns.send(
      new PublishCommand({
        TopicArn: topic,
        Message: 'a',
        MessageAttributes: ownerAttr('alice@example.com'),
      }),
    );
    expect(sim.deliveries()).toEqual([]);
    await expect(
      sns.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn: arn,
          AttributeName: 'FilterPolicy',
          AttributeValue: '{not json',
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    await sns.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
    expect(sim.subscriptions()).toEqual([]);
  });

  it('pages subscriptions 100 at a time', async () => {
    for (let i = 0; i < 230; i++) sim.addSubscription(topic, 'email', `u${i}@example.com`);
    const endpoints: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic, NextToken: token }));
      expect(page.Subscriptions?.length).toBeLessThanOrEqual(100);
      endpoints.push(...(page.Subscriptions ?? []).map((s) => s.Endpoint ?? ''));
      token = page.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(new Set(endpoints).size).toBe(230);
    const all = await sns.send(new ListSubscriptionsCommand({}));
    expect(all.Subscriptions).toHaveLength(100);
  });
});

describe('Publish limits', () => {
  it('refuses unknown topics, empty and oversized messages', async () => {
    await expect(
      sns.send(new PublishCommand({ TopicArn: `${topic}-x`, Message: 'a' })),
    ).rejects.toBeInstanceOf(NotFoundException);
    await expect(sns.send(new PublishCommand({ TopicArn: topic, Message: '' }))).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
    const exactly = 'x'.repeat(262_144);
    await expect(sns.send(new PublishCommand({ TopicArn: topic, Message: exactly }))).resolves.toHaveProperty(
      'MessageId',
    );
    // Multi-byte characters count as bytes, attributes count too.
    const tooLong = await sns
      .send(
        new PublishCommand({
          TopicArn: topic,
          Message: 'é'.repeat(131_072),
          MessageAttributes: ownerAttr('a'),
        }),
      )
      .then(unexpected, (e: unknown) => e as Error);
    expect(tooLong).toBeInstanceOf(InvalidParameterException);
    expect(tooLong.message).toBe('Invalid parameter: Message too long');
    await expect(
      sns.send(new PublishCommand({ TopicArn: topic, Message: 'a', Subject: 'two\nlines' })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    expect(sim.published()).toHaveLength(1);
  });

  it('PublishBatch takes 1 to 10 distinct entries within 256 KB', async () => {
    const entries = (n: number, size = 10) =>
      Array.from({ length: n }, (_, i) => ({ Id: `m${i}`, Message: 'x'.repeat(size) }));
    await expect(
      sns.send(new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: [] })),
    ).rejects.toBeInstanceOf(EmptyBatchRequestException);
    await expect(
      sns.send(new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: entries(11) })),
    ).rejects.toBeInstanceOf(TooManyEntriesInBatchRequestException);
    await expect(
      sns.send(
        new PublishBatchCommand({
          TopicArn: topic,
          PublishBatchRequestEntries: [
            { Id: 'a', Message: '1' },
            { Id: 'a', Message: '2' },
          ],
        }),
      ),
    ).rejects.toBeInstanceOf(BatchEntryIdsNotDistinctException);
    await expect(
      sns.send(new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: entries(3, 100_000) })),
    ).rejects.toBeInstanceOf(BatchRequestTooLongException);
    expect(sim.published()).toEqual([]);
    const out = await sns.send(
      new PublishBatchCommand({
        TopicArn: topic,
        PublishBatchRequestEntries: [...entries(9), { Id: 'bad', Message: '' }],
      }),
    );
    expect(out.Successful).toHaveLength(9);
    expect(out.Failed).toEqual([
      { Id: 'bad', Code: 'InvalidParameter', Message: 'Invalid parameter: Empty message', SenderFault: true },
    ]);
    expect(sim.published()).toHaveLength(9);
  });
});
