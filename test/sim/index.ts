import { createHash } from 'node:crypto';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { clock, setClock } from '../../src/clock.js';
import { SimClock } from './clock.js';
import type { CommandClass, KeyRecord, OpSpec, SimContext } from './context.js';
import { CredentialReportModel } from './credential-report.js';
import { throttlingError } from './errors.js';
import { CallLog, crash, Faults } from './faults.js';
import type { UserRecord } from './iam.js';
import { IamModel } from './iam.js';
import { Rng } from './rng.js';
import type { RotationEvent, RotationFunction, SecretRecord, SimRotationRecord } from './secrets-manager.js';
import { AWSCURRENT, SecretsModel } from './secrets-manager.js';
import type { SimConfirmationRequest, SimDelivery, SimPublished, SimSubscription } from './sns.js';
import { SnsModel } from './sns.js';
import { OPERATOR_ACCESS_KEY_ID, StsModel } from './sts.js';
import type { ThrottleOptions } from './throttle.js';
import { Throttler } from './throttle.js';

export { SimClock } from './clock.js';
export { CREDENTIAL_REPORT_COLUMNS } from './credential-report.js';
export type { Service } from './errors.js';
export { SimulatedCrash, SimulatedFault } from './errors.js';
export type { CallEntry, CallLog } from './faults.js';
export type { RotationEvent, RotationFunction, SimRotationRecord } from './secrets-manager.js';
export type { SimConfirmationRequest, SimDelivery, SimPublished, SimSubscription } from './sns.js';
export type { RateLimit, ThrottleOptions } from './throttle.js';
export { OPERATOR_ACCESS_KEY_ID };

export interface SimOptions {
  accountId?: string;
  /** Returned by IAM ListAccountAliases; none by default. */
  accountAlias?: string;
  region?: string;
  /** Virtual clock start; default 2026-06-01T00:00:00Z. */
  start?: Date;
  /** PRNG seed for key ids, secrets, version ids and random throttles; default 1. */
  seed?: number;
  /** A new key is rejected by STS (InvalidClientTokenId) until this much virtual time passed; default 8000. */
  propagationDelayMs?: number;
  /** Virtual latency per AWS call; default 0. */
  latencyMs?: number;
  throttle?: ThrottleOptions;
  /** 'sync': RotateSecret runs the four steps before answering; 'deferred': 1 s later. Default 'sync'. */
  rotationMode?: 'sync' | 'deferred';
  /** How many times Secrets Manager tries a failing rotation (all four steps); default 3. */
  rotationAttempts?: number;
  /** Access key ids treated as the operator (never checked). The test default and the
   * environment's AWS_ACCESS_KEY_ID at install() always are. */
  operatorAccessKeyIds?: string[];
}

export interface SimUser {
  name: string;
  arn: string;
  userId: string;
  path: string;
  tags: Record<string, string>;
  groups: string[];
  created: Date;
  passwordEnabled: boolean;
  mfa: boolean;
  deleted?: boolean;
}

export interface SimKey {
  accessKeyId: string;
  secretAccessKey: string;
  status: 'Active' | 'Inactive';
  created: Date;
  lastUsed: Date | null;
  lastUsedService: string | null;
  lastUsedRegion: string | null;
  userName: string;
}

export interface SimSecretVersion {
  versionId: string;
  stages: string[];
  value?: string;
  created: Date;
}

export interface SimSecretView {
  arn: string;
  name: string;
  description?: string;
  tags: Record<string, string>;
  rotationEnabled: boolean;
  rotationLambdaArn?: string;
  rotationDays?: number;
  lastRotated?: Date;
  nextRotation?: Date;
  deleted?: Date;
  versions: SimSecretVersion[];
}

type StubbedClient = {
  config: { credentials?: () => Promise<{ accessKeyId: string; secretAccessKey: string }> };
};
type Stub = ReturnType<typeof mockClient>;

const DAY = 86_400_000;
const HISTORY_RESET_EVERY = 5_000;

/**
 * One simulated AWS account (IAM, STS, Secrets Manager, SNS) behind the real SDK v3 clients.
 * See README.md in this folder.
 */
export class SimAccount {
  readonly accountId: string;
  readonly region: string;
  readonly clock: SimClock;
  readonly calls = new CallLog();

  private readonly ctx: SimContext;
  private readonly iam: IamModel;
  private readonly report: CredentialReportModel;
  private readonly sts: StsModel;
  private readonly sm: SecretsModel;
  private readonly sns: SnsModel;
  private readonly faults = new Faults();
  private readonly throttler: Throttler;
  private readonly latencyMs: number;
  private readonly handlers = new Map<CommandClass, OpSpec>();
  private stubs: Stub[] = [];
  private savedEnv: Record<string, string | undefined> | undefined;
  private sinceHistoryReset = 0;
  private requests = 0;

  constructor(options: SimOptions = {}) {
    this.accountId = options.accountId ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
    this.clock = new SimClock(options.start ?? new Date('2026-06-01T00:00:00Z'));
    const seed = options.seed ?? 1;
    this.ctx = {
      accountId: this.accountId,
      region: this.region,
      clock: this.clock,
      rng: new Rng(seed),
      propagationDelayMs: options.propagationDelayMs ?? 8_000,
    };
    this.latencyMs = options.latencyMs ?? 0;
    this.throttler = new Throttler(options.throttle, seed, this.clock.nowMs());
    this.iam = new IamModel(this.ctx);
    this.iam.alias = options.accountAlias;
    this.report = new CredentialReportModel(this.ctx, this.iam);
    this.sts = new StsModel(this.ctx, this.iam, [
      OPERATOR_ACCESS_KEY_ID,
      ...(options.operatorAccessKeyIds ?? []),
    ]);
    this.sm = new SecretsModel(this.ctx, options.rotationMode ?? 'sync', options.rotationAttempts ?? 3);
    this.sns = new SnsModel(this.ctx);
    for (const [command, spec] of [
      ...this.iam.ops(),
      ...this.report.ops(),
      ...this.sts.ops(),
      ...this.sm.ops(),
      ...this.sns.ops(),
    ]) {
      this.handlers.set(command, spec);
    }
  }

  // ------------------------------------------------------------------ wiring

  /**
   * Mocks every IAMClient, STSClient, SecretsManagerClient and SNSClient (existing instances
   * too) and makes the virtual clock the service clock. Sets the operator's fake credentials in
   * the environment when it has none and hides AWS_PROFILE (restore() puts both back).
   */
  install(): this {
    this.restore();
    // The simulated account must never pick up a real profile, and the default provider chain
    // must find credentials at once (no SSO, no instance metadata).
    const env = process.env;
    if (env.AWS_PROFILE !== undefined || !env.AWS_ACCESS_KEY_ID || !env.AWS_REGION) {
      this.savedEnv = {
        AWS_PROFILE: env.AWS_PROFILE,
        AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
        AWS_REGION: env.AWS_REGION,
      };
      delete env.AWS_PROFILE;
      if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
        env.AWS_ACCESS_KEY_ID = OPERATOR_ACCESS_KEY_ID;
        env.AWS_SECRET_ACCESS_KEY = 'test-only-not-a-real-secret-key-000000000';
      }
      env.AWS_REGION ??= this.region;
    }
    this.sts.operatorKeyIds.add(process.env.AWS_ACCESS_KEY_ID ?? OPERATOR_ACCESS_KEY_ID);
    const sim = this;
    for (const Client of [IAMClient, STSClient, SecretsManagerClient, SNSClient]) {
      const stub = mockClient(Client as never) as Stub;
      stub.send.callsFake(function (this: StubbedClient, command: { input: unknown }) {
        return sim.dispatch(this, command) as Promise<never>;
      });
      this.stubs.push(stub);
    }
    setClock(this.clock);
    return this;
  }

  restore(): void {
    // Only undo our own stubs: another account (or a test's mockClient) may have replaced them.
    const ours = (stub: Stub) => (stub as unknown as { client: { send: unknown } }).client.send === stub.send;
    for (const stub of this.stubs) if (ours(stub)) stub.restore();
    this.stubs = [];
    if (this.savedEnv) {
      for (const [k, v] of Object.entries(this.savedEnv)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      this.savedEnv = undefined;
    }
    if (clock() === this.clock) setClock(undefined);
  }

  private dispatch(client: StubbedClient, command: { input: unknown }): Promise<unknown> {
    // Sinon keeps every call's arguments; forget them now and then (outside the stub's call).
    if (++this.sinceHistoryReset >= HISTORY_RESET_EVERY) {
      this.sinceHistoryReset = 0;
      queueMicrotask(() => {
        for (const stub of this.stubs) stub.resetHistory();
      });
    }
    const spec = this.handlers.get(command.constructor as CommandClass);
    if (!spec) {
      return Promise.reject(
        new Error(
          `The simulated AWS account does not model ${command.constructor.name}; add it to test/sim.`,
        ),
      );
    }
    return this.call(spec, client, command.input ?? {});
  }

  /** One SDK call: log, latency, throttling, faults, credentials, then the operation. */
  private async call(spec: OpSpec, client: StubbedClient, input: unknown): Promise<unknown> {
    const entry = this.calls.record(spec.service, spec.op, this.clock.now());
    try {
      if (this.latencyMs > 0) await this.clock.sleep(this.latencyMs);
      if (this.throttler.throttled(spec.service, this.clock.nowMs())) throw throttlingError(spec.service);
      const fault = this.faults.empty ? undefined : this.faults.check(spec.op, input);
      if (fault?.error) throw fault.error;
      const credentials = await client.config.credentials?.();
      const caller = credentials
        ? this.sts.authenticate(credentials.accessKeyId, credentials.secretAccessKey, spec.service)
        : ({ operator: true } as const);
      const output = (await spec.handler(input as never, caller)) as object;
      if (fault?.crash) throw crash(spec.op);
      return {
        ...output,
        $metadata: {
          httpStatusCode: 200,
          requestId: `sim-${++this.requests}`,
          attempts: 1,
          totalRetryDelay: 0,
        },
      };
    } catch (err) {
      entry.ok = false;
      entry.error = err instanceof Error ? err.name : 'Error';
      throw err;
    }
  }

  // ------------------------------------------------------------------ seeding

  addGroup(name: string): void {
    if (!this.iam.groups.has(name.toLowerCase())) this.iam.createGroup(name);
  }

  addUser(
    name: string,
    o: {
      path?: string;
      tags?: Record<string, string>;
      groups?: string[];
      password?: { mfa?: boolean; lastUsedDaysAgo?: number | null };
      createdDaysAgo?: number;
    } = {},
  ): SimUser {
    const now = this.clock.nowMs();
    const user = this.iam.createUser(name, {
      ...(o.path !== undefined && { path: o.path }),
      ...(o.tags !== undefined && { tags: o.tags }),
      created: new Date(now - (o.createdDaysAgo ?? 365) * DAY),
    });
    for (const g of o.groups ?? []) {
      this.addGroup(g);
      this.iam.addToGroup(user, g);
    }
    if (o.password) {
      const lastUsed = o.password.lastUsedDaysAgo;
      user.password = {
        lastUsed: lastUsed === undefined || lastUsed === null ? null : new Date(now - lastUsed * DAY),
        lastChanged: user.created,
      };
      user.mfa = o.password.mfa ?? false;
    }
    return userView(user);
  }

  addKey(
    userName: string,
    o: {
      ageDays?: number;
      status?: 'Active' | 'Inactive';
      lastUsedDaysAgo?: number | null;
      lastUsedService?: string;
      usable?: boolean;
    } = {},
  ): { accessKeyId: string; secretAccessKey: string } {
    const user = this.iam.findUser(userName);
    if (!user) throw new Error(`addKey: no user ${userName}`);
    const now = this.clock.nowMs();
    const created = new Date(now - (o.ageDays ?? 0) * DAY);
    const key = this.iam.createKey(
      user,
      created,
      o.usable === false ? now + this.ctx.propagationDelayMs : Number.NEGATIVE_INFINITY,
    );
    key.status = o.status ?? 'Active';
    if (o.lastUsedDaysAgo !== undefined && o.lastUsedDaysAgo !== null) {
      key.lastUsed = new Date(now - o.lastUsedDaysAgo * DAY);
      key.lastUsedService = o.lastUsedService ?? 's3';
      key.lastUsedRegion = this.region;
    }
    return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  }

  /** Records a use of the key (an application signing a request), now or `daysAgo`. */
  useKey(accessKeyId: string, o: { service?: string; daysAgo?: number } = {}): void {
    const key = this.iam.keys.get(accessKeyId);
    if (!key) throw new Error(`useKey: no key ${accessKeyId}`);
    key.lastUsed = new Date(this.clock.nowMs() - (o.daysAgo ?? 0) * DAY);
    key.lastUsedService = o.service ?? 's3';
    key.lastUsedRegion = this.region;
  }

  addSecret(o: {
    name: string;
    value: string | object;
    tags?: Record<string, string>;
    description?: string;
    rotationLambdaArn?: string;
    rotationDays?: number;
    rotationEnabled?: boolean;
  }): SimSecretView {
    const secret = this.sm.create({
      name: o.name,
      value: typeof o.value === 'string' ? o.value : JSON.stringify(o.value),
      tags: new Map(Object.entries(o.tags ?? {})),
      ...(o.description !== undefined && { description: o.description }),
    });
    if (o.rotationLambdaArn !== undefined) secret.rotationLambdaArn = o.rotationLambdaArn;
    if (o.rotationDays !== undefined) secret.rotationRules = { AutomaticallyAfterDays: o.rotationDays };
    secret.rotationEnabled = o.rotationEnabled ?? o.rotationLambdaArn !== undefined;
    return this.secretView(secret);
  }

  addTopic(name: string): string {
    return this.sns.createTopic(name);
  }

  /** Seeds a subscription (confirmed unless `confirmed: false`); returns its ARN. */
  addSubscription(
    topicArn: string,
    protocol: string,
    endpoint: string,
    o: { filterPolicy?: string | object; confirmed?: boolean } = {},
  ): string {
    const attributes: Record<string, string> = {};
    if (o.filterPolicy !== undefined) {
      attributes.FilterPolicy =
        typeof o.filterPolicy === 'string' ? o.filterPolicy : JSON.stringify(o.filterPolicy);
    }
    return this.sns.subscribe(topicArn, protocol, endpoint, attributes, o.confirmed ?? true).arn;
  }

  /** The recipient clicked the link in the confirmation mail. */
  confirmSubscription(arn: string): void {
    const sub = this.sns.subscriptions.get(arn);
    if (!sub) throw new Error(`confirmSubscription: no subscription ${arn}`);
    sub.confirmed = true;
  }

  registerRotationFunction(arn: string, handler: RotationFunction): void {
    this.sm.functions.set(arn, handler);
  }

  rotationFunctionArn(name = 'iam-key-rotator-rotation'): string {
    return `arn:aws:lambda:${this.region}:${this.accountId}:function:${name}`;
  }

  // ------------------------------------------------------------------ inspection

  user(name: string): SimUser | undefined {
    const u = this.iam.findUser(name) ?? this.iam.deletedUsers.get(name.toLowerCase());
    return u ? userView(u) : undefined;
  }

  users(): SimUser[] {
    return this.iam.userOrder.map(userView);
  }

  keys(userName: string): SimKey[] {
    return (this.iam.findUser(userName)?.keys ?? []).map(keyView);
  }

  key(accessKeyId: string): SimKey | undefined {
    const k = this.iam.keys.get(accessKeyId);
    return k ? keyView(k) : undefined;
  }

  secret(idOrNameOrArn: string): SimSecretView | undefined {
    const s = this.sm.find(idOrNameOrArn);
    return s ? this.secretView(s) : undefined;
  }

  versionWithStage(secretId: string, stage: string): string | undefined {
    const s = this.sm.find(secretId);
    return s ? this.sm.holder(s, stage)?.versionId : undefined;
  }

  valueAt(secretId: string, stage = AWSCURRENT): string | undefined {
    const s = this.sm.find(secretId);
    return s ? this.sm.holder(s, stage)?.value : undefined;
  }

  topics(): string[] {
    return [...this.sns.topics.keys()];
  }

  subscriptions(topicArn?: string): SimSubscription[] {
    this.sns.prune();
    return [...this.sns.subscriptions.values()]
      .filter((s) => topicArn === undefined || s.topicArn === topicArn)
      .map((s) => this.sns.view(s));
  }

  /** What subscriptions received (after filter policies); filter by endpoint or subscription ARN. */
  deliveries(endpointOrSubscriptionArn?: string): SimDelivery[] {
    return this.sns.deliveries
      .filter(
        (d) =>
          endpointOrSubscriptionArn === undefined ||
          d.endpoint === endpointOrSubscriptionArn ||
          d.subscriptionArn === endpointOrSubscriptionArn,
      )
      .map((d) => ({ ...d, attributes: { ...d.attributes } }));
  }

  /** Every message accepted by Publish/PublishBatch, before filtering. */
  published(): SimPublished[] {
    return this.sns.published.map((p) => ({ ...p, attributes: { ...p.attributes } }));
  }

  /** Confirmation mails SNS sent to new (email/http) subscriptions. */
  confirmationRequests(): SimConfirmationRequest[] {
    return this.sns.confirmations.map((c) => ({ ...c }));
  }

  issuedSecrets(): string[] {
    return [...this.iam.issued];
  }

  rotations(): SimRotationRecord[] {
    return this.sm.rotations.map((r) => ({
      secretArn: r.secretArn,
      token: r.token,
      attempts: r.attempts,
      outcome: r.outcome,
      errors: [...r.errors],
    }));
  }

  /** Deferred mode: start every waiting rotation now and wait until all have finished. */
  runPendingRotations(): Promise<void> {
    return this.sm.runPending();
  }

  /** Starts rotations of secrets whose NextRotationDate has passed (Secrets Manager's schedule). */
  runScheduledRotations(): Promise<void> {
    return this.sm.runScheduled();
  }

  /** The credential report CSV as IAM would generate it at this moment. */
  credentialReportCsv(): string {
    return this.report.render();
  }

  /**
   * Deep, JSON-comparable copy of the account's state: users, groups, keys (status, last use),
   * secrets (versions, stages, tags, a hash of each value), topics, subscriptions, deliveries and
   * published messages. Not included: call log, clock, credential report, rotation records and
   * read-only side effects (secret LastAccessedDate).
   */
  snapshot(): unknown {
    const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
    const sortedObj = (m: Map<string, string>) =>
      Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    const byKey = <T>(list: T[], key: (t: T) => string) =>
      [...list].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    const hash = (v: string | undefined) =>
      v === undefined ? null : createHash('sha256').update(v).digest('hex');
    return JSON.parse(
      JSON.stringify({
        users: byKey(this.iam.userOrder, (u) => u.name).map((u) => ({
          name: u.name,
          arn: u.arn,
          userId: u.userId,
          path: u.path,
          tags: sortedObj(u.tags),
          groups: [...u.groups].sort(),
          created: iso(u.created),
          password: u.password
            ? { lastUsed: iso(u.password.lastUsed), lastChanged: iso(u.password.lastChanged) }
            : null,
          mfa: u.mfa,
          keys: u.keys.map((k) => k.accessKeyId),
        })),
        deletedUsers: [...this.iam.deletedUsers.values()].map((u) => u.name).sort(),
        groups: byKey([...this.iam.groups.values()], (g) => g.name).map((g) => ({
          name: g.name,
          members: [...g.members].sort(),
        })),
        keys: byKey([...this.iam.keys.values()], (k) => k.accessKeyId).map((k) => ({
          accessKeyId: k.accessKeyId,
          userName: k.userName,
          status: k.status,
          created: iso(k.created),
          lastUsed: iso(k.lastUsed),
          lastUsedService: k.lastUsedService,
          lastUsedRegion: k.lastUsedRegion,
        })),
        secrets: byKey(this.sm.order, (s) => s.name).map((s) => ({
          arn: s.arn,
          name: s.name,
          description: s.description ?? null,
          tags: sortedObj(s.tags),
          rotationEnabled: s.rotationEnabled,
          rotationLambdaArn: s.rotationLambdaArn ?? null,
          rotationRules: s.rotationRules ?? null,
          lastRotated: iso(s.lastRotated),
          deleted: iso(s.deleted),
          versions: [...s.versions.values()].map((v) => ({
            versionId: v.versionId,
            stages: [...v.stages].sort(),
            valueSha256: hash(v.value),
            binarySha256: v.binary ? createHash('sha256').update(v.binary).digest('hex') : null,
            created: iso(v.created),
          })),
        })),
        topics: [...this.sns.topics.keys()].sort(),
        subscriptions: byKey([...this.sns.subscriptions.values()], (s) => s.arn).map((s) => ({
          ...this.sns.view(s),
          created: iso(s.created),
        })),
        deliveries: this.sns.deliveries,
        published: this.sns.published,
      }),
    );
  }

  // ------------------------------------------------------------------ faults

  /** The nth next call of `op` (and `times - 1` after it) fails with `error` (default SimulatedFault). */
  failCall(op: string, o?: { nth?: number; error?: Error; times?: number }): void {
    this.faults.failCall(op, o);
  }

  /** The nth next call of `op` takes effect, then throws SimulatedCrash. */
  crashAfterCall(op: string, o?: { nth?: number }): void {
    this.faults.crashAfterCall(op, o);
  }

  /** General hook: return an Error to fail the call before it takes effect. Returns a remover. */
  failWhen(predicate: (op: string, input: unknown) => Error | undefined): () => void {
    return this.faults.failWhen(predicate);
  }

  private secretView(s: SecretRecord): SimSecretView {
    const view: SimSecretView = {
      arn: s.arn,
      name: s.name,
      tags: Object.fromEntries(s.tags),
      rotationEnabled: s.rotationEnabled,
      versions: [...s.versions.values()].map((v) => ({
        versionId: v.versionId,
        stages: [...v.stages],
        ...(v.value !== undefined && { value: v.value }),
        created: v.created,
      })),
    };
    if (s.description !== undefined) view.description = s.description;
    if (s.rotationLambdaArn !== undefined) view.rotationLambdaArn = s.rotationLambdaArn;
    const days = s.rotationRules?.AutomaticallyAfterDays;
    if (days !== undefined) view.rotationDays = days;
    if (s.lastRotated) view.lastRotated = s.lastRotated;
    const next = this.sm.nextRotation(s);
    if (next) view.nextRotation = next;
    if (s.deleted) view.deleted = s.deleted;
    return view;
  }
}

function userView(u: UserRecord): SimUser {
  const view: SimUser = {
    name: u.name,
    arn: u.arn,
    userId: u.userId,
    path: u.path,
    tags: Object.fromEntries(u.tags),
    groups: [...u.groups],
    created: u.created,
    passwordEnabled: u.password !== null,
    mfa: u.mfa,
  };
  if (u.deleted) view.deleted = true;
  return view;
}

function keyView(k: KeyRecord): SimKey {
  return {
    accessKeyId: k.accessKeyId,
    secretAccessKey: k.secretAccessKey,
    status: k.status,
    created: k.created,
    lastUsed: k.lastUsed,
    lastUsedService: k.lastUsedService,
    lastUsedRegion: k.lastUsedRegion,
    userName: k.userName,
  };
}

export type { RotationEvent as SimRotationEvent };
