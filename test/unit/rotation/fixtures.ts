import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  GetUserCommand,
  IAMClient,
  LimitExceededException,
  ListAccessKeysCommand,
  NoSuchEntityException,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { expect, vi } from 'vitest';
import { type Clock, setClock } from '../../../src/clock.js';
import { type Config, loadConfig } from '../../../src/config.js';
import { logger } from '../../../src/logger.js';
import type { RotationEvent, RotationStep } from '../../../src/rotation/event.js';

/**
 * A small, stateful stand-in for one bound secret and its user, so each unit's exact calls can be
 * asserted with aws-sdk-client-mock. Behaviour across services is the simulator's job (test/sim).
 */

export const ACCOUNT = '123456789012';
export const USER = 'alice.smith+ops@example';
export const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/${USER}`;
export const SECRET_NAME = `iam-key-rotator/${USER}`;
export const SECRET_ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:${SECRET_NAME}-AbC123`;
export const TOPIC_ARN = `arn:aws:sns:us-east-1:${ACCOUNT}:iam-key-rotator`;
export const OWNER = 'Alice.Smith@Example.com';

export const TOKEN = 'c0ffee00-1111-4222-8333-444455556666';
export const CURRENT_VERSION = 'aaaaaaaa-0000-4000-8000-000000000001';
export const PREVIOUS_VERSION = 'bbbbbbbb-0000-4000-8000-000000000002';
/** Opaque and sensitive: must never appear in logs or errors. */
export const ROTATION_TOKEN = 'rot-TOKEN-very-sensitive-e3b0c44298fc1c149afbf4c8996fb924';

export const CURRENT_KEY = 'AKIACURRENTKEY000001';
export const CURRENT_SECRET = 'currentSECRETcurrentSECRETcurrentSECRET1';
export const PREVIOUS_KEY = 'AKIAPREVIOUSKEY00002';
export const PREVIOUS_SECRET = 'previousSECRETpreviousSECRETpreviousSEC2';
export const OTHER_KEY = 'AKIAOTHERKEY00000003';
export const NEW_KEY = 'AKIANEWKEY0000000004';
export const NEW_SECRET = 'newSECRETnewSECRETnewSECRETnewSECRETnew4';
export const NEW_KEY_2 = 'AKIANEWKEY0000000005';
export const NEW_SECRET_2 = 'newSECRET2newSECRET2newSECRET2newSECRET5';

export const SECRETS = [CURRENT_SECRET, PREVIOUS_SECRET, NEW_SECRET, NEW_SECRET_2];

export interface FakeKey {
  id: string;
  status: 'Active' | 'Inactive';
  lastUsed?: Date;
}

export interface FakeWorld {
  rotationEnabled: boolean;
  secretTags: Record<string, string>;
  versions: Record<string, string[]>;
  values: Record<string, string>;
  userExists: boolean;
  userArn: string;
  userTags: Record<string, string>;
  keys: FakeKey[];
  /** What the next CreateAccessKey calls return, in order. */
  nextKeys: { id: string; secret: string }[];
}

export function standardValue(keyId = CURRENT_KEY, secret = CURRENT_SECRET, extra: object = {}): string {
  return JSON.stringify({ UserName: USER, AccessKeyId: keyId, SecretAccessKey: secret, ...extra });
}

export function legacyValue(keyId = CURRENT_KEY, secret = CURRENT_SECRET, extra: object = {}): string {
  return JSON.stringify({ username: USER, accesskey: keyId, secretkey: secret, ...extra });
}

/**
 * A bound secret mid-rotation: AWSCURRENT holds CURRENT_KEY, Secrets Manager has staged the
 * token as AWSPENDING (no value yet), the user has one key, in use.
 */
export function world(overrides: Partial<FakeWorld> = {}): FakeWorld {
  return {
    rotationEnabled: true,
    secretTags: { 'iam-key-rotator:user': USER },
    versions: { [CURRENT_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
    values: { [CURRENT_VERSION]: standardValue() },
    userExists: true,
    userArn: USER_ARN,
    userTags: { 'iam-key-rotator:secret': SECRET_ARN, owner: OWNER },
    keys: [{ id: CURRENT_KEY, status: 'Active', lastUsed: new Date('2026-05-31T10:00:00Z') }],
    nextKeys: [
      { id: NEW_KEY, secret: NEW_SECRET },
      { id: NEW_KEY_2, secret: NEW_SECRET_2 },
    ],
    ...overrides,
  };
}

/** The key pair stored for the token (what createSecret would have put). */
export function withPendingValue(w: FakeWorld, keyId = NEW_KEY, secret = NEW_SECRET): FakeWorld {
  w.values[TOKEN] = standardValue(keyId, secret);
  if (!w.keys.some((k) => k.id === keyId)) w.keys.push({ id: keyId, status: 'Active' });
  return w;
}

export function event(step: RotationStep, overrides: Partial<RotationEvent> = {}): RotationEvent {
  return {
    Step: step,
    SecretId: SECRET_ARN,
    ClientRequestToken: TOKEN,
    RotationToken: ROTATION_TOKEN,
    ...overrides,
  };
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ TOPIC_ARN, VERIFY_BUDGET_SECONDS: '30', ...env });
}

const meta = { $metadata: {} };

function notFound(what: string): ResourceNotFoundException {
  return new ResourceNotFoundException({
    message: `Secrets Manager can't find the specified ${what}`,
    ...meta,
  });
}

function moveLabel(w: FakeWorld, stage: string, to: string): string | undefined {
  let from: string | undefined;
  for (const [id, stages] of Object.entries(w.versions)) {
    if (stages.includes(stage)) {
      from = id;
      w.versions[id] = stages.filter((s) => s !== stage);
    }
  }
  w.versions[to] = [...(w.versions[to] ?? []), stage];
  return from;
}

export type Mocks = ReturnType<typeof install>;

/** Mocks every client (all instances) over the world; restore with `m.restore()`. */
export function install(w: FakeWorld) {
  const iam = mockClient(IAMClient);
  const sm = mockClient(SecretsManagerClient);
  const sns = mockClient(SNSClient);
  const sts = mockClient(STSClient);

  sm.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => {
    if (input.SecretId !== SECRET_ARN && input.SecretId !== SECRET_NAME) throw notFound('secret');
    return {
      ARN: SECRET_ARN,
      Name: SECRET_NAME,
      RotationEnabled: w.rotationEnabled,
      Tags: Object.entries(w.secretTags).map(([Key, Value]) => ({ Key, Value })),
      VersionIdsToStages: structuredClone(w.versions),
    };
  });
  sm.on(GetSecretValueCommand).callsFake((input: { VersionId?: string; VersionStage?: string }) => {
    const stage = input.VersionStage ?? (input.VersionId === undefined ? 'AWSCURRENT' : undefined);
    const id =
      input.VersionId ??
      Object.keys(w.versions).find((v) => stage !== undefined && w.versions[v]?.includes(stage));
    const stages = id === undefined ? undefined : w.versions[id];
    const value = id === undefined ? undefined : w.values[id];
    if (stages === undefined || value === undefined || (stage !== undefined && !stages.includes(stage))) {
      throw notFound(`secret value for staging label: ${stage ?? 'none'}`);
    }
    return { ARN: SECRET_ARN, Name: SECRET_NAME, VersionId: id, SecretString: value, VersionStages: stages };
  });
  sm.on(PutSecretValueCommand).callsFake(
    (input: { ClientRequestToken: string; SecretString: string; VersionStages?: string[] }) => {
      w.values[input.ClientRequestToken] = input.SecretString;
      for (const stage of input.VersionStages ?? ['AWSCURRENT'])
        moveLabel(w, stage, input.ClientRequestToken);
      return { ARN: SECRET_ARN, Name: SECRET_NAME, VersionId: input.ClientRequestToken };
    },
  );
  sm.on(UpdateSecretVersionStageCommand).callsFake(
    (input: { VersionStage: string; MoveToVersionId: string; RemoveFromVersionId?: string }) => {
      const from = moveLabel(w, input.VersionStage, input.MoveToVersionId);
      if (from !== input.RemoveFromVersionId) throw new Error('test fake: RemoveFromVersionId is wrong');
      if (input.VersionStage === 'AWSCURRENT' && from !== undefined) moveLabel(w, 'AWSPREVIOUS', from);
      return { ARN: SECRET_ARN, Name: SECRET_NAME };
    },
  );

  const noSuchUser = () =>
    new NoSuchEntityException({ message: `The user with name ${USER} cannot be found.`, ...meta });
  iam.on(GetUserCommand).callsFake((input: { UserName: string }) => {
    if (!w.userExists || input.UserName !== USER) throw noSuchUser();
    return {
      User: {
        UserName: USER,
        UserId: 'AIDAEXAMPLEUSERID0001',
        Arn: w.userArn,
        Path: '/',
        CreateDate: new Date('2025-01-01T00:00:00Z'),
        Tags: Object.entries(w.userTags).map(([Key, Value]) => ({ Key, Value })),
      },
    };
  });
  iam.on(ListAccessKeysCommand).callsFake(() => ({
    AccessKeyMetadata: w.keys.map((k) => ({
      UserName: USER,
      AccessKeyId: k.id,
      Status: k.status,
      CreateDate: new Date('2026-03-01T00:00:00Z'),
    })),
    IsTruncated: false,
  }));
  iam.on(GetAccessKeyLastUsedCommand).callsFake((input: { AccessKeyId: string }) => {
    const key = w.keys.find((k) => k.id === input.AccessKeyId);
    return {
      UserName: USER,
      AccessKeyLastUsed: key?.lastUsed
        ? { LastUsedDate: key.lastUsed, ServiceName: 's3', Region: 'us-east-1' }
        : { ServiceName: 'N/A', Region: 'N/A' },
    };
  });
  iam.on(CreateAccessKeyCommand).callsFake(() => {
    if (w.keys.length >= 2) {
      throw new LimitExceededException({ message: 'Cannot exceed quota for AccessKeysPerUser: 2', ...meta });
    }
    const next = w.nextKeys.shift();
    if (next === undefined) throw new Error('test fake: no more keys to hand out');
    w.keys.push({ id: next.id, status: 'Active' });
    return {
      AccessKey: {
        UserName: USER,
        AccessKeyId: next.id,
        SecretAccessKey: next.secret,
        Status: 'Active',
        CreateDate: new Date(),
      },
    };
  });
  iam.on(DeleteAccessKeyCommand).callsFake((input: { AccessKeyId: string }) => {
    if (!w.keys.some((k) => k.id === input.AccessKeyId)) throw noSuchUser();
    w.keys = w.keys.filter((k) => k.id !== input.AccessKeyId);
    return {};
  });
  iam
    .on(UpdateAccessKeyCommand)
    .callsFake((input: { AccessKeyId: string; Status: 'Active' | 'Inactive' }) => {
      const key = w.keys.find((k) => k.id === input.AccessKeyId);
      if (key === undefined) throw noSuchUser();
      key.status = input.Status;
      return {};
    });

  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Arn: USER_ARN, Account: ACCOUNT, UserId: 'AIDAEXAMPLEUSERID0001' });
  sns.on(PublishCommand).resolves({ MessageId: 'message-1' });

  return {
    iam,
    sm,
    sns,
    sts,
    restore() {
      iam.restore();
      sm.restore();
      sns.restore();
      sts.restore();
    },
  };
}

/** Nothing that changes state was sent: no key created, deleted or (de)activated, no secret written. */
export function expectNothingChanged(m: Mocks): void {
  expect(m.iam).not.toHaveReceivedCommand(CreateAccessKeyCommand);
  expect(m.iam).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
  expect(m.iam).not.toHaveReceivedCommand(UpdateAccessKeyCommand);
  expect(m.sm).not.toHaveReceivedCommand(PutSecretValueCommand);
  expect(m.sm).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
}

/** A virtual clock: sleeping advances time instantly and is recorded. */
export function fakeClock(
  startMs = Date.parse('2026-06-01T00:00:00Z'),
): Clock & { slept: number[]; t: number } {
  const c = {
    t: startMs,
    slept: [] as number[],
    now: () => new Date(c.t),
    sleep: async (ms: number) => {
      c.slept.push(ms);
      c.t += ms;
    },
  };
  return c;
}

export function useFakeClock(startMs?: number): ReturnType<typeof fakeClock> {
  const c = fakeClock(startMs);
  setClock(c);
  return c;
}

/** An error shaped like the SDK's for codes that have no class (STS InvalidClientTokenId, ...). */
export function awsError(name: string, message = name, httpStatusCode = 403): Error {
  const err = new Error(message) as Error & { $fault: string; $metadata: object };
  err.name = name;
  err.$fault = 'client';
  err.$metadata = { httpStatusCode };
  return err;
}

export interface CapturedLogs {
  lines: string[];
  /** Every line parsed as the JSON object Powertools printed. */
  entries(): Record<string, unknown>[];
  restore(): void;
}

/**
 * Captures the logger's output (POWERTOOLS_DEV=true makes Powertools print through the global
 * console) at DEBUG level, so tests see every line the code writes.
 */
export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  const methods = ['debug', 'info', 'warn', 'error', 'log', 'trace'] as const;
  const spies = methods.map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    }),
  );
  logger.setLogLevel('DEBUG');
  return {
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    restore() {
      logger.setLogLevel('WARN');
      for (const spy of spies) spy.mockRestore();
    },
  };
}

/** Invariant 6: no secret access key and no RotationToken in any log line. */
export function expectNoSecretsIn(text: string | string[]): void {
  const all = Array.isArray(text) ? text.join('\n') : text;
  for (const secret of [...SECRETS, ROTATION_TOKEN]) expect(all).not.toContain(secret);
}
