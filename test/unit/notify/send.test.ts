import {
  InvalidParameterException,
  ListSubscriptionsByTopicCommand,
  PublishBatchCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setClock } from '../../../src/clock.js';
import {
  batches,
  ensureOwnerSubscriptions,
  messageBytes,
  type OutgoingMessage,
  SNS_MAX_BYTES,
  sendMessages,
} from '../../../src/notify/send.js';

const snsMock = mockClient(SNSClient);
const sns = new SNSClient({ region: 'us-east-1' });
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:alerts';
const meta = { $metadata: {} };

beforeEach(() => {
  snsMock.reset();
  // withRetry's backoff waits on this clock: no real time.
  setClock({ now: () => new Date('2026-06-01T06:00:00Z'), sleep: async () => {} });
});
afterEach(() => setClock(undefined));

function msg(owner: string, body = `Digest for ${owner}\n`): OutgoingMessage {
  return {
    recipient: owner,
    subject: `[iam-key-rotator] access keys of ${owner}`,
    body,
    attributes: { owner, severity: 'warning', account: '123456789012' },
  };
}

const owners = (n: number) => Array.from({ length: n }, (_, i) => `owner${i}@example.com`);

describe('batches', () => {
  it('puts at most 10 messages in a batch, in order', () => {
    const b = batches(owners(23).map((o) => msg(o)));
    expect(b.map((x) => x.length)).toEqual([10, 10, 3]);
    expect(b.flat().map((m) => m.recipient)).toEqual(owners(23));
  });

  it('keeps each batch within 256 KB, counting body, subject and attributes', () => {
    const big = 'x'.repeat(100_000);
    const b = batches(owners(5).map((o) => msg(o, big)));
    expect(b.map((x) => x.length)).toEqual([2, 2, 1]);
    for (const batch of b) {
      expect(batch.reduce((n, m) => n + messageBytes(m), 0)).toBeLessThanOrEqual(SNS_MAX_BYTES);
    }
    const m = msg('a@example.com', 'é');
    expect(messageBytes(m)).toBe(
      2 +
        Buffer.byteLength(m.subject) +
        'owner'.length +
        13 +
        6 +
        'severity'.length +
        7 +
        6 +
        'account'.length +
        12 +
        6,
    );
  });
});

describe('sendMessages', () => {
  it('publishes in batches of 10 with the owner, severity and account attributes', async () => {
    snsMock.on(PublishBatchCommand).callsFake((input: { PublishBatchRequestEntries: { Id: string }[] }) => ({
      ...meta,
      Successful: input.PublishBatchRequestEntries.map((e) => ({ Id: e.Id, MessageId: `id-${e.Id}` })),
      Failed: [],
    }));

    const r = await sendMessages(
      TOPIC,
      owners(12).map((o) => msg(o)),
      sns,
    );

    expect(r).toEqual({ sent: owners(12), failed: [], calls: 2 });
    const calls = snsMock.commandCalls(PublishBatchCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.PublishBatchRequestEntries?.length)).toEqual([10, 2]);
    expect(calls[0]?.TopicArn).toBe(TOPIC);
    expect(calls[1]?.PublishBatchRequestEntries?.[1]).toEqual({
      Id: 'm1',
      Subject: '[iam-key-rotator] access keys of owner11@example.com',
      Message: 'Digest for owner11@example.com\n',
      MessageAttributes: {
        owner: { DataType: 'String', StringValue: 'owner11@example.com' },
        severity: { DataType: 'String', StringValue: 'warning' },
        account: { DataType: 'String', StringValue: '123456789012' },
      },
    });
  });

  it('reports the entries SNS refused and counts the others as sent', async () => {
    snsMock.on(PublishBatchCommand).resolves({
      ...meta,
      Successful: [{ Id: 'm0', MessageId: 'x' }],
      Failed: [
        { Id: 'm1', Code: 'InvalidParameter', Message: 'Invalid parameter: Subject', SenderFault: true },
      ],
    });

    const r = await sendMessages(TOPIC, [msg('a@example.com'), msg('b@example.com')], sns);

    expect(r.sent).toEqual(['a@example.com']);
    expect(r.failed).toEqual([
      { recipient: 'b@example.com', message: 'InvalidParameter: Invalid parameter: Subject' },
    ]);
  });

  it('when a whole batch call fails, publishes its messages one by one so that only the bad one fails', async () => {
    snsMock
      .on(PublishBatchCommand)
      .rejects(
        new InvalidParameterException({ message: 'Invalid parameter: Message too long', $metadata: {} }),
      );
    snsMock
      .on(PublishCommand)
      .callsFake((input: { MessageAttributes: { owner: { StringValue: string } } }) => {
        if (input.MessageAttributes.owner.StringValue === 'b@example.com') {
          throw new InvalidParameterException({
            message: 'Invalid parameter: Message too long',
            $metadata: {},
          });
        }
        return { ...meta, MessageId: 'x' };
      });

    const r = await sendMessages(
      TOPIC,
      [msg('a@example.com'), msg('b@example.com'), msg('c@example.com')],
      sns,
    );

    expect(r.sent).toEqual(['a@example.com', 'c@example.com']);
    expect(r.failed).toEqual([
      {
        recipient: 'b@example.com',
        message: 'InvalidParameterException: Invalid parameter: Message too long',
      },
    ]);
    expect(r.calls).toBe(4);
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input).toMatchObject({
      TopicArn: TOPIC,
      Subject: '[iam-key-rotator] access keys of a@example.com',
      MessageAttributes: { owner: { DataType: 'String', StringValue: 'a@example.com' } },
    });
  });

  it('retries a throttled batch', async () => {
    // SNS answers code "Throttled"; the SDK raises it as ThrottledException.
    const throttled = new ThrottledException({ message: 'Rate exceeded', $metadata: {} });
    snsMock
      .on(PublishBatchCommand)
      .rejectsOnce(throttled)
      .resolves({ ...meta, Successful: [{ Id: 'm0', MessageId: 'x' }], Failed: [] });

    const r = await sendMessages(TOPIC, [msg('a@example.com')], sns);

    expect(r.sent).toEqual(['a@example.com']);
    expect(snsMock.commandCalls(PublishBatchCommand)).toHaveLength(2);
  });

  it('reports a message over 256 KB as failed and still sends the others', async () => {
    snsMock
      .on(PublishBatchCommand)
      .resolves({ ...meta, Successful: [{ Id: 'm0', MessageId: 'x' }], Failed: [] });

    const r = await sendMessages(
      TOPIC,
      [msg('a@example.com', 'x'.repeat(SNS_MAX_BYTES)), msg('b@example.com')],
      sns,
    );

    expect(r.sent).toEqual(['b@example.com']);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]?.recipient).toBe('a@example.com');
    expect(r.failed[0]?.message).toMatch(/over SNS's 256 KB limit/);
  });

  it('makes no call when there is nothing to send', async () => {
    expect(await sendMessages(TOPIC, [], sns)).toEqual({ sent: [], failed: [], calls: 0 });
    expect(snsMock.calls()).toHaveLength(0);
  });
});

describe('ensureOwnerSubscriptions', () => {
  it('subscribes owners who have no email subscription, each filtered on their own address', async () => {
    snsMock
      .on(ListSubscriptionsByTopicCommand)
      .resolvesOnce({
        ...meta,
        Subscriptions: [
          { Protocol: 'email', Endpoint: 'Alice@Example.com', SubscriptionArn: `${TOPIC}:1` },
          {
            Protocol: 'sqs',
            Endpoint: 'arn:aws:sqs:us-east-1:123456789012:bob',
            SubscriptionArn: `${TOPIC}:2`,
          },
        ],
        NextToken: 'p2',
      })
      .resolvesOnce({
        ...meta,
        // Pending confirmation: subscribing again would mail another link every day.
        Subscriptions: [
          { Protocol: 'email', Endpoint: 'carol@example.com', SubscriptionArn: 'PendingConfirmation' },
        ],
      });
    snsMock.on(SubscribeCommand).resolves({ ...meta, SubscriptionArn: 'pending confirmation' });

    const r = await ensureOwnerSubscriptions(
      TOPIC,
      ['alice@example.com', 'bob@example.com', 'carol@example.com', 'bob@example.com'],
      sns,
    );

    expect(r).toEqual({ created: ['bob@example.com'], failed: [] });
    expect(snsMock.commandCalls(ListSubscriptionsByTopicCommand)[1]?.args[0].input.NextToken).toBe('p2');
    expect(snsMock.commandCalls(SubscribeCommand).map((c) => c.args[0].input)).toEqual([
      {
        TopicArn: TOPIC,
        Protocol: 'email',
        Endpoint: 'bob@example.com',
        Attributes: { FilterPolicyScope: 'MessageAttributes', FilterPolicy: '{"owner":["bob@example.com"]}' },
      },
    ]);
  });

  it('reports an owner SNS refuses and subscribes the others', async () => {
    snsMock.on(ListSubscriptionsByTopicCommand).resolves({ ...meta, Subscriptions: [] });
    snsMock
      .on(SubscribeCommand)
      .rejectsOnce(
        new InvalidParameterException({ message: 'Invalid parameter: Email address', $metadata: {} }),
      )
      .resolves({ ...meta, SubscriptionArn: 'pending confirmation' });

    const r = await ensureOwnerSubscriptions(TOPIC, ['x@example.com', 'y@example.com'], sns);

    expect(r.created).toEqual(['y@example.com']);
    expect(r.failed).toEqual([
      {
        recipient: 'x@example.com',
        message:
          'owner subscription not created: InvalidParameterException: Invalid parameter: Email address',
      },
    ]);
  });
});
