import { inspect, isDeepStrictEqual } from 'node:util';
import { DeleteAccessKeyCommand, DeleteUserCommand, IAMClient, TagUserCommand } from '@aws-sdk/client-iam';
import {
  InvalidRequestException,
  RotateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { resetClients } from '../../src/aws/clients.js';
import { type Config, loadConfig } from '../../src/config.js';
import { BindingError } from '../../src/errors.js';
import { logger } from '../../src/logger.js';
import { rotate } from '../../src/rotation/index.js';
import { SECRET_TAG, USER_TAG } from '../../src/tags.js';
import { SimAccount, type SimOptions, type SimRotationEvent } from '../sim/index.js';
import { type EnrolledUser, enrolledUser, keyPairAt, keyPairOf, secretValue, whoAmI } from './fixtures.js';

/**
 * Issue 2: the rotation function end to end on the simulated account. Secrets Manager (the
 * simulator) runs our four steps through RotateSecret, with its retries; IAM, STS and SNS behave
 * as AWS does. Every scenario ends by checking the invariants of DESIGN.md on the account itself.
 */

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
const DEFAULT_DELAY_MS = 8_000;
const OWNER = 'alice@example.com';

// ------------------------------------------------------------------ logs of the whole file

/** Every line written to the console while this file runs (the logger at DEBUG). */
const captured: string[] = [];
/** Secret access keys issued by every simulated account of this file, and every RotationToken seen. */
const secretMaterial = new Set<string>();
let spies: MockInstance[] = [];

beforeAll(() => {
  spies = (['debug', 'info', 'warn', 'error', 'log', 'trace'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      // Objects in full, so a secret nested in one is not hidden behind [object Object].
      captured.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' '));
    }),
  );
  logger.setLogLevel('DEBUG');
});

afterAll(() => {
  logger.setLogLevel('WARN');
  for (const spy of spies) spy.mockRestore();
});

/** Invariant 6: no secret, no RotationToken in logs, rotation errors or SNS messages. */
function expectNoSecretMaterial(texts: string[], what: string): void {
  const all = texts.join('\n');
  for (const secret of secretMaterial) {
    if (all.includes(secret)) expect.fail(`${what} contain a secret access key or RotationToken`);
  }
}

// ------------------------------------------------------------------ the account per test

let sim: SimAccount | undefined;
const delays = new WeakMap<SimAccount, number>();

function newSim(options: SimOptions = {}): SimAccount {
  const account = new SimAccount({ seed: 2, ...options }).install();
  resetClients();
  delays.set(account, options.propagationDelayMs ?? DEFAULT_DELAY_MS);
  sim = account;
  return account;
}

afterEach(() => {
  if (sim === undefined) return;
  const account = sim;
  sim = undefined;
  for (const s of account.issuedSecrets()) secretMaterial.add(s);
  try {
    expectNoSecretMaterial(captured, 'log lines');
    expectNoSecretMaterial(
      account.rotations().flatMap((r) => r.errors),
      'errors seen by Secrets Manager',
    );
    expectNoSecretMaterial(
      account.published().flatMap((p) => [p.message, p.subject ?? '', ...Object.values(p.attributes)]),
      'SNS messages',
    );
  } finally {
    account.restore();
    resetClients();
  }
});

function settings(env: Record<string, string> = {}): Config {
  return loadConfig({ AWS_REGION: 'us-east-1', ...env });
}

const sm = () => new SecretsManagerClient({ region: 'us-east-1' });
const iam = () => new IAMClient({ region: 'us-east-1' });

async function rotateSecret(secretArn: string): Promise<string> {
  const out = await sm().send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true }));
  if (out.VersionId === undefined) throw new Error('RotateSecret returned no VersionId');
  return out.VersionId;
}

// ------------------------------------------------------------------ tracking every step

interface StepRecord {
  step: string;
  keyIds: string[];
  error?: string;
}

interface Promotion {
  step: string;
  from: string | undefined;
  to: string;
  /** The new key had authenticated through STS before the step that moved AWSCURRENT ran. */
  verified: boolean;
}

type Inner = (event: SimRotationEvent) => Promise<unknown>;

/**
 * Wraps the rotation function registered with Secrets Manager: records every event, the user's
 * keys after every step, and every move of AWSCURRENT together with whether the key it moved to
 * had already been verified (STS had accepted it: the simulator records that as the key's last use
 * by `sts`, and a fresh key is used by nothing else).
 */
class Tracker {
  readonly events: SimRotationEvent[] = [];
  readonly steps: StepRecord[] = [];
  readonly promotions: Promotion[] = [];

  constructor(
    private readonly account: SimAccount,
    private readonly userName: string,
    private readonly inner: Inner,
  ) {}

  readonly fn = async (event: SimRotationEvent): Promise<unknown> => {
    this.events.push(event);
    if (event.RotationToken !== undefined) secretMaterial.add(event.RotationToken);
    const before = keyPairAt(this.account, event.SecretId, 'AWSCURRENT')?.accessKeyId;
    const tokenValue = this.account
      .secret(event.SecretId)
      ?.versions.find((v) => v.versionId === event.ClientRequestToken)?.value;
    const tokenKey =
      tokenValue === undefined ? undefined : this.account.key(keyPairOf(tokenValue).accessKeyId);
    const verified = tokenKey?.lastUsed != null && tokenKey.lastUsedService === 'sts';
    let error: string | undefined;
    try {
      return await this.inner(event);
    } catch (err) {
      error = err instanceof Error ? err.name : String(err);
      throw err;
    } finally {
      this.steps.push({
        step: event.Step,
        keyIds: this.account.keys(this.userName).map((k) => k.accessKeyId),
        ...(error !== undefined && { error }),
      });
      const after = keyPairAt(this.account, event.SecretId, 'AWSCURRENT')?.accessKeyId;
      if (after !== undefined && after !== before) {
        this.promotions.push({ step: event.Step, from: before, to: after, verified });
      }
    }
  };

  /** The most keys the user held after any step. */
  maxKeys(): number {
    return Math.max(0, ...this.steps.map((s) => s.keyIds.length));
  }
}

function tracked(account: SimAccount, userName: string, cfg: Config, inner?: Inner): Tracker {
  return new Tracker(account, userName, inner ?? ((e) => rotate(e, { config: cfg })));
}

// ------------------------------------------------------------------ invariants

interface InvariantOptions {
  tracker?: Tracker;
  /** The key that was AWSCURRENT before the test's first rotation. */
  initialKeyId: string;
  /** A failed rotation leaves its AWSPENDING version (and that version's key). */
  pendingAllowed?: boolean;
}

/**
 * DESIGN.md's invariants, checked on the account after the fact:
 * 1. at most two keys; 2. the AWSCURRENT key exists and is Active; 3. AWSCURRENT moved only to a
 * verified key, and the AWSCURRENT key authenticates as the bound user; 4/5. no orphan: every key
 * of the user is the AWSCURRENT or AWSPREVIOUS key (or the AWSPENDING key of a rotation that did
 * not finish); no AWSPENDING after a successful rotation.
 */
async function assertInvariants(account: SimAccount, user: EnrolledUser, o: InvariantOptions): Promise<void> {
  const keys = account.keys(user.userName);
  expect(keys.length, 'the user holds at most two keys').toBeLessThanOrEqual(2);

  const current = keyPairAt(account, user.secretArn, 'AWSCURRENT');
  if (current === undefined) return expect.fail('the secret has no AWSCURRENT value');
  expect(current.userName).toBe(user.userName);
  const currentKey = keys.find((k) => k.accessKeyId === current.accessKeyId);
  expect(currentKey?.status, `AWSCURRENT key ${current.accessKeyId} exists and is Active`).toBe('Active');

  if (o.tracker !== undefined) {
    for (const p of o.tracker.promotions) {
      expect(p, `AWSCURRENT moved to ${p.to} only after it was verified`).toMatchObject({
        step: 'finishSecret',
        verified: true,
      });
    }
    const expected = o.tracker.promotions.at(-1)?.to ?? o.initialKeyId;
    expect(current.accessKeyId, 'AWSCURRENT moved only within tracked rotation steps').toBe(expected);
  }

  const previous = keyPairAt(account, user.secretArn, 'AWSPREVIOUS');
  const pendingVersion = account.versionWithStage(user.secretArn, 'AWSPENDING');
  const pendingIsCurrent = pendingVersion === account.versionWithStage(user.secretArn, 'AWSCURRENT');
  if (!o.pendingAllowed) {
    expect(pendingVersion, 'no AWSPENDING left after a successful rotation').toBeUndefined();
  }
  const pending =
    o.pendingAllowed && !pendingIsCurrent ? keyPairAt(account, user.secretArn, 'AWSPENDING') : undefined;
  const referenced = new Set(
    [current, previous, pending].flatMap((p) => (p === undefined ? [] : [p.accessKeyId])),
  );
  for (const key of keys) {
    expect(referenced, `key ${key.accessKeyId} is referenced by the secret (no orphan)`).toContain(
      key.accessKeyId,
    );
  }

  account.clock.advance((delays.get(account) ?? DEFAULT_DELAY_MS) + 1_000);
  expect(await whoAmI(account, current), 'the AWSCURRENT key authenticates as the bound user').toBe(
    user.userArn,
  );
}

/** The account's state with the AWSPENDING version that RotateSecret staged (no value) left out. */
function withoutStagedVersion(snapshot: unknown, token: string): unknown {
  const copy = structuredClone(snapshot) as {
    secrets: { versions: { versionId: string; stages: string[]; valueSha256: string | null }[] }[];
  };
  for (const s of copy.secrets) {
    s.versions = s.versions.filter(
      (v) =>
        !(v.versionId === token && v.valueSha256 === null && isDeepStrictEqual(v.stages, ['AWSPENDING'])),
    );
  }
  return copy;
}

const MUTATING = [
  'CreateAccessKey',
  'DeleteAccessKey',
  'UpdateAccessKey',
  'PutSecretValue',
  'UpdateSecretVersionStage',
];

// ------------------------------------------------------------------ scenarios

describe('rotation through RotateSecret on the simulated account', () => {
  it('rotates the key of a bound user: new key in AWSCURRENT, old key kept active as AWSPREVIOUS', async () => {
    const account = newSim();
    const cfg = settings();
    const tracker = tracked(account, 'alice', cfg);
    const alice = await enrolledUser(account, { name: 'alice', owner: OWNER, rotationFunction: tracker.fn });

    const token = await rotateSecret(alice.secretArn);

    expect(account.rotations()).toEqual([
      { secretArn: alice.secretArn, token, attempts: 1, outcome: 'succeeded', errors: [] },
    ]);
    expect(tracker.events.map((e) => e.Step)).toEqual([...STEPS]);
    expect(account.versionWithStage(alice.secretArn, 'AWSCURRENT')).toBe(token);
    expect(account.versionWithStage(alice.secretArn, 'AWSPREVIOUS')).toBe(alice.versionId);
    const current = keyPairAt(account, alice.secretArn, 'AWSCURRENT');
    expect(current?.accessKeyId).not.toBe(alice.key.accessKeyId);
    // The stored secret is the one IAM issued for that key.
    expect(account.key(current?.accessKeyId ?? '')?.secretAccessKey === current?.secretAccessKey).toBe(true);
    expect(current?.shape).toBe('standard');
    expect(account.key(alice.key.accessKeyId)?.status).toBe('Active');
    expect(account.keys('alice')).toHaveLength(2);
    expect(tracker.promotions).toHaveLength(1);
    await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
  });

  it('rotates a user whose name uses the characters IAM allows besides letters (+=,.@_-)', async () => {
    const account = newSim();
    const cfg = settings();
    const name = 'svc+ci=build,eu.1@corp_x-y';
    const tracker = tracked(account, name, cfg);
    const user = await enrolledUser(account, { name, owner: OWNER, rotationFunction: tracker.fn });

    await rotateSecret(user.secretArn);

    expect(account.rotations()[0]).toMatchObject({ outcome: 'succeeded', errors: [] });
    expect(keyPairAt(account, user.secretArn, 'AWSCURRENT')?.userName).toBe(name);
    await assertInvariants(account, user, { tracker, initialKeyId: user.key.accessKeyId });
  });

  it('rotates three times in a row: never a third key, retired keys rejected, the current key works', async () => {
    const account = newSim();
    const cfg = settings();
    const tracker = tracked(account, 'alice', cfg);
    const alice = await enrolledUser(account, { name: 'alice', owner: OWNER, rotationFunction: tracker.fn });
    const seen = new Map([[alice.key.accessKeyId, alice.key]]);

    for (let round = 1; round <= 3; round++) {
      account.clock.advance(86_400_000);
      await rotateSecret(alice.secretArn);
      expect(account.rotations()[round - 1]?.outcome, `rotation ${round} succeeded`).toBe('succeeded');
      for (const step of tracker.steps) {
        expect(step.keyIds.length, `keys after ${step.step} of rotation ${round}`).toBeLessThanOrEqual(2);
      }
      await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });

      const current = keyPairAt(account, alice.secretArn, 'AWSCURRENT');
      const previous = keyPairAt(account, alice.secretArn, 'AWSPREVIOUS');
      if (current === undefined || previous === undefined) return expect.fail('AWSCURRENT/AWSPREVIOUS');
      seen.set(current.accessKeyId, current);
      expect(await whoAmI(account, current)).toBe(alice.userArn);
      // Within its grace period the previous key still works.
      expect(await whoAmI(account, previous)).toBe(alice.userArn);
      for (const [id, key] of seen) {
        if (id === current.accessKeyId || id === previous.accessKeyId) continue;
        expect(account.key(id), `retired key ${id} was deleted`).toBeUndefined();
        expect(await whoAmI(account, key), `STS rejects retired key ${id}`).toBe('InvalidClientTokenId');
      }
    }
    expect(seen.size).toBe(4);
    expect(tracker.maxKeys()).toBe(2);
    expect(tracker.promotions.map((p) => p.verified)).toEqual([true, true, true]);
    expect(account.calls.count('CreateAccessKey')).toBe(3);
  });

  it('waits out a 20 s propagation delay within 1.2 x 20 + 1 s of virtual time', async () => {
    const account = newSim({ propagationDelayMs: 20_000 });
    const cfg = settings();
    const tracker = tracked(account, 'alice', cfg);
    const alice = await enrolledUser(account, { name: 'alice', owner: OWNER, rotationFunction: tracker.fn });
    account.calls.reset();
    const started = account.clock.nowMs();

    await rotateSecret(alice.secretArn);

    const elapsed = account.clock.nowMs() - started;
    expect(account.rotations()[0]).toMatchObject({ outcome: 'succeeded', attempts: 1 });
    expect(account.calls.count('GetCallerIdentity')).toBeGreaterThan(1);
    expect(elapsed).toBeGreaterThanOrEqual(20_000);
    expect(elapsed).toBeLessThan(1.2 * 20_000 + 1_000);
    await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
  });

  describe('idempotency (invariant 4)', () => {
    it.each([7, 0])(
      'converges when every step and every prefix of the sequence runs again with the same token (grace %i days)',
      async (grace) => {
        const account = newSim();
        const cfg = settings({ ROTATION_GRACE_DAYS: String(grace) });
        const run = (e: SimRotationEvent) => rotate(e, { config: cfg });
        const problems: string[] = [];
        // Assertions cannot run inside the function: Secrets Manager would catch them as a failed step.
        const twice: Inner = async (event) => {
          await run(event);
          const once = account.snapshot();
          await run(event);
          if (!isDeepStrictEqual(account.snapshot(), once)) problems.push(`${event.Step} run twice`);
          // Secrets Manager retries whole rotations from createSecret: replay the sequence so far.
          for (const Step of STEPS.slice(0, STEPS.indexOf(event.Step as (typeof STEPS)[number]) + 1)) {
            await run({ ...event, Step });
          }
          if (!isDeepStrictEqual(account.snapshot(), once)) problems.push(`replay up to ${event.Step}`);
        };
        const tracker = tracked(account, 'alice', cfg, twice);
        const alice = await enrolledUser(account, {
          name: 'alice',
          owner: OWNER,
          rotationFunction: tracker.fn,
        });

        await rotateSecret(alice.secretArn);

        expect(problems).toEqual([]);
        expect(account.rotations()[0]).toMatchObject({ outcome: 'succeeded', attempts: 1 });
        expect(account.calls.count('CreateAccessKey')).toBe(1);
        expect(account.keys('alice')).toHaveLength(2);
        expect(account.key(alice.key.accessKeyId)?.status).toBe(grace === 0 ? 'Inactive' : 'Active');

        // After Secrets Manager closed the rotation, the same events change nothing.
        const done = account.snapshot();
        for (const event of tracker.events.slice(0, 4)) await run(event);
        expect(account.snapshot()).toEqual(done);
        await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
      },
    );
  });

  describe('crash and Secrets Manager retry', () => {
    it.each([
      ['CreateAccessKey', 2],
      ['PutSecretValue', 1],
      ['UpdateSecretVersionStage', 1],
    ] as const)(
      'recovers from a crash right after %s took effect, with no orphan key',
      async (op, creates) => {
        const account = newSim();
        const cfg = settings();
        const tracker = tracked(account, 'alice', cfg);
        const alice = await enrolledUser(account, {
          name: 'alice',
          owner: OWNER,
          rotationFunction: tracker.fn,
        });
        account.calls.reset();
        account.crashAfterCall(op);

        const token = await rotateSecret(alice.secretArn);

        const [record] = account.rotations();
        expect(record).toMatchObject({ token, outcome: 'succeeded', attempts: 2 });
        expect(record?.errors).toHaveLength(1);
        expect(record?.errors[0]).toMatch(/^SimulatedCrash/);
        expect(account.calls.count('CreateAccessKey')).toBe(creates);
        // The key created before the crash was never stored: the retry deleted it, nothing else.
        expect(account.calls.count('DeleteAccessKey')).toBe(creates - 1);
        expect(account.calls.count('UpdateSecretVersionStage')).toBe(1);
        expect(account.versionWithStage(alice.secretArn, 'AWSCURRENT')).toBe(token);
        expect(account.keys('alice').map((k) => k.accessKeyId)).toEqual([
          alice.key.accessKeyId,
          keyPairAt(account, alice.secretArn, 'AWSCURRENT')?.accessKeyId,
        ]);
        expect(tracker.maxKeys()).toBe(2);
        await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
      },
    );

    it('still deactivates the previous key when the crash after UpdateSecretVersionStage had grace 0', async () => {
      const account = newSim();
      const cfg = settings({ ROTATION_GRACE_DAYS: '0' });
      const tracker = tracked(account, 'alice', cfg);
      const alice = await enrolledUser(account, {
        name: 'alice',
        owner: OWNER,
        rotationFunction: tracker.fn,
      });
      account.crashAfterCall('UpdateSecretVersionStage');

      await rotateSecret(alice.secretArn);

      expect(account.rotations()[0]).toMatchObject({ outcome: 'succeeded', attempts: 2 });
      expect(account.key(alice.key.accessKeyId)?.status).toBe('Inactive');
      expect(await whoAmI(account, alice.key)).toBe('InvalidClientTokenId');
      await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
    });

    it.each([
      ['DeleteAccessKey', '7'],
      ['CreateAccessKey', '7'],
      ['DeleteAccessKey', '0'],
      ['UpdateAccessKey', '0'],
    ] as const)('recovers from a crash after %s in a second rotation (grace %s days)', async (op, grace) => {
      const account = newSim();
      const cfg = settings({ ROTATION_GRACE_DAYS: grace });
      const tracker = tracked(account, 'alice', cfg);
      const alice = await enrolledUser(account, {
        name: 'alice',
        owner: OWNER,
        rotationFunction: tracker.fn,
      });
      await rotateSecret(alice.secretArn);
      const first = keyPairAt(account, alice.secretArn, 'AWSCURRENT');
      account.clock.advance(86_400_000);
      account.crashAfterCall(op);

      const token = await rotateSecret(alice.secretArn);

      expect(account.rotations()[1]).toMatchObject({ token, outcome: 'succeeded', attempts: 2 });
      expect(account.rotations()[1]?.errors[0]).toMatch(/^SimulatedCrash/);
      // The first rotation's previous key is gone; its new key is now AWSPREVIOUS.
      expect(account.key(alice.key.accessKeyId)).toBeUndefined();
      expect(keyPairAt(account, alice.secretArn, 'AWSPREVIOUS')?.accessKeyId).toBe(first?.accessKeyId);
      expect(account.key(first?.accessKeyId ?? '')?.status).toBe(grace === '0' ? 'Inactive' : 'Active');
      expect(tracker.maxKeys()).toBe(2);
      await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
    });
  });

  describe('a second key that is active, in use and not ours (invariant 5)', () => {
    it('refuses, deletes nothing, tells the owner, and rotates once the key is gone', async () => {
      const account = newSim();
      const topicArn = account.addTopic('iam-key-rotator');
      const ownerSub = account.addSubscription(topicArn, 'email', OWNER, {
        filterPolicy: { owner: [OWNER] },
      });
      account.addSubscription(topicArn, 'email', 'bob@example.com', {
        filterPolicy: { owner: ['bob@example.com'] },
      });
      account.addSubscription(topicArn, 'email', 'security@example.com', {
        filterPolicy: { audience: ['security'] },
      });
      const cfg = settings({ TOPIC_ARN: topicArn });
      const tracker = tracked(account, 'alice', cfg);
      const alice = await enrolledUser(account, {
        name: 'alice',
        owner: OWNER,
        rotationFunction: tracker.fn,
        otherKeys: [{ ageDays: 200, lastUsedDaysAgo: 2, lastUsedService: 's3' }],
      });
      const [blocking] = alice.otherKeyIds;
      const keysBefore = account.keys('alice');
      account.calls.reset();

      const token = await rotateSecret(alice.secretArn);

      const [record] = account.rotations();
      expect(record?.outcome).toBe('failed');
      expect(record?.errors.length).toBeGreaterThan(0);
      for (const error of record?.errors ?? []) {
        expect(error).toMatch(/^KeyInUseError: user alice has a second active key /);
        expect(error).toContain(`${blocking}`);
        expect(error).toContain('delete or deactivate it');
      }
      expect(account.keys('alice')).toEqual(keysBefore);
      expect(account.calls.count('CreateAccessKey')).toBe(0);
      expect(account.calls.count('DeleteAccessKey')).toBe(0);
      expect(account.calls.count('UpdateAccessKey')).toBe(0);
      expect(account.versionWithStage(alice.secretArn, 'AWSCURRENT')).toBe(alice.versionId);
      expect(keyPairAt(account, alice.secretArn, 'AWSCURRENT')?.accessKeyId).toBe(alice.key.accessKeyId);

      const told = account.deliveries(ownerSub);
      // One mail per attempt Secrets Manager made (it retries the whole rotation).
      expect(told.length).toBeGreaterThan(0);
      expect(told.length).toBeLessThanOrEqual(record?.attempts ?? 0);
      for (const mail of told) {
        expect(mail.attributes).toMatchObject({ owner: OWNER, severity: 'action' });
        expect(mail.message).toContain(`${blocking}`);
        expect(mail.message).toContain('IAM user alice');
      }
      expect(account.deliveries('bob@example.com')).toEqual([]);
      expect(account.deliveries('security@example.com')).toEqual([]);
      // The refused rotation is stuck on AWSPENDING until someone clears it.
      expect(account.versionWithStage(alice.secretArn, 'AWSPENDING')).toBe(token);

      // The owner follows the instructions of the mail: remove the key, clear the pending rotation, rotate.
      const instructions = told[0]?.message ?? '';
      expect(instructions).toContain(
        `update-secret-version-stage --secret-id ${alice.secretArn} --version-stage AWSPENDING --remove-from-version-id ${token}`,
      );
      await iam().send(new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: blocking }));
      // Rotating again without clearing is refused by Secrets Manager: the step is needed.
      await expect(rotateSecret(alice.secretArn)).rejects.toThrow("A previous rotation isn't complete");
      await sm().send(
        new UpdateSecretVersionStageCommand({
          SecretId: alice.secretArn,
          VersionStage: 'AWSPENDING',
          RemoveFromVersionId: token,
        }),
      );
      const next = await rotateSecret(alice.secretArn);

      expect(account.rotations()[1]).toMatchObject({ token: next, outcome: 'succeeded', attempts: 1 });
      expect(account.versionWithStage(alice.secretArn, 'AWSPREVIOUS')).toBe(alice.versionId);
      expect(account.key(alice.key.accessKeyId)?.status).toBe('Active');
      await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
    });
  });

  describe('unbound or mismatched secrets are refused with nothing changed', () => {
    type Break = (a: EnrolledUser, b: EnrolledUser) => Promise<unknown>;
    const cases: [string, Break, RegExp][] = [
      [
        'the secret has no user tag',
        (a) => sm().send(new UntagResourceCommand({ SecretId: a.secretArn, TagKeys: [USER_TAG] })),
        /^BindingError: secret \S+ has no tag iam-key-rotator:user, so it is not bound to user alice/,
      ],
      [
        "the user's tag names another secret",
        (a, b) =>
          iam().send(
            new TagUserCommand({ UserName: a.userName, Tags: [{ Key: SECRET_TAG, Value: b.secretArn }] }),
          ),
        /^BindingError: user alice is tagged iam-key-rotator:secret=\S+bob\S*, not secret \S+alice/,
      ],
      [
        "the secret's tag names another user",
        (a) =>
          sm().send(
            new TagResourceCommand({ SecretId: a.secretArn, Tags: [{ Key: USER_TAG, Value: 'bob' }] }),
          ),
        /^BindingError: secret \S+ is tagged iam-key-rotator:user=bob but its value is for user alice/,
      ],
      [
        "the secret's UserName differs from its tag",
        (a) =>
          sm().send(
            new UpdateSecretCommand({
              SecretId: a.secretArn,
              SecretString: JSON.stringify(secretValue('standard', 'bob', a.key)),
            }),
          ),
        /^BindingError: secret \S+ is tagged iam-key-rotator:user=alice but its value is for user bob/,
      ],
      [
        'the user was deleted',
        async (a) => {
          await iam().send(
            new DeleteAccessKeyCommand({ UserName: a.userName, AccessKeyId: a.key.accessKeyId }),
          );
          await iam().send(new DeleteUserCommand({ UserName: a.userName }));
        },
        /^BindingError: user alice does not exist \(named by secret \S+\); nothing was changed/,
      ],
    ];

    it.each(cases)('when %s', async (_name, breakBinding, refusal) => {
      const account = newSim();
      const topicArn = account.addTopic('iam-key-rotator');
      const cfg = settings({ TOPIC_ARN: topicArn });
      const tracker = tracked(account, 'alice', cfg);
      const alice = await enrolledUser(account, {
        name: 'alice',
        owner: OWNER,
        rotationFunction: tracker.fn,
      });
      const bob = await enrolledUser(account, { name: 'bob', owner: 'bob@example.com' });
      await breakBinding(alice, bob);
      const before = account.snapshot();
      account.calls.reset();

      const token = await rotateSecret(alice.secretArn);

      const [record] = account.rotations();
      expect(record?.outcome).toBe('failed');
      expect(record?.errors.length).toBeGreaterThan(0);
      for (const error of record?.errors ?? []) expect(error).toMatch(refusal);
      for (const error of record?.errors ?? []) expect(error).toContain('nothing was changed');
      for (const op of MUTATING) expect(account.calls.count(op), op).toBe(0);
      expect(account.published()).toEqual([]);
      // Apart from the AWSPENDING label Secrets Manager itself put on the token, nothing changed.
      expect(withoutStagedVersion(account.snapshot(), token)).toEqual(before);

      // Called directly, the first step refuses with the typed error before acting.
      const first = tracker.events[0];
      if (first === undefined) return expect.fail('the rotation function was not called');
      await expect(rotate(first, { config: cfg })).rejects.toBeInstanceOf(BindingError);
      expect(withoutStagedVersion(account.snapshot(), token)).toEqual(before);
    });
  });

  it('rotates a secret of the older shape {username, accesskey, secretkey} and keeps its other fields', async () => {
    const account = newSim();
    const cfg = settings();
    const tracker = tracked(account, 'alice', cfg);
    const extraFields = { host: 'db.internal.example', port: 5439, options: { ssl: true } };
    const alice = await enrolledUser(account, {
      name: 'alice',
      owner: OWNER,
      shape: 'legacy',
      extraFields,
      rotationFunction: tracker.fn,
    });
    const original = account.valueAt(alice.secretArn);

    await rotateSecret(alice.secretArn);

    expect(account.rotations()[0]?.outcome).toBe('succeeded');
    const current = keyPairAt(account, alice.secretArn, 'AWSCURRENT');
    expect(current?.shape).toBe('legacy');
    expect(current?.accessKeyId).not.toBe(alice.key.accessKeyId);
    expect(Object.keys(current?.fields ?? {})).toEqual([
      'username',
      'accesskey',
      'secretkey',
      'host',
      'port',
      'options',
    ]);
    expect(current?.fields).toMatchObject({ username: 'alice', ...extraFields });
    expect(account.valueAt(alice.secretArn, 'AWSPREVIOUS') === original).toBe(true);
    await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
  });

  describe('grace period of the previous key', () => {
    it('ROTATION_GRACE_DAYS=0 deactivates the previous key at finishSecret', async () => {
      const account = newSim();
      const cfg = settings({ ROTATION_GRACE_DAYS: '0' });
      const tracker = tracked(account, 'alice', cfg);
      const alice = await enrolledUser(account, {
        name: 'alice',
        owner: OWNER,
        rotationFunction: tracker.fn,
      });

      await rotateSecret(alice.secretArn);

      expect(account.rotations()[0]?.outcome).toBe('succeeded');
      expect(keyPairAt(account, alice.secretArn, 'AWSPREVIOUS')?.accessKeyId).toBe(alice.key.accessKeyId);
      expect(account.key(alice.key.accessKeyId)?.status).toBe('Inactive');
      expect(await whoAmI(account, alice.key)).toBe('InvalidClientTokenId');
      await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
    });

    it('the default grace leaves the previous key active as AWSPREVIOUS', async () => {
      const account = newSim();
      const cfg = settings();
      expect(cfg.rotationGraceDays).toBe(7);
      const tracker = tracked(account, 'alice', cfg);
      const alice = await enrolledUser(account, {
        name: 'alice',
        owner: OWNER,
        rotationFunction: tracker.fn,
      });

      await rotateSecret(alice.secretArn);

      expect(keyPairAt(account, alice.secretArn, 'AWSPREVIOUS')?.accessKeyId).toBe(alice.key.accessKeyId);
      expect(account.key(alice.key.accessKeyId)?.status).toBe('Active');
      expect(await whoAmI(account, alice.key)).toBe(alice.userArn);
      await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
    });
  });

  it('promotes nothing when the new key never authenticates within VERIFY_BUDGET_SECONDS, and stays stuck', async () => {
    const account = newSim({ propagationDelayMs: 600_000 });
    const cfg = settings({ VERIFY_BUDGET_SECONDS: '30' });
    const tracker = tracked(account, 'alice', cfg);
    const alice = await enrolledUser(account, { name: 'alice', owner: OWNER, rotationFunction: tracker.fn });
    const before = account.valueAt(alice.secretArn);
    account.calls.reset();
    const started = account.clock.nowMs();

    const token = await rotateSecret(alice.secretArn);

    const [record] = account.rotations();
    expect(record).toMatchObject({ outcome: 'failed', attempts: 3 });
    for (const error of record?.errors ?? []) {
      expect(error).toMatch(
        /^VerificationError: pending key AKIA\w+ of user alice did not authenticate within 30 s/,
      );
    }
    // Three attempts of at most 30 s each, plus Secrets Manager's 30 s and 60 s pauses between them.
    expect(account.clock.nowMs() - started).toBeLessThanOrEqual(3 * 30_000 + 90_000);
    expect(account.calls.count('GetCallerIdentity')).toBeGreaterThan(3);
    expect(account.versionWithStage(alice.secretArn, 'AWSCURRENT')).toBe(alice.versionId);
    expect(account.valueAt(alice.secretArn) === before).toBe(true);
    expect(tracker.promotions).toEqual([]);
    expect(tracker.events.filter((e) => e.Step === 'finishSecret')).toEqual([]);
    // Retried attempts reuse the stored pending key instead of minting more.
    expect(account.calls.count('CreateAccessKey')).toBe(1);
    expect(account.versionWithStage(alice.secretArn, 'AWSPENDING')).toBe(token);

    const refusal = await sm()
      .send(new RotateSecretCommand({ SecretId: alice.secretArn }))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(refusal).toBeInstanceOf(InvalidRequestException);
    expect((refusal as Error).message).toContain("previous rotation isn't complete");
    expect(account.rotations()).toHaveLength(1);
    await assertInvariants(account, alice, {
      tracker,
      initialKeyId: alice.key.accessKeyId,
      pendingAllowed: true,
    });

    // Once the label is cleared and the budget fits the delay, the next rotation works and removes
    // the never-used key of the stuck one.
    account.clock.advance(3_600_000);
    cfg.verifyBudgetSeconds = 840;
    const stuckKeyId = keyPairAt(account, alice.secretArn, 'AWSPENDING')?.accessKeyId;
    await sm().send(
      new UpdateSecretVersionStageCommand({
        SecretId: alice.secretArn,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: token,
      }),
    );
    await rotateSecret(alice.secretArn);
    expect(account.rotations()[1]?.outcome).toBe('succeeded');
    expect(account.key(stuckKeyId ?? '')).toBeUndefined();
    await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
  });

  it('rotates under account-wide IAM throttling (1 call/s) by backing off on the virtual clock', async () => {
    const account = newSim({ throttle: { iam: { ratePerSecond: 1, burst: 2 } } });
    const cfg = settings();
    const tracker = tracked(account, 'alice', cfg);
    const alice = await enrolledUser(account, { name: 'alice', owner: OWNER, rotationFunction: tracker.fn });
    account.calls.reset();

    await rotateSecret(alice.secretArn);

    expect(account.rotations()[0]).toMatchObject({ outcome: 'succeeded', attempts: 1 });
    expect(account.calls.failures().filter((c) => c.error === 'Throttling').length).toBeGreaterThan(0);
    expect(
      account.calls.count('CreateAccessKey', 'iam') -
        account.calls.failures().filter((c) => c.op === 'CreateAccessKey').length,
    ).toBe(1);
    await assertInvariants(account, alice, { tracker, initialKeyId: alice.key.accessKeyId });
  });

  it('writes no secret access key or RotationToken in any log line of this file', async () => {
    // Its own rotation with a success, a retry and a refusal, so the check never runs on nothing.
    const account = newSim();
    const topicArn = account.addTopic('iam-key-rotator');
    const cfg = settings({ TOPIC_ARN: topicArn });
    const tracker = tracked(account, 'alice', cfg);
    const alice = await enrolledUser(account, { name: 'alice', owner: OWNER, rotationFunction: tracker.fn });
    account.crashAfterCall('PutSecretValue');
    await rotateSecret(alice.secretArn);
    // Someone replaces the previous key by one of their own, in use: the next rotation is refused.
    await iam().send(new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: alice.key.accessKeyId }));
    account.addKey('alice', { lastUsedDaysAgo: 0 });
    await rotateSecret(alice.secretArn);
    expect(account.rotations().map((r) => r.outcome)).toEqual(['succeeded', 'failed']);
    for (const s of account.issuedSecrets()) secretMaterial.add(s);

    // The capture works: it holds the rotation's own lines, key ids included.
    const current = keyPairAt(account, alice.secretArn, 'AWSCURRENT');
    expect(captured.some((line) => line.includes('access key created'))).toBe(true);
    expect(captured.some((line) => line.includes(current?.accessKeyId ?? '-'))).toBe(true);
    expect(captured.some((line) => line.includes('KeyInUseError'))).toBe(true);
    expect(secretMaterial.size).toBeGreaterThan(4);
    expectNoSecretMaterial(captured, 'log lines');
  });
});
