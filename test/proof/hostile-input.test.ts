import {
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  TagUserCommand,
  UntagUserCommand,
} from '@aws-sdk/client-iam';
import {
  CancelRotateSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCredentialReport, REQUIRED_COLUMNS } from '../../src/audit/report.js';
import { runAudit } from '../../src/audit/run.js';
import { clients } from '../../src/aws/clients.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/output.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { enroll } from '../../src/enroll.js';
import { rotateNow } from '../../src/rotate-now.js';
import { rotate } from '../../src/rotation/index.js';
import { SECRET_TAG, USER_TAG } from '../../src/tags.js';
import { CREDENTIAL_REPORT_COLUMNS } from '../sim/index.js';
import { type Binding, enrollUser, figure, keyAt, type ProofAccount, proofAccount } from './harness.js';
import { collectAccount, LeakWatch } from './leaks.js';

/**
 * The hostile and malformed input catalogue. Each case builds its world, takes sim.snapshot(),
 * feeds the input, and asserts the exact error text (and class) and that the account is exactly
 * as it was: no key created, deleted or changed, no secret version or label moved, no tag, no
 * message (unless the case says a message is the point).
 */

const watch = new LeakWatch();
beforeAll(() => {
  watch.start();
});
afterAll(() => {
  watch.stop();
});

interface World {
  p: ProofAccount;
  alice: Binding;
  bob: Binding;
  /** Values a case's setup computed (tokens, ARNs, key ids) for its input and expected text. */
  v: Record<string, string>;
}

let current: World | undefined;
afterEach(() => {
  if (current) {
    collectAccount(watch, current.p);
    current.p.sim.restore();
  }
  current = undefined;
});

/** Two enrolled users; rotations are deferred, so a staged AWSPENDING stays put until asked. */
async function world(): Promise<World> {
  const p = proofAccount({ sim: { rotationMode: 'deferred' } });
  const alice = await enrollUser(p, 'alice', { owner: 'alice@example.com', ageDays: 50 });
  const bob = await enrollUser(p, 'bob', { owner: 'bob@example.com', ageDays: 50 });
  current = { p, alice, bob, v: {} };
  return current;
}

/** Starts a rotation whose steps never run: AWSPENDING (no value) staged with a fresh token. */
async function stagePending(w: World, b: Binding): Promise<string> {
  await clients().sm.send(new RotateSecretCommand({ SecretId: b.secretArn, RotateImmediately: true }));
  const token = w.p.sim.versionWithStage(b.secretArn, 'AWSPENDING');
  if (token === undefined) throw new Error('no AWSPENDING staged');
  return token;
}

/** A user bound to a secret holding `value` verbatim, with a rotation staged. */
async function boundRaw(
  w: World,
  userName: string,
  value: string,
  o: { secretTagUser?: string | null; userTag?: boolean } = {},
): Promise<{ arn: string; token: string }> {
  w.p.sim.addUser(userName, { tags: { owner: `${userName}@example.com` } });
  w.p.sim.addKey(userName, { ageDays: 20, lastUsedDaysAgo: 1 });
  const tagUser = o.secretTagUser === undefined ? userName : o.secretTagUser;
  const secret = w.p.sim.addSecret({
    name: `${w.p.cfg.secretPrefix}${userName}`,
    value,
    tags: tagUser === null ? {} : { [USER_TAG]: tagUser },
    rotationLambdaArn: w.p.rotationArn,
    rotationDays: 30,
  });
  if (o.userTag ?? true) {
    await clients().iam.send(
      new TagUserCommand({ UserName: userName, Tags: [{ Key: SECRET_TAG, Value: secret.arn }] }),
    );
  }
  const token = await stagePending(w, { userName, secretArn: secret.arn });
  return { arn: secret.arn, token };
}

const event = (Step: string, SecretId: string, ClientRequestToken: string, extra: object = {}) => ({
  Step,
  SecretId,
  ClientRequestToken,
  RotationToken: 'rotation-token-from-secrets-manager-0123456789abcdef',
  ...extra,
});

interface Case {
  name: string;
  /** Builds what the input needs (after the two-user world); values go in w.v. */
  setup?: (w: World) => Promise<void>;
  run: (w: World) => Promise<unknown>;
  /** The exact error message. */
  message: (w: World) => string;
  /** The error's class name. */
  type: string;
  /** When the point of the case is a message to someone: state other than SNS is unchanged. */
  notifies?: (w: World) => void;
}

const cfg = () => (current as World).p.cfg;
const run = (e: unknown) => rotate(e, { config: cfg() });
const value = (userName: string, accessKeyId: string, secret = 'x'.repeat(40)) =>
  JSON.stringify({ UserName: userName, AccessKeyId: accessKeyId, SecretAccessKey: secret });
const FORMAT = 'SecretFormatError';

const ROTATION_CASES: Case[] = [
  {
    name: 'event is null',
    run: () => run(null),
    message: () => 'rotation event must be an object with Step, SecretId and ClientRequestToken',
    type: 'RotationEventError',
  },
  {
    name: 'event is an array',
    run: () => run([{ Step: 'createSecret' }]),
    message: () => 'rotation event must be an object with Step, SecretId and ClientRequestToken',
    type: 'RotationEventError',
  },
  {
    name: 'event is a string',
    run: () => run('createSecret'),
    message: () => 'rotation event must be an object with Step, SecretId and ClientRequestToken',
    type: 'RotationEventError',
  },
  {
    name: 'Step missing',
    run: (w) => run({ SecretId: w.alice.secretArn, ClientRequestToken: 't' }),
    message: () =>
      'rotation event field Step must be one of createSecret, setSecret, testSecret, finishSecret (missing)',
    type: 'RotationEventError',
  },
  {
    name: 'unknown Step',
    run: (w) => run(event('deleteSecret', w.alice.secretArn, 't')),
    message: () =>
      'rotation event field Step must be one of createSecret, setSecret, testSecret, finishSecret (got "deleteSecret")',
    type: 'RotationEventError',
  },
  {
    name: 'SecretId missing',
    run: () => run({ Step: 'createSecret', ClientRequestToken: 't' }),
    message: () => 'rotation event field SecretId must be a non-empty string (missing)',
    type: 'RotationEventError',
  },
  {
    name: 'SecretId is a number',
    run: () => run({ Step: 'createSecret', SecretId: 42, ClientRequestToken: 't' }),
    message: () => 'rotation event field SecretId must be a non-empty string',
    type: 'RotationEventError',
  },
  {
    name: 'ClientRequestToken blank',
    run: (w) => run(event('createSecret', w.alice.secretArn, '   ')),
    message: () => 'rotation event field ClientRequestToken must be a non-empty string',
    type: 'RotationEventError',
  },
  {
    name: 'RotationToken not a string (and not echoed)',
    run: (w) => run(event('createSecret', w.alice.secretArn, 't', { RotationToken: 12345 })),
    message: () => 'rotation event field RotationToken must be a non-empty string when present',
    type: 'RotationEventError',
  },
  {
    name: 'token not staged on the secret',
    run: (w) => run(event('createSecret', w.alice.secretArn, 'aaaaaaaa-0000-4000-8000-000000000000')),
    message: (w) =>
      `version aaaaaaaa-0000-4000-8000-000000000000 is not staged for rotation of secret ${w.alice.secretArn}`,
    type: 'RotatorError',
  },
  {
    name: "token of another secret's rotation",
    setup: async (w) => {
      w.v.bobToken = await stagePending(w, w.bob);
    },
    run: (w) => run(event('createSecret', w.alice.secretArn, w.v.bobToken as string)),
    message: (w) => `version ${w.v.bobToken} is not staged for rotation of secret ${w.alice.secretArn}`,
    type: 'RotatorError',
  },
  {
    name: 'token of a version that is AWSPREVIOUS, not AWSPENDING',
    setup: async (w) => {
      w.v.old = w.p.sim.versionWithStage(w.alice.secretArn, 'AWSCURRENT') as string;
      await stagePending(w, w.alice);
      await w.p.sim.runPendingRotations();
    },
    run: (w) => run(event('createSecret', w.alice.secretArn, w.v.old as string)),
    message: (w) =>
      `version ${w.v.old} of secret ${w.alice.secretArn} is not AWSPENDING (stages: AWSPREVIOUS); it is not the version being rotated in`,
    type: 'RotatorError',
  },
  {
    name: 'secret that does not exist',
    run: () => run(event('createSecret', 'iam-key-rotator/nobody', 't')),
    message: () => "Secrets Manager can't find the specified secret.",
    type: 'ResourceNotFoundException',
  },
  {
    name: 'rotation disabled on the secret',
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      await clients().sm.send(new CancelRotateSecretCommand({ SecretId: w.alice.secretArn }));
    },
    run: (w) => run(event('createSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) => `rotation is not enabled for secret ${w.alice.secretArn}`,
    type: 'RotatorError',
  },
  ...(
    [
      ['not JSON', '{"UserName": "carol", ', 'secret value is not valid JSON'],
      ['a JSON array', '["carol"]', 'secret value is not a JSON object'],
      ['a JSON string', '"carol"', 'secret value is not a JSON object'],
      [
        'missing SecretAccessKey',
        JSON.stringify({ UserName: 'carol', AccessKeyId: 'AKIAABCDEFGHIJKLMNOP' }),
        'secret value has no field SecretAccessKey',
      ],
      [
        'an empty UserName',
        JSON.stringify({ UserName: ' ', AccessKeyId: 'AKIAABCDEFGHIJKLMNOP', SecretAccessKey: 's' }),
        'secret value field UserName is empty',
      ],
      [
        'a SecretAccessKey that is a number',
        JSON.stringify({ UserName: 'carol', AccessKeyId: 'AKIAABCDEFGHIJKLMNOP', SecretAccessKey: 7 }),
        'secret value field SecretAccessKey is not a string',
      ],
      [
        'an AccessKeyId that is not one',
        JSON.stringify({ UserName: 'carol', AccessKeyId: 'ASIA-temporary', SecretAccessKey: 's' }),
        'secret value field AccessKeyId is not an IAM access key id (expected AKIA followed by upper-case letters and digits)',
      ],
      [
        'a UserName IAM would not allow',
        JSON.stringify({
          UserName: 'carol smith',
          AccessKeyId: 'AKIAABCDEFGHIJKLMNOP',
          SecretAccessKey: 's',
        }),
        'secret value field UserName is not a valid IAM user name',
      ],
      [
        'both shapes mixed',
        JSON.stringify({ UserName: 'carol', accesskey: 'AKIAABCDEFGHIJKLMNOP', SecretAccessKey: 's' }),
        'secret value mixes the standard fields (UserName, AccessKeyId, SecretAccessKey) with the older ones (username, accesskey, secretkey); keep one shape so the rotator knows which key to replace',
      ],
      [
        'neither shape',
        JSON.stringify({ user: 'carol', key: 'AKIAABCDEFGHIJKLMNOP', secret: 's' }),
        'secret value has neither the standard fields (UserName, AccessKeyId, SecretAccessKey) nor the older ones (username, accesskey, secretkey)',
      ],
    ] as const
  ).map(
    ([what, raw, text]): Case => ({
      name: `AWSCURRENT value is ${what}`,
      setup: async (w) => {
        const s = await boundRaw(w, 'carol', raw);
        w.v.arn = s.arn;
        w.v.token = s.token;
      },
      run: (w) => run(event('createSecret', w.v.arn as string, w.v.token as string)),
      message: (w) => `AWSCURRENT value of secret ${w.v.arn}: ${text}`,
      type: FORMAT,
    }),
  ),
  {
    name: "confused deputy: a secret tagged for mallory rewritten to name alice (alice's key would be replaced)",
    setup: async (w) => {
      const aliceKey = keyAt(w.p, w.alice.secretArn)?.accessKeyId as string;
      const s = await boundRaw(w, 'mallory', value('alice', aliceKey));
      w.v.arn = s.arn;
      w.v.token = s.token;
    },
    run: (w) => run(event('createSecret', w.v.arn as string, w.v.token as string)),
    message: (w) =>
      `secret ${w.v.arn} is tagged ${USER_TAG}=mallory but its value is for user alice; nothing was changed`,
    type: 'BindingError',
  },
  {
    name: 'confused deputy: a second secret tagged and valued for alice, not the one alice is bound to',
    setup: async (w) => {
      const aliceKey = keyAt(w.p, w.alice.secretArn)?.accessKeyId as string;
      const rogue = w.p.sim.addSecret({
        name: 'iam-key-rotator/alice-copy',
        value: value('alice', aliceKey),
        tags: { [USER_TAG]: 'alice' },
        rotationLambdaArn: w.p.rotationArn,
        rotationDays: 30,
      });
      w.v.arn = rogue.arn;
      w.v.token = await stagePending(w, { userName: 'alice', secretArn: rogue.arn });
    },
    run: (w) => run(event('createSecret', w.v.arn as string, w.v.token as string)),
    message: (w) =>
      `user alice is tagged ${SECRET_TAG}=${w.alice.secretArn}, not secret ${w.v.arn}; nothing was changed`,
    type: 'BindingError',
  },
  {
    name: 'secret without the user tag',
    setup: async (w) => {
      const s = await boundRaw(w, 'carol', value('carol', 'AKIAABCDEFGHIJKLMNOP'), { secretTagUser: null });
      w.v.arn = s.arn;
      w.v.token = s.token;
    },
    run: (w) => run(event('createSecret', w.v.arn as string, w.v.token as string)),
    message: (w) =>
      `secret ${w.v.arn} has no tag ${USER_TAG}, so it is not bound to user carol named in its value; nothing was changed`,
    type: 'BindingError',
  },
  {
    name: 'user without the secret tag',
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      await clients().iam.send(new UntagUserCommand({ UserName: 'alice', TagKeys: [SECRET_TAG] }));
    },
    run: (w) => run(event('createSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) =>
      `user alice has no tag ${SECRET_TAG}, so it is not bound to secret ${w.alice.secretArn}; nothing was changed`,
    type: 'BindingError',
  },
  {
    name: 'bound user deleted',
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      for (const k of w.p.sim.keys('alice')) {
        await clients().iam.send(
          new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: k.accessKeyId }),
        );
      }
      await clients().iam.send(new UntagUserCommand({ UserName: 'alice', TagKeys: [SECRET_TAG, 'owner'] }));
      await clients().iam.send(new DeleteUserCommand({ UserName: 'alice' }));
    },
    run: (w) => run(event('createSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) => `user alice does not exist (named by secret ${w.alice.secretArn}); nothing was changed`,
    type: 'BindingError',
  },
  {
    name: "pending value naming another user (bob's key staged into alice's rotation)",
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      await clients().sm.send(
        new PutSecretValueCommand({
          SecretId: w.alice.secretArn,
          ClientRequestToken: w.v.token,
          SecretString: w.p.sim.valueAt(w.bob.secretArn) as string,
          VersionStages: ['AWSPENDING'],
        }),
      );
    },
    run: (w) => run(event('testSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) =>
      `version ${w.v.token} of secret ${w.alice.secretArn} is for user bob, but the secret is bound to user alice; nothing was changed`,
    type: 'BindingError',
  },
  {
    name: 'pending value naming a key the user does not have',
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      await clients().sm.send(
        new PutSecretValueCommand({
          SecretId: w.alice.secretArn,
          ClientRequestToken: w.v.token,
          SecretString: value('alice', 'AKIAZZZZZZZZZZZZZZZZ'),
          VersionStages: ['AWSPENDING'],
        }),
      );
    },
    run: (w) => run(event('setSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) =>
      `pending key AKIAZZZZZZZZZZZZZZZZ in version ${w.v.token} of secret ${w.alice.secretArn} does not exist for user alice; remove the AWSPENDING label from that version and rotate again`,
    type: 'RotatorError',
  },
  {
    name: 'pending value with a secret that does not match its key',
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      const second = w.p.sim.addKey('alice', { ageDays: 1, lastUsedDaysAgo: null });
      w.v.key = second.accessKeyId;
      await clients().sm.send(
        new PutSecretValueCommand({
          SecretId: w.alice.secretArn,
          ClientRequestToken: w.v.token,
          SecretString: value('alice', second.accessKeyId, 'wrong-secret-wrong-secret-wrong-secret-0'),
          VersionStages: ['AWSPENDING'],
        }),
      );
    },
    run: (w) => run(event('testSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) =>
      `pending key ${w.v.key} was rejected with SignatureDoesNotMatch: the secret access key stored in version ${w.v.token} of secret ${w.alice.secretArn} does not belong to it; not retrying`,
    type: 'VerificationError',
  },
  {
    name: 'a second active key in use that the secret does not manage: refused, owner told',
    setup: async (w) => {
      w.v.token = await stagePending(w, w.alice);
      const other = w.p.sim.addKey('alice', { ageDays: 5, lastUsedDaysAgo: 0 });
      w.v.key = other.accessKeyId;
      w.v.used = w.p.sim.key(other.accessKeyId)?.lastUsed?.toISOString() ?? 'never';
    },
    run: (w) => run(event('createSecret', w.alice.secretArn, w.v.token as string)),
    message: (w) =>
      `user alice has a second active key ${w.v.key} last used ${w.v.used} that is not managed by secret ${w.alice.secretArn}; delete or deactivate it, then remove AWSPENDING from version ${w.v.token} (the audit does so after STUCK_ROTATION_HOURS) and rotate again`,
    type: 'KeyInUseError',
    notifies: (w) => {
      const sent = w.p.sim.published();
      expect(sent).toHaveLength(1);
      expect(sent[0]?.attributes).toMatchObject({ owner: 'alice@example.com', severity: 'action' });
      expect(sent[0]?.message).toContain(w.v.key as string);
    },
  },
];

const ROTATE_NOW_CASES: Case[] = [
  {
    name: 'rotate-now: empty request',
    run: () => rotateNow({}),
    message: () => 'invalid rotate-now request: give exactly one of userName or secretId',
    type: 'RotationEventError',
  },
  {
    name: 'rotate-now: both userName and secretId',
    run: (w) => rotateNow({ userName: 'alice', secretId: w.bob.secretArn }),
    message: () => 'invalid rotate-now request: give exactly one of userName or secretId',
    type: 'RotationEventError',
  },
  {
    name: 'rotate-now: user name with a space',
    run: () => rotateNow({ userName: 'alice smith' }),
    message: () =>
      'invalid rotate-now request: userName: userName must be an IAM user name (1-64 of A-Z a-z 0-9 +=,.@_-)',
    type: 'RotationEventError',
  },
  {
    name: 'rotate-now: unknown field',
    run: () => rotateNow({ userName: 'alice', force: true }),
    message: () => 'invalid rotate-now request: unknown field(s) force',
    type: 'RotationEventError',
  },
  {
    name: 'rotate-now: timeout out of range',
    run: () => rotateNow({ userName: 'alice', wait: true, timeoutSeconds: 0 }),
    message: () => 'invalid rotate-now request: timeoutSeconds: timeoutSeconds must be at least 1',
    type: 'RotationEventError',
  },
  {
    name: 'rotate-now: user that does not exist',
    run: () => rotateNow({ userName: 'ghost' }),
    message: () => 'IAM user ghost does not exist',
    type: 'UnknownUserError',
  },
  {
    name: 'rotate-now: user not enrolled',
    setup: async (w) => {
      w.p.sim.addUser('dave');
    },
    run: () => rotateNow({ userName: 'dave' }),
    message: () =>
      `user dave is not enrolled: it has no ${SECRET_TAG} tag (enroll it with: iam-key-rotator enroll dave --owner <email>)`,
    type: 'NotEnrolledError',
  },
  {
    name: "rotate-now: confused deputy, mallory's tag names alice's secret",
    setup: async (w) => {
      w.p.sim.addUser('mallory', { tags: { [SECRET_TAG]: w.alice.secretArn } });
    },
    run: () => rotateNow({ userName: 'mallory' }),
    message: (w) => `user mallory names secret ${w.alice.secretArn}, but that secret is bound to user alice`,
    type: 'BindingError',
  },
  {
    name: "rotate-now: confused deputy, a secret claiming alice that alice's tag does not name",
    setup: async (w) => {
      const rogue = w.p.sim.addSecret({
        name: 'iam-key-rotator/alice-copy',
        value: w.p.sim.valueAt(w.alice.secretArn) as string,
        tags: { [USER_TAG]: 'alice' },
        rotationLambdaArn: w.p.rotationArn,
        rotationDays: 30,
      });
      w.v.arn = rogue.arn;
    },
    run: (w) => rotateNow({ secretId: w.v.arn }),
    message: (w) =>
      `secret ${w.v.arn} names user alice, but the user's ${SECRET_TAG} tag is "${w.alice.secretArn}"`,
    type: 'BindingError',
  },
  {
    name: 'rotate-now: secret whose user tag was removed',
    setup: async (w) => {
      await clients().sm.send(new UntagResourceCommand({ SecretId: w.alice.secretArn, TagKeys: [USER_TAG] }));
    },
    run: () => rotateNow({ userName: 'alice' }),
    message: (w) => `secret ${w.alice.secretArn} is not bound to a user: it has no ${USER_TAG} tag`,
    type: 'NotEnrolledError',
  },
  {
    name: 'rotate-now: rotation disabled',
    setup: async (w) => {
      await clients().sm.send(new CancelRotateSecretCommand({ SecretId: w.alice.secretArn }));
    },
    run: () => rotateNow({ userName: 'alice' }),
    message: (w) =>
      `rotation is not enabled for secret ${w.alice.secretArn}; enroll user alice again to attach the rotation function`,
    type: 'RotationNotEnabledError',
  },
  {
    name: 'enroll: owner that is not an email',
    run: (w) =>
      enroll({ userName: 'alice', owner: 'alice at example', rotationLambdaArn: w.p.rotationArn }, w.p.cfg),
    message: () => 'owner must be an email address (got "alice at example")',
    type: 'EnrollInputError',
  },
  {
    name: 'enroll: rotation function that is not a Lambda ARN',
    run: (w) => enroll({ userName: 'alice', owner: 'a@example.com', rotationLambdaArn: 'rotation' }, w.p.cfg),
    message: () => 'rotation function must be a Lambda function ARN (got "rotation")',
    type: 'EnrollInputError',
  },
];

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const nameOf = (err: unknown) => (err instanceof Error ? err.name : typeof err);

let cases = 0;

async function check(c: Case): Promise<void> {
  const w = await world();
  await c.setup?.(w);
  // What the setup did as the operator is not the code under test.
  w.p.violations.length = 0;
  const before = w.p.sim.snapshot() as Record<string, unknown>;
  const outcome = await c.run(w).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  watch.add(`hostile.${c.name}`, outcome);
  if (!('error' in outcome)) throw new Error(`expected an error, got ${JSON.stringify(outcome.value)}`);
  expect(messageOf(outcome.error)).toBe(c.message(w));
  expect(nameOf(outcome.error)).toBe(c.type);
  const after = w.p.sim.snapshot() as Record<string, unknown>;
  if (c.notifies) {
    c.notifies(w);
    expect({ ...after, published: [], deliveries: [] }).toEqual({ ...before, published: [], deliveries: [] });
  } else {
    expect(after).toEqual(before);
  }
  expect(w.p.violations).toEqual([]);
  cases++;
}

describe('hostile rotation events, secrets and bindings', () => {
  for (const c of ROTATION_CASES) it(c.name, () => check(c));
});

describe('hostile rotate-now and enroll requests', () => {
  for (const c of ROTATE_NOW_CASES) it(c.name, () => check(c));
});

describe('bad settings: each variable fails start-up with an error naming it', () => {
  const SETTINGS: [Record<string, string>, string][] = [
    [
      { MAX_KEY_AGE_DAYS: 'ninety' },
      'Invalid setting MAX_KEY_AGE_DAYS: must be a whole number of days (got "ninety")',
    ],
    [{ MAX_KEY_AGE_DAYS: '0' }, 'Invalid setting MAX_KEY_AGE_DAYS: must be at least 1 day (got "0")'],
    [
      { WARN_BEFORE_DAYS: '-3' },
      'Invalid setting WARN_BEFORE_DAYS: must be a whole number of days (got "-3")',
    ],
    [
      { WARN_BEFORE_DAYS: '90' },
      'Invalid setting WARN_BEFORE_DAYS: must be smaller than MAX_KEY_AGE_DAYS (90) (got "90")',
    ],
    [
      { ROTATION_GRACE_DAYS: '95' },
      'Invalid setting ROTATION_GRACE_DAYS: must be smaller than MAX_KEY_AGE_DAYS (90), or no key could stay inside the policy (got "95")',
    ],
    [{ UNUSED_KEY_DAYS: '4000' }, 'Invalid setting UNUSED_KEY_DAYS: must be at most 3650 days (got "4000")'],
    [{ ENFORCE: 'nuke' }, 'Invalid setting ENFORCE: must be one of notify, disable, delete (got "nuke")'],
    [{ DRY_RUN: 'yes' }, 'Invalid setting DRY_RUN: must be "true" or "false" (got "yes")'],
    [
      { OWNER_TAG_KEY: 'owner tag!' },
      'Invalid setting OWNER_TAG_KEY: must be a valid IAM tag key (1-128 characters) (got "owner tag!")',
    ],
    [
      { SECRET_PREFIX: 'keys/*' },
      'Invalid setting SECRET_PREFIX: may contain only letters, digits and /_+=.@- (got "keys/*")',
    ],
    [{ TOPIC_ARN: 'alerts' }, 'Invalid setting TOPIC_ARN: must be an SNS topic ARN (got "alerts")'],
    [
      { VERIFY_BUDGET_SECONDS: '900' },
      'Invalid setting VERIFY_BUDGET_SECONDS: must be at most 840 seconds (got "900")',
    ],
    [
      { STUCK_ROTATION_HOURS: '0' },
      'Invalid setting STUCK_ROTATION_HOURS: must be at least 1 hour (got "0")',
    ],
    [
      { CREATE_OWNER_SUBSCRIPTIONS: 'on' },
      'Invalid setting CREATE_OWNER_SUBSCRIPTIONS: must be "true" or "false" (got "on")',
    ],
    [
      { AWS_REGION: 'US East' },
      'Invalid setting AWS_REGION: must be an AWS region name such as us-east-1 (got "US East")',
    ],
  ];
  for (const [env, text] of SETTINGS) {
    it(`${Object.keys(env)[0]}=${JSON.stringify(Object.values(env)[0])}`, async () => {
      const w = await world();
      const before = w.p.sim.snapshot();
      let err: unknown;
      try {
        loadConfig({ ...env });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect(messageOf(err)).toBe(text);
      expect((err as ConfigError).variable).toBe(Object.keys(env)[0]);
      expect(w.p.sim.snapshot()).toEqual(before);
      cases++;
    });
  }

  it('a Lambda cold start with a bad variable fails before any AWS call', async () => {
    const w = await world();
    const before = w.p.sim.snapshot();
    const calls = w.p.sim.calls.count();
    vi.resetModules();
    vi.stubEnv('ENFORCE', 'nuke');
    try {
      await expect(import('../../handlers/rotation.js')).rejects.toThrow(
        'Invalid setting ENFORCE: must be one of notify, disable, delete (got "nuke")',
      );
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
    expect(w.p.sim.calls.count()).toBe(calls);
    expect(w.p.sim.snapshot()).toEqual(before);
    cases++;
  });
});

/** A credential report with every column AWS documents, from rows of values by column name. */
function report(
  rows: Record<string, string>[],
  columns: readonly string[] = CREDENTIAL_REPORT_COLUMNS,
): string {
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const na: Record<string, string> = Object.fromEntries(columns.map((c) => [c, 'N/A']));
  return [
    columns.join(','),
    ...rows.map((r) => columns.map((c) => quote({ ...na, ...r }[c] ?? '')).join(',')),
  ].join('\n');
}

describe('hostile credential reports', () => {
  const REPORT_ERRORS: [string, string, string][] = [
    ['empty', '', 'credential report is empty'],
    ['header only of unknown columns', 'name,created\nalice,2026-01-01', ''],
    ['unterminated quote', `${CREDENTIAL_REPORT_COLUMNS.join(',')}\n"alice,`, ''],
    [
      'a key creation time that is not a timestamp',
      report([{ user: 'alice', access_key_1_active: 'true', access_key_1_last_rotated: 'yesterday' }]),
      'credential report row for user "alice": access_key_1_last_rotated is not a timestamp ("yesterday")',
    ],
  ];
  const expected: Record<string, string> = {
    'header only of unknown columns': `credential report is missing columns ${REQUIRED_COLUMNS.join(', ')}`,
    'unterminated quote':
      'credential report is not valid CSV: Quote Not Closed: the parsing is finished with an opening quote at line 2',
  };
  for (const [name, csv, text] of REPORT_ERRORS) {
    it(`refused: ${name}`, () => {
      let err: unknown;
      try {
        parseCredentialReport(csv);
      } catch (e) {
        err = e;
      }
      expect(nameOf(err)).toBe('CredentialReportFormatError');
      expect(messageOf(err)).toBe(text || expected[name]);
      cases++;
    });
  }

  it('read: N/A, not_supported, no_information and empty values, unexpected and reordered columns', () => {
    const columns = ['surprise_column', ...[...CREDENTIAL_REPORT_COLUMNS].reverse()];
    const rows = parseCredentialReport(
      report(
        [
          {
            user: '<root_account>',
            password_enabled: 'not_supported',
            mfa_active: 'true',
            surprise_column: 'x',
          },
          {
            user: 'a,b+c=d.e@f_g-h',
            arn: 'arn:aws:iam::123456789012:user/a,b+c=d.e@f_g-h',
            password_enabled: 'false',
            password_last_used: 'no_information',
            access_key_1_active: 'true',
            access_key_1_last_rotated: '2026-01-02T03:04:05+00:00',
            access_key_1_last_used_date: '',
            access_key_1_last_used_service: 'N/A',
            access_key_2_active: 'false',
            access_key_2_last_rotated: 'N/A',
          },
        ],
        columns,
      ),
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ user: '<root_account>', isRoot: true, passwordEnabled: null, keys: [] });
    expect(rows[1]).toMatchObject({
      user: 'a,b+c=d.e@f_g-h',
      isRoot: false,
      passwordEnabled: false,
      passwordLastUsed: null,
      keys: [
        {
          slot: 1,
          active: true,
          lastRotated: new Date('2026-01-02T03:04:05Z'),
          lastUsed: null,
          lastUsedService: null,
        },
      ],
    });
    cases++;
  });

  it('through the audit: user names with ,+=.@_- and an owner tag that is not an email change nothing in a dry run', async () => {
    const w = await world();
    const names = ['svc,reports', 'ci+deploy=prod', 'first.last@example', 'under_score-dash'];
    for (const n of names) {
      w.p.sim.addUser(n, { tags: { owner: 'not an email' } });
      w.p.sim.addKey(n, { ageDays: 95, lastUsedDaysAgo: 3 });
    }
    const before = w.p.sim.snapshot();
    const { summary, findings, messages } = await runAudit({ cfg: w.p.cfg, dryRun: true });
    watch.add('hostile.audit', { summary, messages });
    for (const n of names) {
      const f = findings.find((u) => u.userName === n);
      expect(f?.keys).toHaveLength(1);
      expect(f?.owner).toBeUndefined();
      expect(f?.ownerInvalid).toBe('not an email');
    }
    // No mail is addressed to the bad owner value; the security summary names each such user.
    expect(messages.filter((m) => m.attributes.owner === 'not an email')).toHaveLength(0);
    const security = messages
      .filter((m) => m.recipient === 'security')
      .map((m) => m.body)
      .join('\n');
    for (const n of names) expect(security).toContain(`  ${n}: "not an email"`);
    expect(w.p.sim.snapshot()).toEqual(before);
    cases++;
  });
});

describe('a digest too large for one SNS message', () => {
  it('is split into parts under 256 KB and no key is dropped', async () => {
    const w = await world();
    const owner = 'platform-team@example.com';
    w.p.sim.addSubscription(w.p.topicArn, 'email', owner, { filterPolicy: { owner: [owner] } });
    const names = Array.from(
      { length: 900 },
      (_, i) => `svc-${String(i).padStart(4, '0')}-reporting-pipeline`,
    );
    for (const n of names) {
      w.p.sim.addUser(n, { tags: { owner } });
      // Day 90: the day the owner is told (reminders follow a cadence, not every day).
      w.p.sim.addKey(n, { ageDays: 90, lastUsedDaysAgo: 1 });
    }
    const keysBefore = (w.p.sim.snapshot() as { keys: unknown }).keys;
    const { summary } = await runAudit({ cfg: w.p.cfg });
    watch.add('hostile.digest', summary);
    const parts = w.p.sim.deliveries(owner);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      const bytes = Buffer.byteLength(part.message) + Buffer.byteLength(part.subject ?? '');
      expect(bytes).toBeLessThanOrEqual(262_144);
      expect(part.attributes.owner).toBe(owner);
    }
    const body = parts.map((d) => d.message).join('\n');
    const missing = names.filter((n) => !body.includes(`IAM user ${n}\n`));
    expect(missing).toEqual([]);
    expect(summary.failures).toEqual([]);
    expect((w.p.sim.snapshot() as { keys: unknown }).keys).toEqual(keysBefore);
    figure(`hostile digest: ${names.length} keys of one owner in ${parts.length} SNS messages, 0 dropped`);
    cases++;
  });
});

function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, isTty: false, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

describe('CLI usage errors', () => {
  const USAGE: [string[], number, string, Record<string, string>?][] = [
    [[], 2, 'error: no command given'],
    [
      ['frobnicate'],
      2,
      'error: unknown command "frobnicate" (commands: audit, status, rotate, enroll, unenroll)',
    ],
    [['rotate'], 2, 'error: missing argument: iam-key-rotator rotate <user> [--wait] [--timeout <seconds>]'],
    [['rotate', 'alice', 'bob'], 2, 'error: unexpected argument "bob"'],
    [['audit', '--bogus'], 2, 'error: unknown option --bogus'],
    [
      ['rotate', 'alice', '--wait', '--timeout', 'soon'],
      2,
      'error: --timeout must be a whole number from 1 to 840 (got "soon")',
    ],
    [['--region', 'Mars', 'status'], 2, 'error: --region "Mars" is not an AWS region name (e.g. eu-west-1)'],
    [
      ['status'],
      2,
      'error: Invalid setting ENFORCE: must be one of notify, disable, delete (got "nuke")',
      { ENFORCE: 'nuke' },
    ],
    [
      ['enroll', 'bad name!', '--owner', 'x@example.com'],
      2,
      'error: user name must be an IAM user name (1-64 of A-Z a-z 0-9 +=,.@_-)',
    ],
    [['rotate', 'ghost'], 1, 'error: IAM user ghost does not exist'],
  ];
  for (const [argv, code, line, env] of USAGE) {
    it(`iam-key-rotator ${argv.join(' ')} -> exit ${code}`, async () => {
      const w = await world();
      const before = w.p.sim.snapshot();
      const io = captureIo();
      const exit = await main(argv, io, {
        env: { TOPIC_ARN: w.p.topicArn, ...env },
        configureClients: () => {},
      });
      watch.add('cli.stdout', io.stdout.join(''));
      watch.add('cli.stderr', io.stderr.join(''));
      expect(exit).toBe(code);
      expect(io.stderr.join('').split('\n')).toContain(line);
      expect(w.p.sim.snapshot()).toEqual(before);
      cases++;
    });
  }

  it('--json puts the error on stdout as one JSON document', async () => {
    const w = await world();
    const io = captureIo();
    const exit = await main(['--json', 'rotate'], io, { env: {}, configureClients: () => {} });
    expect(exit).toBe(2);
    expect(JSON.parse(io.stdout.join(''))).toEqual({
      error: {
        type: 'UsageError',
        message: 'missing argument: iam-key-rotator rotate <user> [--wait] [--timeout <seconds>]',
        exitCode: 2,
      },
    });
    expect(w.p.sim.calls.count('RotateSecret')).toBe(0);
    cases++;
  });
});

describe('the catalogue', () => {
  it('has at least 30 cases, none of which changed the account or leaked a secret', () => {
    figure(`hostile input: ${cases} cases, each with its exact error text and the account unchanged`);
    expect(cases).toBeGreaterThanOrEqual(30);
    figure(watch.summary('hostile-input'));
    expect(watch.scan()).toEqual([]);
  });
});
