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

/** A subject SNS accepts: printable ASCII, one line, at most 100 characters. */
export function snsSubject(subject: string): string {
  const clean = subject
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  return clean.length <= 100 ? clean : `${clean.slice(0, 97)}...`;
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
