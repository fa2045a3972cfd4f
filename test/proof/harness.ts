import { TagUserCommand } from '@aws-sdk/client-iam';
import { UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { clients, stsWithKey } from '../../src/aws/clients.js';
import { withRetry } from '../../src/aws/retry.js';
import { type Config, loadConfig } from '../../src/config.js';
import { rotate } from '../../src/rotation/index.js';
import { SECRET_TAG, USER_TAG } from '../../src/tags.js';
import { SimAccount, type SimOptions, SimulatedCrash, SimulatedFault } from '../sim/index.js';

/**
 * The proof suite's account: the simulator with the real rotation function registered, users
 * enrolled the way `enroll` leaves them, and an invariant watch that checks DESIGN.md's invariants
 * 1, 2, 3 and 5 before every AWS call (that is, after every call that took effect).
 */

export const START = new Date('2026-06-01T06:00:00Z');
const DAY = 86_400_000;

export interface Binding {
  userName: string;
  secretArn: string;
}

export interface ProofAccount {
  sim: SimAccount;
  cfg: Config;
  topicArn: string;
  rotationArn: string;
  bindings: Binding[];
  /** Every RotationToken Secrets Manager handed the rotation function (sensitive: leak-scanned). */
  rotationTokens: string[];
  /** Invariant violations seen so far, in words. Must stay empty. */
  violations: string[];
  /** Invocations of the rotation function that died (a crash was injected into them). */
  deaths: number;
  /** Every error the rotation function threw (leak-scanned whole). */
  errors: unknown[];
  /** The injected crash, if any (see crashAfter). */
  crash?: { op: string; nth: number; seen: number; fired: boolean };
  /** Running invocations (a RotateSecret in sync mode runs the rotation inside the caller's). */
  stack: { name: string; dead: boolean }[];
  /** Every call that reached the service after fault injection, with who made it and on what. */
  seen: SeenCall[];
  /** Calls that change state, with their target, in order (calls failed by injection excluded). */
  mutations: Mutation[];
}

export interface SeenCall {
  op: string;
  actor: string;
  /** IAM's service prefix: iam, sts, secretsmanager, sns. */
  service: string;
  /** The ARN the call acts on, as IAM authorizes it ('*' for account-level calls). */
  resource: string;
  /** Tags of the IAM user acted on, at the time of the call (for aws:ResourceTag conditions). */
  userTags?: Record<string, string>;
}

const IAM_ACCOUNT_LEVEL = new Set([
  'GenerateCredentialReport',
  'GetCredentialReport',
  'GetAccountAuthorizationDetails',
  'ListAccountAliases',
  'ListUsers',
]);
const SNS_OPS = new Set([
  'CreateTopic',
  'DeleteTopic',
  'ListTopics',
  'GetTopicAttributes',
  'Subscribe',
  'SetSubscriptionAttributes',
  'GetSubscriptionAttributes',
  'ListSubscriptionsByTopic',
  'ListSubscriptions',
  'Unsubscribe',
  'Publish',
  'PublishBatch',
]);

/** Which service a call goes to and the resource IAM authorizes it against. */
function describeCall(a: ProofAccount, op: string, input: unknown): Omit<SeenCall, 'op' | 'actor'> {
  const i = (input ?? {}) as Record<string, unknown>;
  if (op === 'GetCallerIdentity') return { service: 'sts', resource: '*' };
  const isSns = SNS_OPS.has(op) || ((op === 'TagResource' || op === 'UntagResource') && 'ResourceArn' in i);
  if (isSns) {
    const arn = i.TopicArn ?? i.ResourceArn ?? i.SubscriptionArn;
    return { service: 'sns', resource: typeof arn === 'string' ? arn : '*' };
  }
  if (typeof i.SecretId === 'string' || op === 'ListSecrets' || op === 'CreateSecret') {
    const id = (i.SecretId ?? i.Name) as string | undefined;
    const arn =
      id === undefined
        ? '*'
        : (a.sim.secret(id)?.arn ??
          (id.startsWith('arn:')
            ? id
            : `arn:aws:secretsmanager:${a.sim.region}:${a.sim.accountId}:secret:${id}`));
    return { service: 'secretsmanager', resource: op === 'ListSecrets' ? '*' : arn };
  }
  if (IAM_ACCOUNT_LEVEL.has(op)) return { service: 'iam', resource: '*' };
  const userName =
    typeof i.UserName === 'string'
      ? i.UserName
      : typeof i.AccessKeyId === 'string'
        ? a.sim.key(i.AccessKeyId)?.userName
        : undefined;
  const user = userName === undefined ? undefined : a.sim.user(userName);
  return {
    service: 'iam',
    resource: user?.arn ?? `arn:aws:iam::${a.sim.accountId}:user/${userName ?? '*'}`,
    ...(user !== undefined && { userTags: { ...user.tags } }),
  };
}

export interface Mutation {
  op: string;
  /** What was acted on: a key id, a secret ARN, an owner (for a published message). */
  target: string;
  actor: string;
}

const MUTATING = new Set([
  'CreateAccessKey',
  'UpdateAccessKey',
  'DeleteAccessKey',
  'PutSecretValue',
  'UpdateSecretVersionStage',
  'RotateSecret',
  'Publish',
  'PublishBatch',
  'Subscribe',
  'TagUser',
  'UntagUser',
  'TagResource',
  'UntagResource',
  'CreateSecret',
  'CancelRotateSecret',
]);

function recordMutation(a: ProofAccount, op: string, input: unknown, actor: string): void {
  if (!MUTATING.has(op)) return;
  const i = (input ?? {}) as Record<string, unknown>;
  const attrs = (m: unknown) =>
    (m as { MessageAttributes?: Record<string, { StringValue?: string }> }).MessageAttributes ?? {};
  if (op === 'PublishBatch') {
    const entries = (i.PublishBatchRequestEntries ?? []) as unknown[];
    for (const e of entries) {
      const at = attrs(e);
      a.mutations.push({
        op,
        target: at.owner?.StringValue ?? `audience:${at.audience?.StringValue}`,
        actor,
      });
    }
    return;
  }
  if (op === 'Publish') {
    const at = attrs(i);
    a.mutations.push({ op, target: at.owner?.StringValue ?? `audience:${at.audience?.StringValue}`, actor });
    return;
  }
  const target =
    op === 'UpdateAccessKey'
      ? `${String(i.AccessKeyId)}:${String(i.Status)}`
      : op === 'UpdateSecretVersionStage'
        ? `${String(i.SecretId)}:${String(i.VersionStage)}:${String(i.MoveToVersionId ?? '-')}:${String(i.RemoveFromVersionId ?? '-')}`
        : String(i.AccessKeyId ?? i.SecretId ?? i.UserName ?? i.Name ?? i.Endpoint ?? '');
  a.mutations.push({ op, target, actor });
}

/**
 * Runs `fn` as one process (a Lambda invocation, a CLI run). If an injected crash fires inside
 * it, every later AWS call it makes fails and `died` is true whatever `fn` did with the errors.
 */
export async function invoke<T>(
  a: ProofAccount,
  name: string,
  fn: () => Promise<T>,
): Promise<{ value?: T; error?: unknown; died: boolean }> {
  const frame = { name, dead: false };
  a.stack.push(frame);
  try {
    const value = await fn();
    return { value, died: frame.dead };
  } catch (error) {
    return { error, died: frame.dead };
  } finally {
    const at = a.stack.lastIndexOf(frame);
    if (at >= 0) a.stack.splice(at, 1);
    if (frame.dead) a.deaths++;
  }
}

export interface ProofOptions {
  env?: Record<string, string>;
  sim?: SimOptions;
  /**
   * Called inside every rotation-function invocation before the real function runs (races: an
   * audit started from within a rotation step).
   */
  beforeStep?: (event: { Step: string; SecretId: string }) => Promise<void> | void;
  /** The rotation function's body (default: `rotate(event, { config })`), e.g. the packaged handler. */
  rotationFunction?: (event: unknown) => Promise<unknown>;
}

/**
 * A fresh account with the real rotation function registered. Crashes (see crashAfter) are made
 * faithful: once the crashing call has been made inside an invocation (see invoke), every later
 * AWS call of that invocation fails and the invocation ends with SimulatedCrash even if the code
 * caught the error, as a Lambda whose process died would.
 */
export function proofAccount(o: ProofOptions = {}): ProofAccount {
  const sim = new SimAccount({ start: START, ...o.sim }).install();
  const topicArn = sim.addTopic('iam-key-rotator-alerts');
  const cfg = loadConfig({ TOPIC_ARN: topicArn, ...o.env });
  const rotationArn = sim.rotationFunctionArn();
  const account: ProofAccount = {
    sim,
    cfg,
    topicArn,
    rotationArn,
    bindings: [],
    rotationTokens: [],
    violations: [],
    deaths: 0,
    errors: [],
    stack: [],
    seen: [],
    mutations: [],
  };

  sim.failWhen((op, input) => {
    checkInvariants(account, op, input);
    const top = account.stack.at(-1);
    account.seen.push({ op, actor: top?.name ?? 'operator', ...describeCall(account, op, input) });
    if (top?.dead) return new SimulatedFault(`the ${top.name} process died before ${op}`);
    recordMutation(account, op, input, top?.name ?? 'operator');
    const crash = account.crash;
    if (crash !== undefined && op === crash.op && ++crash.seen === crash.nth) {
      crash.fired = true;
      // The call itself goes ahead (and the simulator throws SimulatedCrash once it took effect);
      // whatever it answered, the process is gone from the next call on.
      if (top !== undefined) top.dead = true;
    }
    return undefined;
  });
  sim.registerRotationFunction(rotationArn, async (event) => {
    if (event.RotationToken !== undefined && !account.rotationTokens.includes(event.RotationToken)) {
      account.rotationTokens.push(event.RotationToken);
    }
    await o.beforeStep?.(event);
    const body = o.rotationFunction ?? ((e: unknown) => rotate(e, { config: cfg }));
    const r = await invoke(account, 'rotation', () => body(event));
    if (r.error !== undefined) account.errors.push(r.error);
    if (r.died) throw new SimulatedCrash(`rotation function died during ${event.Step}`);
    if (r.error !== undefined) throw r.error;
  });
  return account;
}

/**
 * The nth next call of `op` takes effect (the simulator's crashAfterCall) and the invocation that
 * made it (rotation function, audit) dies right after it. A call that fails on its own (a lookup of a value that does not
 * exist yet, a key not yet propagated) is a crash point too: the process dies once it answered.
 */
export function crashAfter(a: ProofAccount, op: string, nth: number): void {
  a.sim.crashAfterCall(op, { nth });
  a.crash = { op, nth, seen: 0, fired: false };
}

export interface EnrollSpec {
  owner?: string | undefined;
  ageDays?: number;
  lastUsedDaysAgo?: number | null;
  /** Store the secret in the older `username/accesskey/secretkey` shape. */
  legacy?: boolean;
  path?: string;
  rotationDays?: number;
  extraTags?: Record<string, string>;
}

/** Creates a user with one key and binds it to `iam-key-rotator/<name>` both ways. */
export async function enrollUser(a: ProofAccount, userName: string, spec: EnrollSpec = {}): Promise<Binding> {
  a.sim.addUser(userName, {
    ...(spec.path !== undefined && { path: spec.path }),
    tags: {
      ...(spec.owner !== undefined && { owner: spec.owner }),
      ...spec.extraTags,
    },
  });
  const key = a.sim.addKey(userName, {
    ageDays: spec.ageDays ?? 30,
    lastUsedDaysAgo: spec.lastUsedDaysAgo === undefined ? 1 : spec.lastUsedDaysAgo,
  });
  const value = spec.legacy
    ? { username: userName, accesskey: key.accessKeyId, secretkey: key.secretAccessKey, note: 'kept' }
    : { UserName: userName, AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey };
  const secret = a.sim.addSecret({
    name: `${a.cfg.secretPrefix}${userName}`,
    value,
    tags: { [USER_TAG]: userName },
    rotationLambdaArn: a.rotationArn,
    rotationDays: spec.rotationDays ?? a.cfg.rotationScheduleDays,
  });
  await withRetry(() =>
    clients().iam.send(
      new TagUserCommand({ UserName: userName, Tags: [{ Key: SECRET_TAG, Value: secret.arn }] }),
    ),
  );
  const binding = { userName, secretArn: secret.arn };
  a.bindings.push(binding);
  return binding;
}

interface KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

function parseValue(value: string | undefined): KeyPair | undefined {
  if (value === undefined) return undefined;
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    const id = v.AccessKeyId ?? v.accesskey;
    const secret = v.SecretAccessKey ?? v.secretkey;
    return typeof id === 'string' && typeof secret === 'string'
      ? { accessKeyId: id, secretAccessKey: secret }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The key pair a stage of the secret holds (test-side read, no AWS call). */
export function keyAt(a: ProofAccount, secretArn: string, stage = 'AWSCURRENT'): KeyPair | undefined {
  return parseValue(a.sim.valueAt(secretArn, stage));
}

/** The key id stored in a version of the secret. */
function keyOfVersion(a: ProofAccount, secretArn: string, versionId: string): string | undefined {
  const v = a.sim.secret(secretArn)?.versions.find((x) => x.versionId === versionId);
  return parseValue(v?.value)?.accessKeyId;
}

/** The version carrying AWSPENDING without AWSCURRENT: a rotation under way or stuck. */
export function pendingVersion(a: ProofAccount, secretArn: string): string | undefined {
  return a.sim
    .secret(secretArn)
    ?.versions.find((v) => v.stages.includes('AWSPENDING') && !v.stages.includes('AWSCURRENT'))?.versionId;
}

/**
 * Invariants checked before every AWS call (so after every call that took effect):
 * 1. at most two keys per bound user, and never a CreateAccessKey when two exist;
 * 2. the AWSCURRENT key exists and is active, and no call deactivates or deletes it (nor the key
 *    an unfinished rotation is verifying, AWSPENDING);
 * 3. AWSCURRENT moves only to a key of the bound user that has authenticated (STS recorded a use);
 * 5. a key that is neither AWSCURRENT nor AWSPREVIOUS is deleted only if inactive or never used.
 */
function checkInvariants(a: ProofAccount, op: string, input: unknown): void {
  const { sim } = a;
  for (const b of a.bindings) {
    const user = sim.user(b.userName);
    if (user === undefined || user.deleted) continue;
    const keys = sim.keys(b.userName);
    const v = (text: string) => {
      const line = `${op}: ${b.userName}: ${text}`;
      if (!a.violations.includes(line)) a.violations.push(line);
    };
    if (keys.length > 2) v(`invariant 1: user has ${keys.length} keys`);
    const current = keyAt(a, b.secretArn)?.accessKeyId;
    const currentKey = keys.find((k) => k.accessKeyId === current);
    if (current !== undefined && sim.secret(b.secretArn)?.tags[USER_TAG] === b.userName) {
      if (currentKey === undefined) v(`invariant 2: AWSCURRENT key ${current} no longer exists`);
      else if (currentKey.status !== 'Active') v(`invariant 2: AWSCURRENT key ${current} is inactive`);
    }
    const pending = pendingVersion(a, b.secretArn);
    const pendingKey = pending === undefined ? undefined : keyOfVersion(a, b.secretArn, pending);
    const previous = keyAt(a, b.secretArn, 'AWSPREVIOUS')?.accessKeyId;
    const i = (input ?? {}) as Record<string, unknown>;
    const sameUser = typeof i.UserName === 'string' && i.UserName.toLowerCase() === b.userName.toLowerCase();

    if (op === 'CreateAccessKey' && sameUser && keys.length >= 2) {
      v('invariant 1: CreateAccessKey while the user already has two keys');
    }
    if ((op === 'DeleteAccessKey' || op === 'UpdateAccessKey') && sameUser) {
      const id = i.AccessKeyId;
      const retires = op === 'DeleteAccessKey' || i.Status === 'Inactive';
      if (retires && id === current) v(`invariant 2: ${op} on the AWSCURRENT key ${String(id)}`);
      if (retires && id !== undefined && id === pendingKey) {
        v(`invariant 2: ${op} on the key being verified (AWSPENDING) ${String(id)}`);
      }
      if (op === 'DeleteAccessKey' && id !== current && id !== previous) {
        const k = keys.find((x) => x.accessKeyId === id);
        if (k !== undefined && k.status === 'Active' && k.lastUsed !== null) {
          v(`invariant 5: deletes ${String(id)}, active, used and not AWSCURRENT/AWSPREVIOUS`);
        }
      }
    }
    if (
      op === 'UpdateSecretVersionStage' &&
      i.VersionStage === 'AWSCURRENT' &&
      typeof i.MoveToVersionId === 'string' &&
      (i.SecretId === b.secretArn || i.SecretId === sim.secret(b.secretArn)?.name)
    ) {
      const to = keyOfVersion(a, b.secretArn, i.MoveToVersionId);
      const k = to === undefined ? undefined : sim.key(to);
      if (k === undefined) v(`invariant 3: AWSCURRENT moves to a version without a live key (${String(to)})`);
      else if (k.userName !== b.userName) v(`invariant 3: AWSCURRENT moves to a key of ${k.userName}`);
      else if (k.status !== 'Active' || k.lastUsed === null || k.lastUsedService !== 'sts') {
        v(`invariant 3: AWSCURRENT moves to ${to} which never authenticated`);
      }
    }
  }
}

/**
 * Checks the state at rest (no rotation running): invariants 1 and 2, nothing left pending, and
 * the AWSCURRENT key authenticates as the bound user (a real STS call signed with it). Returns
 * problems in words; empty means all hold.
 */
export async function restingProblems(a: ProofAccount, b: Binding): Promise<string[]> {
  const problems: string[] = [];
  const keys = a.sim.keys(b.userName);
  if (keys.length > 2) problems.push(`${keys.length} keys`);
  const current = keyAt(a, b.secretArn);
  if (current === undefined) return [...problems, 'no AWSCURRENT key pair'];
  const live = keys.find((k) => k.accessKeyId === current.accessKeyId);
  if (live?.status !== 'Active') problems.push(`AWSCURRENT key ${current.accessKeyId} is not active`);
  const pending = pendingVersion(a, b.secretArn);
  if (pending !== undefined) problems.push(`AWSPENDING left on version ${pending}`);
  try {
    const sts = stsWithKey(current.accessKeyId, current.secretAccessKey);
    const who = await withRetry(() => sts.send(new GetCallerIdentityCommand({})));
    if (who.Arn !== a.sim.user(b.userName)?.arn) problems.push(`AWSCURRENT key authenticates as ${who.Arn}`);
  } catch (err) {
    problems.push(`AWSCURRENT key does not authenticate: ${(err as Error).name}`);
  }
  return problems;
}

/** Keys of the user that are neither AWSCURRENT nor AWSPREVIOUS of the bound secret. */
export function orphanKeys(a: ProofAccount, b: Binding): string[] {
  const managed = new Set(
    ['AWSCURRENT', 'AWSPREVIOUS'].map((s) => keyAt(a, b.secretArn, s)?.accessKeyId).filter(Boolean),
  );
  return a.sim
    .keys(b.userName)
    .map((k) => k.accessKeyId)
    .filter((id) => !managed.has(id));
}

/** What an operator (or the audit's clear-stuck action) does with a stuck rotation. */
export async function clearStuck(a: ProofAccount, b: Binding): Promise<boolean> {
  const pending = pendingVersion(a, b.secretArn);
  if (pending === undefined) return false;
  await withRetry(() =>
    clients().sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: b.secretArn,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: pending,
      }),
    ),
  );
  return true;
}

/** The shape of a user's keys relative to the secret (ids differ between runs, roles do not). */
export function keyShape(a: ProofAccount, b: Binding): string[] {
  const current = keyAt(a, b.secretArn)?.accessKeyId;
  const previous = keyAt(a, b.secretArn, 'AWSPREVIOUS')?.accessKeyId;
  return a.sim
    .keys(b.userName)
    .map((k) => {
      const role = k.accessKeyId === current ? 'current' : k.accessKeyId === previous ? 'previous' : 'other';
      return `${role}:${k.status}`;
    })
    .sort();
}

export function daysLater(a: ProofAccount, days: number): void {
  a.sim.clock.advance(days * DAY);
}

/** Prints one figure line the proof reports (visible in `npx vitest run test/proof`). */
const print = console.log.bind(console);
export function figure(line: string): void {
  print(`PROOF ${line}`);
}
