import {
  ListSubscriptionsByTopicCommand,
  PublishBatchCommand,
  type PublishBatchRequestEntry,
  type SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import { clients } from '../aws/clients.js';
import { withRetry } from '../aws/retry.js';
import { snsSubject } from '../aws/sns.js';
import { messageOf } from '../errors.js';

/**
 * Sends the audit's mails through the one SNS topic. Owner digests go out with PublishBatch, at
 * most 10 entries and 256 KB a call (SNS's limits); each entry carries the `owner` attribute the
 * owner's email subscription filters on.
 */

export interface OutgoingMessage {
  /** Who it is for, for the run's summary: an owner email or "security". */
  recipient: string;
  subject: string;
  body: string;
  attributes: Record<string, string>;
}

export interface SendResult {
  sent: string[];
  failed: { recipient: string; message: string }[];
  calls: number;
}

/** SNS counts the message, subject and attribute names and values against 256 KB. */
export const SNS_MAX_BYTES = 262_144;
const BATCH_MAX_ENTRIES = 10;

export function messageBytes(m: OutgoingMessage): number {
  let bytes = Buffer.byteLength(m.body, 'utf8') + Buffer.byteLength(snsSubject(m.subject), 'utf8');
  for (const [k, v] of Object.entries(m.attributes)) {
    bytes += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8') + 'String'.length;
  }
  return bytes;
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

const entry = (m: OutgoingMessage, id: string): PublishBatchRequestEntry => ({
  Id: id,
  Subject: snsSubject(m.subject),
  Message: m.body,
  MessageAttributes: Object.fromEntries(
    Object.entries(m.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
  ),
});

/** Publishes every message; a batch or entry that fails is reported, and the rest still go out. */
export async function sendMessages(
  topicArn: string,
  messages: readonly OutgoingMessage[],
  sns: SNSClient = clients().sns,
): Promise<SendResult> {
  const result: SendResult = { sent: [], failed: [], calls: 0 };
  for (const batch of batches(messages)) {
    result.calls++;
    try {
      const out = await withRetry(() =>
        sns.send(
          new PublishBatchCommand({
            TopicArn: topicArn,
            PublishBatchRequestEntries: batch.map((m, i) => entry(m, `m${i}`)),
          }),
        ),
      );
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
    } catch (err) {
      for (const m of batch) result.failed.push({ recipient: m.recipient, message: messageOf(err) });
    }
  }
  return result;
}

/**
 * Creates an email subscription, filtered on its owner, for every owner who has none. SNS mails
 * each new address a confirmation link; until it is confirmed (within 3 days) nothing is delivered.
 * Returns the owners subscribed now.
 */
export async function ensureOwnerSubscriptions(
  topicArn: string,
  owners: readonly string[],
  sns: SNSClient = clients().sns,
): Promise<string[]> {
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

  const created: string[] = [];
  for (const owner of owners) {
    if (existing.has(owner)) continue;
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
    created.push(owner);
  }
  return created;
}
