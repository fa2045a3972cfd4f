import type { MessageAttributeValue, Subscription } from '@aws-sdk/client-sns';
import {
  BatchEntryIdsNotDistinctException,
  BatchRequestTooLongException,
  CreateTopicCommand,
  DeleteTopicCommand,
  EmptyBatchRequestException,
  GetSubscriptionAttributesCommand,
  GetTopicAttributesCommand,
  InvalidBatchEntryIdException,
  InvalidParameterException,
  ListSubscriptionsByTopicCommand,
  ListSubscriptionsCommand,
  ListTopicsCommand,
  NotFoundException,
  PublishBatchCommand,
  PublishCommand,
  SetSubscriptionAttributesCommand,
  SubscribeCommand,
  TooManyEntriesInBatchRequestException,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import type { CommandClass, OpSpec, SimContext } from './context.js';
import { op, paginate } from './context.js';
import { meta } from './errors.js';
import { FilterPolicyError, matchesAttributes, matchesBody, parsePolicy } from './sns-filter.js';

/** SNS's limit for a message (and for a whole batch), body plus attributes. */
export const MAX_MESSAGE_BYTES = 262_144;
/** Unconfirmed subscriptions are deleted after three days. */
export const PENDING_EXPIRY_MS = 3 * 86_400_000;
const CONFIRM_PROTOCOLS = new Set(['email', 'email-json', 'http', 'https']);

export interface SubscriptionRecord {
  arn: string;
  topicArn: string;
  protocol: string;
  endpoint: string;
  attributes: Map<string, string>;
  confirmed: boolean;
  created: Date;
}

export interface SimSubscription {
  arn: string;
  topicArn: string;
  protocol: string;
  endpoint: string;
  filterPolicy?: string;
  filterPolicyScope?: string;
  confirmed: boolean;
}

export interface SimDelivery {
  subscriptionArn: string;
  endpoint: string;
  topicArn: string;
  subject?: string;
  message: string;
  attributes: Record<string, string>;
  at: Date;
}

export interface SimPublished {
  messageId: string;
  topicArn: string;
  subject?: string;
  message: string;
  attributes: Record<string, string>;
  at: Date;
}

/** The confirmation mail SNS sends to a new email subscription. */
export interface SimConfirmationRequest {
  subscriptionArn: string;
  topicArn: string;
  endpoint: string;
  at: Date;
}

const invalid = (message: string) =>
  new InvalidParameterException({ message: `Invalid parameter: ${message}`, $metadata: meta(400) });
const notFound = (message: string) => new NotFoundException({ message, $metadata: meta(404) });

type Attrs = Record<string, MessageAttributeValue>;

function attributesBytes(attrs: Attrs | undefined): number {
  let n = 0;
  for (const [name, a] of Object.entries(attrs ?? {})) {
    n += Buffer.byteLength(name) + Buffer.byteLength(a.DataType ?? '');
    n += a.StringValue !== undefined ? Buffer.byteLength(a.StringValue) : (a.BinaryValue?.length ?? 0);
  }
  return n;
}

function checkAttributes(attrs: Attrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, a] of Object.entries(attrs ?? {})) {
    const type = a.DataType ?? '';
    const base = type.split('.')[0];
    if (base !== 'String' && base !== 'Number' && base !== 'Binary') {
      throw invalid(
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    if (base === 'Binary') {
      if (a.BinaryValue === undefined)
        throw invalid(
          `The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${type}'.`,
        );
      out[name] = Buffer.from(a.BinaryValue).toString('base64');
      continue;
    }
    if (a.StringValue === undefined || a.StringValue === '') {
      throw invalid(
        `The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${type}'.`,
      );
    }
    if (base === 'Number' && Number.isNaN(Number(a.StringValue))) {
      throw invalid(`Could not cast message attribute '${name}' value to number.`);
    }
    out[name] = a.StringValue;
  }
  return out;
}

function checkSubject(subject: string | undefined): void {
  if (subject === undefined) return;
  // Printable ASCII, no line breaks, 1..100 characters.
  if (subject.length === 0 || subject.length > 100 || !/^[\x20-\x7e]*$/.test(subject))
    throw invalid('Subject');
}

/** SNS: topics, subscriptions with filter policies, and per-subscription delivery. */
export class SnsModel {
  readonly topics = new Map<string, string>(); // arn -> name
  readonly subscriptions = new Map<string, SubscriptionRecord>();
  readonly deliveries: SimDelivery[] = [];
  readonly published: SimPublished[] = [];
  readonly confirmations: SimConfirmationRequest[] = [];

  constructor(private readonly ctx: SimContext) {}

  createTopic(name: string): string {
    if (!/^[\w-]{1,256}$/.test(name)) {
      throw invalid('Topic Name');
    }
    const arn = `arn:aws:sns:${this.ctx.region}:${this.ctx.accountId}:${name}`;
    if (!this.topics.has(arn)) this.topics.set(arn, name);
    return arn;
  }

  requireTopic(arn: string | undefined): string {
    if (arn === undefined || !this.topics.has(arn)) throw notFound('Topic does not exist');
    return arn;
  }

  /** Drops unconfirmed subscriptions older than three days, as SNS does. */
  prune(): void {
    const cutoff = this.ctx.clock.nowMs() - PENDING_EXPIRY_MS;
    for (const [arn, s] of this.subscriptions) {
      if (!s.confirmed && s.created.getTime() <= cutoff) this.subscriptions.delete(arn);
    }
  }

  subscribe(
    topicArn: string,
    protocol: string,
    endpoint: string,
    attributes: Record<string, string> = {},
    confirmed?: boolean,
  ): SubscriptionRecord {
    this.requireTopic(topicArn);
    this.prune();
    for (const [k, v] of Object.entries(attributes)) this.checkAttribute(k, v);
    for (const s of this.subscriptions.values()) {
      if (s.topicArn !== topicArn || s.protocol !== protocol || s.endpoint !== endpoint) continue;
      const same = Object.entries(attributes).every(([k, v]) => s.attributes.get(k) === v);
      if (!same) throw invalid('Attributes Reason: Subscription already exists with different attributes');
      if (!s.confirmed) this.sendConfirmation(s);
      return s;
    }
    const sub: SubscriptionRecord = {
      arn: `${topicArn}:${this.ctx.rng.uuid()}`,
      topicArn,
      protocol,
      endpoint,
      attributes: new Map(Object.entries(attributes)),
      confirmed: confirmed ?? !CONFIRM_PROTOCOLS.has(protocol),
      created: this.ctx.clock.now(),
    };
    this.subscriptions.set(sub.arn, sub);
    if (!sub.confirmed) this.sendConfirmation(sub);
    return sub;
  }

  private sendConfirmation(s: SubscriptionRecord): void {
    this.confirmations.push({
      subscriptionArn: s.arn,
      topicArn: s.topicArn,
      endpoint: s.endpoint,
      at: this.ctx.clock.now(),
    });
  }

  private checkAttribute(name: string, value: string): void {
    if (name === 'FilterPolicy') {
      try {
        parsePolicy(value);
      } catch (err) {
        throw invalid(`FilterPolicy: ${err instanceof FilterPolicyError ? err.message : 'invalid'}`);
      }
    } else if (name === 'FilterPolicyScope') {
      if (value !== 'MessageAttributes' && value !== 'MessageBody') throw invalid('FilterPolicyScope');
    } else if (
      !['RawMessageDelivery', 'DeliveryPolicy', 'RedrivePolicy', 'SubscriptionRoleArn'].includes(name)
    ) {
      throw invalid(`AttributeName: ${name}`);
    }
  }

  view(s: SubscriptionRecord): SimSubscription {
    const out: SimSubscription = {
      arn: s.arn,
      topicArn: s.topicArn,
      protocol: s.protocol,
      endpoint: s.endpoint,
      confirmed: s.confirmed,
    };
    const fp = s.attributes.get('FilterPolicy');
    if (fp !== undefined) out.filterPolicy = fp;
    const scope = s.attributes.get('FilterPolicyScope');
    if (scope !== undefined) out.filterPolicyScope = scope;
    return out;
  }

  private listShape(s: SubscriptionRecord): Subscription {
    return {
      SubscriptionArn: s.confirmed ? s.arn : 'PendingConfirmation',
      Owner: this.ctx.accountId,
      Protocol: s.protocol,
      Endpoint: s.endpoint,
      TopicArn: s.topicArn,
    };
  }

  private receives(s: SubscriptionRecord, message: string, attrs: Attrs | undefined): boolean {
    const fp = s.attributes.get('FilterPolicy');
    if (fp === undefined) return true;
    const policy = parsePolicy(fp);
    if (s.attributes.get('FilterPolicyScope') === 'MessageBody') {
      let body: unknown;
      try {
        body = JSON.parse(message);
      } catch {
        return false;
      }
      return matchesBody(policy, body);
    }
    return matchesAttributes(policy, attrs ?? {});
  }

  /** Accepts a checked message and delivers it to every confirmed subscription that matches. */
  private accept(
    topicArn: string,
    message: string,
    subject: string | undefined,
    attrs: Attrs | undefined,
  ): string {
    const attributes = checkAttributes(attrs);
    const messageId = this.ctx.rng.uuid();
    const at = this.ctx.clock.now();
    this.published.push({
      messageId,
      topicArn,
      message,
      attributes,
      at,
      ...(subject !== undefined && { subject }),
    });
    for (const s of this.subscriptions.values()) {
      if (s.topicArn !== topicArn || !s.confirmed || !this.receives(s, message, attrs)) continue;
      this.deliveries.push({
        subscriptionArn: s.arn,
        endpoint: s.endpoint,
        topicArn,
        message,
        attributes,
        at,
        ...(subject !== undefined && { subject }),
      });
    }
    return messageId;
  }

  private checkMessage(
    message: string | undefined,
    subject: string | undefined,
    attrs: Attrs | undefined,
  ): string {
    if (message === undefined || message === '') throw invalid('Empty message');
    checkSubject(subject);
    if (Buffer.byteLength(message) + attributesBytes(attrs) > MAX_MESSAGE_BYTES) {
      throw invalid('Message too long');
    }
    checkAttributes(attrs);
    return message;
  }

  ops(): Array<[CommandClass, OpSpec]> {
    const pageOf = (list: SubscriptionRecord[], token: string | undefined) =>
      paginate(
        list,
        token,
        100,
        (s) => s.arn,
        () => invalid('NextToken'),
      );
    return [
      op('sns', CreateTopicCommand, (input) => ({ TopicArn: this.createTopic(input.Name ?? '') })),
      op('sns', DeleteTopicCommand, (input) => {
        if (input.TopicArn !== undefined && this.topics.delete(input.TopicArn)) {
          for (const [arn, s] of this.subscriptions)
            if (s.topicArn === input.TopicArn) this.subscriptions.delete(arn);
        }
        return {};
      }),
      op('sns', ListTopicsCommand, (input) => {
        const { page, next } = paginate(
          [...this.topics.keys()],
          input.NextToken,
          100,
          (a) => a,
          () => invalid('NextToken'),
        );
        return {
          Topics: page.map((TopicArn) => ({ TopicArn })),
          ...(next !== undefined && { NextToken: next }),
        };
      }),
      op('sns', GetTopicAttributesCommand, (input) => {
        const arn = this.requireTopic(input.TopicArn);
        const subs = [...this.subscriptions.values()].filter((s) => s.topicArn === arn);
        return {
          Attributes: {
            TopicArn: arn,
            Owner: this.ctx.accountId,
            SubscriptionsConfirmed: String(subs.filter((s) => s.confirmed).length),
            SubscriptionsPending: String(subs.filter((s) => !s.confirmed).length),
          },
        };
      }),
      op('sns', SubscribeCommand, (input) => {
        const topicArn = this.requireTopic(input.TopicArn);
        const protocol = input.Protocol ?? '';
        if (
          ![
            'email',
            'email-json',
            'http',
            'https',
            'sqs',
            'lambda',
            'sms',
            'application',
            'firehose',
          ].includes(protocol)
        ) {
          throw invalid(`Invalid protocol type: ${protocol}`);
        }
        const endpoint = input.Endpoint ?? '';
        if (protocol.startsWith('email') && !/^[^@\s]+@[^@\s]+$/.test(endpoint))
          throw invalid('Invalid email address');
        const sub = this.subscribe(topicArn, protocol, endpoint, input.Attributes ?? {});
        return {
          SubscriptionArn: sub.confirmed || input.ReturnSubscriptionArn ? sub.arn : 'pending confirmation',
        };
      }),
      op('sns', SetSubscriptionAttributesCommand, (input) => {
        const s =
          input.SubscriptionArn === undefined ? undefined : this.subscriptions.get(input.SubscriptionArn);
        if (!s) throw notFound('Subscription does not exist');
        const name = input.AttributeName ?? '';
        if (input.AttributeValue === undefined || input.AttributeValue === '') {
          s.attributes.delete(name);
          return {};
        }
        this.checkAttribute(name, input.AttributeValue);
        s.attributes.set(name, input.AttributeValue);
        return {};
      }),
      op('sns', GetSubscriptionAttributesCommand, (input) => {
        const s =
          input.SubscriptionArn === undefined ? undefined : this.subscriptions.get(input.SubscriptionArn);
        if (!s) throw notFound('Subscription does not exist');
        return {
          Attributes: {
            SubscriptionArn: s.arn,
            TopicArn: s.topicArn,
            Protocol: s.protocol,
            Endpoint: s.endpoint,
            Owner: this.ctx.accountId,
            PendingConfirmation: String(!s.confirmed),
            ...Object.fromEntries(s.attributes),
          },
        };
      }),
      op('sns', ListSubscriptionsByTopicCommand, (input) => {
        const topicArn = this.requireTopic(input.TopicArn);
        this.prune();
        const { page, next } = pageOf(
          [...this.subscriptions.values()].filter((s) => s.topicArn === topicArn),
          input.NextToken,
        );
        return {
          Subscriptions: page.map((s) => this.listShape(s)),
          ...(next !== undefined && { NextToken: next }),
        };
      }),
      op('sns', ListSubscriptionsCommand, (input) => {
        this.prune();
        const { page, next } = pageOf([...this.subscriptions.values()], input.NextToken);
        return {
          Subscriptions: page.map((s) => this.listShape(s)),
          ...(next !== undefined && { NextToken: next }),
        };
      }),
      op('sns', UnsubscribeCommand, (input) => {
        if (input.SubscriptionArn === undefined || !this.subscriptions.delete(input.SubscriptionArn)) {
          throw notFound('Subscription does not exist');
        }
        return {};
      }),
      op('sns', PublishCommand, (input) => {
        const topicArn = this.requireTopic(input.TopicArn ?? input.TargetArn);
        const message = this.checkMessage(input.Message, input.Subject, input.MessageAttributes);
        this.prune();
        return { MessageId: this.accept(topicArn, message, input.Subject, input.MessageAttributes) };
      }),
      op('sns', PublishBatchCommand, (input) => {
        const topicArn = this.requireTopic(input.TopicArn);
        const entries = input.PublishBatchRequestEntries ?? [];
        if (entries.length === 0) {
          throw new EmptyBatchRequestException({
            message: 'The batch request does not contain any entries.',
            $metadata: meta(400),
          });
        }
        if (entries.length > 10) {
          throw new TooManyEntriesInBatchRequestException({
            message: 'The batch request contains more entries than permissible.',
            $metadata: meta(400),
          });
        }
        const ids = new Set<string>();
        let total = 0;
        for (const e of entries) {
          const id = e.Id ?? '';
          if (!/^[\w-]{1,80}$/.test(id)) {
            throw new InvalidBatchEntryIdException({
              message:
                'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
              $metadata: meta(400),
            });
          }
          if (ids.has(id)) {
            throw new BatchEntryIdsNotDistinctException({
              message: 'Two or more batch entries in the request have the same Id.',
              $metadata: meta(400),
            });
          }
          ids.add(id);
          total += Buffer.byteLength(e.Message ?? '') + attributesBytes(e.MessageAttributes);
        }
        if (total > MAX_MESSAGE_BYTES) {
          throw new BatchRequestTooLongException({
            message: 'The length of all the messages put together is more than the limit.',
            $metadata: meta(400),
          });
        }
        this.prune();
        const Successful: Array<{ Id: string; MessageId: string }> = [];
        const Failed: Array<{ Id: string; Code: string; Message: string; SenderFault: boolean }> = [];
        for (const e of entries) {
          const id = e.Id ?? '';
          try {
            const message = this.checkMessage(e.Message, e.Subject, e.MessageAttributes);
            Successful.push({
              Id: id,
              MessageId: this.accept(topicArn, message, e.Subject, e.MessageAttributes),
            });
          } catch (err) {
            if (!(err instanceof InvalidParameterException)) throw err;
            Failed.push({ Id: id, Code: 'InvalidParameter', Message: err.message, SenderFault: true });
          }
        }
        return { Successful, Failed };
      }),
    ];
  }
}
