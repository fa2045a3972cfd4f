import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { clients } from './clients.js';
import { withRetry } from './retry.js';

/** Small functions over SNS. Every call goes through withRetry. */

export interface SnsMessage {
  /** Email subject: SNS wants printable ASCII without line breaks, at most 100 characters. */
  subject?: string | undefined;
  /** Plain-text body. */
  message: string;
  /** String message attributes (owner, severity, account, audience) that filter policies match. */
  attributes?: Record<string, string> | undefined;
}

/** SNS: a subject is printable ASCII without line breaks, "less than 100 characters". */
export const SUBJECT_MAX = 99;

/** Makes any text a valid SNS subject: printable ASCII, single spaces, at most 99 characters. */
export function snsSubject(text: string, fallback = 'iam-key-rotator'): string {
  const ascii = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const s = ascii.length > SUBJECT_MAX ? `${ascii.slice(0, SUBJECT_MAX - 3).trimEnd()}...` : ascii;
  return s === '' ? fallback : s;
}

/** Publishes one message to a topic; returns SNS's MessageId. */
export async function publish(
  topicArn: string,
  msg: SnsMessage,
  sns: SNSClient = clients().sns,
): Promise<string | undefined> {
  const attributes = Object.fromEntries(
    Object.entries(msg.attributes ?? {}).map(([name, value]) => [
      name,
      { DataType: 'String', StringValue: value },
    ]),
  );
  const out = await withRetry(() =>
    sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: msg.message,
        ...(msg.subject === undefined ? {} : { Subject: snsSubject(msg.subject) }),
        ...(Object.keys(attributes).length > 0 ? { MessageAttributes: attributes } : {}),
      }),
    ),
  );
  return out.MessageId;
}
