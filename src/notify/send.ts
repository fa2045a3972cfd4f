import {
  ListSubscriptionsByTopicCommand,
  PublishBatchCommand,
  type PublishBatchCommandOutput,
  type PublishBatchRequestEntry,
  PublishCommand,
  type SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import { clients } from '../aws/clients.js';
import { withRetry } from '../aws/retry.js';
import { snsSubject } from '../aws/sns.js';
import { messageOf } from '../errors.js';
import { snsMessageBytes } from './format.js';

/**
 * Sends the audit's mails through the one SNS topic. Owner digests go out with PublishBatch, at
 * most 10 entries and 256 KB a call (SNS's limits); each entry carries the `owner` attribute the
 * owner's email subscription filters on. One owner's message that SNS refuses must not cost the
 * other owners theirs: SNS reports refused entries one by one, and when a whole batch call fails
 * its messages are published one at a time (same permission, sns:Publish).
 */

export interface OutgoingMessage {
  /** Who it is for, for the run's summary: an owner email or "security". */
  recipient: string;
  subject: string;
  body: string;
  attributes: Record<string, string>;
}

export interface SendResult {
  /** Recipients of the messages SNS accepted, in order (one entry per message). */
  sent: string[];
  failed: { recipient: string; message: string }[];
  /** SNS API calls made (PublishBatch and Publish). */
  calls: number;
}

/** SNS counts the message, subject and attribute names and values against 256 KB. */
export const SNS_MAX_BYTES = 262_144;
const BATCH_MAX_ENTRIES = 10;

export function messageBytes(m: OutgoingMessage): number {
  return snsMessageBytes({ subject: snsSubject(m.subject), body: m.body }, m.attributes);
}

/** Groups messages into PublishBatch calls within the entry and size limits, in order. */
export function batches(messages: readonly OutgoingMessage[]): OutgoingMessage[][] {
  const out: OutgoingMessage[][] = [];
  let current: OutgoingMessage[] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = messageBytes(m);
    if (bytes > SNS_MAX_BYTES) {
      throw new RangeError(`a message for ${m.recipient} is ${bytes} bytes, over SNS's 256 KB limit`);
    }
    if (current.length === BATCH_MAX_ENTRIES || size + bytes > SNS_MAX_BYTES) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(m);
    size += bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

const attributesOf = (m: OutgoingMessage) =>
  Object.fromEntries(
    Object.entries(m.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
  );

const entry = (m: OutgoingMessage, id: string): PublishBatchRequestEntry => ({
  Id: id,
  Subject: snsSubject(m.subject),
  Message: m.body,
  MessageAttributes: attributesOf(m),
});

/**
 * Publishes every message and reports each one's fate; never throws for a message SNS refuses.
 * A message over SNS's size limit is reported as failed (the formatter splits digests well below
 * it, so this is a bug to see, not a reason to lose the other mails).
 */
export async function sendMessages(
  topicArn: string,
  messages: readonly OutgoingMessage[],
  sns: SNSClient = clients().sns,
): Promise<SendResult> {
  const result: SendResult = { sent: [], failed: [], calls: 0 };
  const fitting: OutgoingMessage[] = [];
  for (const m of messages) {
    const bytes = messageBytes(m);
    if (bytes > SNS_MAX_BYTES) {
      result.failed.push({
        recipient: m.recipient,
        message: `the message is ${bytes} bytes, over SNS's 256 KB limit`,
      });
    } else {
      fitting.push(m);
    }
  }
  for (const batch of batches(fitting)) {
    result.calls++;
    let out: PublishBatchCommandOutput;
    try {
      out = await withRetry(() =>
        sns.send(
          new PublishBatchCommand({
            TopicArn: topicArn,
            PublishBatchRequestEntries: batch.map((m, i) => entry(m, `m${i}`)),
          }),
        ),
      );
    } catch (err) {
      // The whole call failed (one entry too many bytes for the batch, an entry SNS rejects
      // before looking at the others, an outage): try each message on its own.
      await publishOneByOne(topicArn, batch, sns, result, err);
      continue;
    }
    const failedIds = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
    batch.forEach((m, i) => {
      const failure = failedIds.get(`m${i}`);
      if (failure) {
        result.failed.push({
          recipient: m.recipient,
          message: `${failure.Code ?? 'Failed'}: ${failure.Message ?? 'SNS did not accept the message'}`,
        });
      } else {
        result.sent.push(m.recipient);
      }
    });
  }
  return result;
}

async function publishOneByOne(
  topicArn: string,
  batch: readonly OutgoingMessage[],
  sns: SNSClient,
  result: SendResult,
  batchError: unknown,
): Promise<void> {
  // A single message cannot be split further: its failure is its own.
  if (batch.length === 1) {
    const [m] = batch;
    if (m) result.failed.push({ recipient: m.recipient, message: messageOf(batchError) });
    return;
  }
  for (const m of batch) {
    result.calls++;
    try {
      await withRetry(() =>
        sns.send(
          new PublishCommand({
            TopicArn: topicArn,
            Subject: snsSubject(m.subject),
            Message: m.body,
            MessageAttributes: attributesOf(m),
          }),
        ),
      );
      result.sent.push(m.recipient);
    } catch (err) {
      result.failed.push({ recipient: m.recipient, message: messageOf(err) });
    }
  }
}

export interface SubscribeResult {
  /** Owners subscribed now (SNS mailed each a confirmation link). */
  created: string[];
  failed: { recipient: string; message: string }[];
}

/**
 * Creates an email subscription, filtered on its owner, for every owner who has none. SNS mails
 * each new address a confirmation link; until it is confirmed (within 3 days) nothing is delivered.
 * An address that already has a subscription, confirmed or still pending, is left alone: subscribing
 * it again would mail it another confirmation link every day. One owner SNS refuses does not stop
 * the others.
 */
export async function ensureOwnerSubscriptions(
  topicArn: string,
  owners: readonly string[],
  sns: SNSClient = clients().sns,
): Promise<SubscribeResult> {
  const existing = new Set<string>();
  let token: string | undefined;
  do {
    const page = await withRetry(() =>
      sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token })),
    );
    for (const s of page.Subscriptions ?? []) {
      if (s.Protocol === 'email' && s.Endpoint) existing.add(s.Endpoint.toLowerCase());
    }
    token = page.NextToken;
  } while (token);

  const result: SubscribeResult = { created: [], failed: [] };
  for (const owner of new Set(owners.map((o) => o.toLowerCase()))) {
    if (existing.has(owner)) continue;
    try {
      await withRetry(() =>
        sns.send(
          new SubscribeCommand({
            TopicArn: topicArn,
            Protocol: 'email',
            Endpoint: owner,
            Attributes: {
              FilterPolicyScope: 'MessageAttributes',
              FilterPolicy: JSON.stringify({ owner: [owner] }),
            },
          }),
        ),
      );
      result.created.push(owner);
    } catch (err) {
      result.failed.push({ recipient: owner, message: `owner subscription not created: ${messageOf(err)}` });
    }
  }
  return result;
}
