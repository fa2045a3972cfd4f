import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/run.js';
import { rotateNow } from '../../src/rotate-now.js';
import {
  daysLater,
  enrollUser,
  figure,
  invoke,
  type ProofAccount,
  proofAccount,
  type SeenCall,
} from './harness.js';
import { collectAccount, LeakWatch } from './leaks.js';
import { auditWorld, rotateSecret } from './worlds.js';

/**
 * Invariant 7 on the deployable artefact: `serverless package` (offline, no AWS credentials) and
 * the CloudFormation it writes. Each function's role is checked statement by statement, and every
 * AWS call the code makes in simulated rotation, audit and rotate-now runs is evaluated against
 * the role of the function that makes it (action, resource ARN and the binding-tag condition).
 */

type Json = Record<string, unknown>;

const ROOT = resolve(import.meta.dirname, '../..');
let dir = '';
let template: Json = {};
let resources: Record<string, Json> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iam-key-rotator-package-'));
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete env[k];
  await promisify(execFile)('npx', ['serverless', 'package', '--stage', 'proof', '--package', dir], {
    cwd: ROOT,
    env,
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  template = JSON.parse(
    await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Json;
  resources = template.Resources as Record<string, Json>;
}, 300_000);

const watch = new LeakWatch();
afterAll(async () => {
  watch.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const props = (r: Json | undefined) => (r?.Properties ?? {}) as Json;

/** Evaluates the template's Conditions (only Fn::Equals / Fn::Not over literals are used). */
function condition(name: string): boolean {
  const c = (template.Conditions as Json)[name] as Json;
  const evaluate = (e: Json): boolean => {
    if ('Fn::Equals' in e) {
      const [a, b] = e['Fn::Equals'] as unknown[];
      return JSON.stringify(a) === JSON.stringify(b);
    }
    if ('Fn::Not' in e) return !evaluate((e['Fn::Not'] as Json[])[0] as Json);
    throw new Error(`unsupported condition ${JSON.stringify(e)}`);
  };
  return evaluate(c);
}

/** A role's statements (Fn::If resolved with the packaged parameters). */
function statements(roleName: string): Statement[] {
  const role = resources[roleName];
  const out: Statement[] = [];
  for (const policy of list(props(role).Policies as Json[])) {
    for (const st of list((policy.PolicyDocument as Json).Statement as unknown[])) {
      let s = st as Json;
      if ('Fn::If' in s) {
        const [cond, yes, no] = s['Fn::If'] as [string, Json, Json];
        s = condition(cond) ? yes : no;
        if ('Ref' in s && s.Ref === 'AWS::NoValue') continue;
      }
      out.push(s as unknown as Statement);
    }
  }
  return out;
}

/** The role each function runs with, by the function's logical id. */
function roleOf(functionId: string): string {
  const role = props(resources[functionId]).Role as Json;
  const getAtt = role['Fn::GetAtt'] as [string, string] | undefined;
  if (!getAtt) throw new Error(`${functionId} role is not a role of this template`);
  return getAtt[0];
}

const FUNCTIONS = {
  rotation: 'RotationLambdaFunction',
  audit: 'AuditLambdaFunction',
  rotateNow: 'RotateNowLambdaFunction',
};

/** Resolves a policy value to ARN patterns of the simulated account. */
function resolveValue(v: unknown, a: ProofAccount): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap((x) => resolveValue(x, a));
  const o = v as Json;
  if ('Fn::Sub' in o) {
    return [
      String(o['Fn::Sub'])
        .replace(/\$\{AWS::Partition\}/g, 'aws')
        .replace(/\$\{AWS::Region\}/g, a.sim.region)
        .replace(/\$\{AWS::AccountId\}/g, a.sim.accountId),
    ];
  }
  if ('Ref' in o) {
    if (o.Ref === 'AlertsTopic') return [a.topicArn];
    if (o.Ref === 'AWS::AccountId') return [a.sim.accountId];
  }
  if ('Fn::GetAtt' in o) {
    const [res] = o['Fn::GetAtt'] as [string, string];
    if (res === 'RotationLambdaFunction') return [a.rotationArn];
  }
  throw new Error(`cannot resolve ${JSON.stringify(v)}`);
}

const glob = (pattern: string, value: string, ignoreCase = false) => {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    ignoreCase ? 'i' : '',
  );
  return re.test(value);
};

/** Does this statement allow `action` on `resource` (with the user's tags for conditions)? */
function allows(
  st: Statement,
  action: string,
  resource: string,
  tags: Record<string, string> | undefined,
  a: ProofAccount,
) {
  if (st.Effect !== 'Allow') return false;
  if (!list(st.Action).some((p) => glob(p, action, true))) return false;
  if (!resolveValue(st.Resource, a).some((p) => glob(p, resource))) return false;
  for (const [operator, keys] of Object.entries(st.Condition ?? {})) {
    for (const [key, want] of Object.entries(keys)) {
      const tagKey = key.startsWith('aws:ResourceTag/') ? key.slice('aws:ResourceTag/'.length) : undefined;
      const have = tagKey === undefined ? undefined : tags?.[tagKey];
      if (have === undefined) return false;
      const patterns = resolveValue(want, a);
      const ok =
        operator === 'StringLike'
          ? patterns.some((p) => glob(p, have))
          : operator === 'StringEquals'
            ? patterns.includes(have)
            : false;
      if (!ok) return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------ the template, statically

const ACCOUNT_LEVEL = new Set([
  'iam:GenerateCredentialReport',
  'iam:GetCredentialReport',
  'iam:GetAccountAuthorizationDetails',
  'iam:ListAccountAliases',
  'secretsmanager:ListSecrets',
]);
const isKeyAction = (action: string) => /^iam:\w*AccessKey/i.test(action);
const USER_ARN = /^arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:user\/[\w+=,.@/-]*\*$/;
const SECRET_ARN =
  /^arn:\$\{AWS::Partition\}:secretsmanager:\$\{AWS::Region\}:\$\{AWS::AccountId\}:secret:iam-key-rotator\/\*$/;
const rawResources = (st: Statement) =>
  list(st.Resource as unknown).map((r) =>
    typeof r === 'string' ? r : (((r as Json)['Fn::Sub'] as string | undefined) ?? JSON.stringify(r)),
  );

describe('the packaged CloudFormation', () => {
  it('gives each function its own role and no managed policies', () => {
    const roles = Object.values(FUNCTIONS).map(roleOf);
    expect(new Set(roles).size).toBe(3);
    for (const r of roles) {
      expect(resources[r]?.Type).toBe('AWS::IAM::Role');
      expect(props(resources[r]).ManagedPolicyArns).toBeUndefined();
      expect(statements(r).length).toBeGreaterThan(0);
    }
  });

  for (const [fn, id] of Object.entries(FUNCTIONS)) {
    describe(`${fn} role`, () => {
      it('has no * or service:* action and only Allow statements', () => {
        for (const st of statements(roleOf(id))) {
          expect(st.Effect).toBe('Allow');
          for (const action of list(st.Action)) {
            expect(action, `${st.Sid}: ${action}`).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
          }
        }
      });

      it('grants * resources only for account-level reads that have no resource type', () => {
        for (const st of statements(roleOf(id))) {
          if (!rawResources(st).includes('*')) continue;
          for (const action of list(st.Action))
            expect(ACCOUNT_LEVEL.has(action), `${st.Sid}: ${action} on *`).toBe(true);
        }
      });

      it('limits IAM key actions to user ARNs, and Secrets Manager actions to the secret prefix', () => {
        for (const st of statements(roleOf(id))) {
          const actions = list(st.Action);
          if (actions.some((x) => x.startsWith('iam:') && !ACCOUNT_LEVEL.has(x))) {
            for (const r of rawResources(st)) expect(r, `${st.Sid}`).toMatch(USER_ARN);
          }
          if (actions.some((x) => x.startsWith('secretsmanager:') && !ACCOUNT_LEVEL.has(x))) {
            for (const r of rawResources(st)) expect(r, `${st.Sid}`).toMatch(SECRET_ARN);
          }
          if (actions.some((x) => x.startsWith('logs:'))) {
            for (const r of rawResources(st))
              expect(r).toContain(`:log-group:/aws/lambda/iam-key-rotator-proof-${fn}:*`);
          }
          if (actions.some((x) => x.startsWith('sns:'))) expect(st.Resource).toEqual({ Ref: 'AlertsTopic' });
          if (actions.some((x) => x.startsWith('lambda:'))) {
            expect(st.Resource).toEqual({ 'Fn::GetAtt': ['RotationLambdaFunction', 'Arn'] });
          }
        }
      });
    });
  }

  it("conditions the rotation role's IAM key actions on the binding tag naming a secret of the prefix", () => {
    const keyStatements = statements(roleOf(FUNCTIONS.rotation)).filter((st) =>
      list(st.Action).some(isKeyAction),
    );
    expect(keyStatements.length).toBeGreaterThan(0);
    for (const st of keyStatements) {
      const like = st.Condition?.StringLike ?? st.Condition?.StringEquals;
      expect(like, st.Sid).toBeDefined();
      const tag = (like as Json)['aws:ResourceTag/iam-key-rotator:secret'] as Json;
      expect(tag['Fn::Sub']).toMatch(SECRET_ARN);
    }
  });

  it('refuses, at the IAM level, key actions on users not bound to a secret of the prefix (confused deputy)', () => {
    const a = proofAccount({});
    try {
      const role = statements(roleOf(FUNCTIONS.rotation));
      const can = (action: string, resource: string, tags?: Record<string, string>) =>
        role.some((st) => allows(st, action, resource, tags, a));
      const user = `arn:aws:iam::${a.sim.accountId}:user/victim`;
      const ours = `arn:aws:secretsmanager:${a.sim.region}:${a.sim.accountId}:secret:iam-key-rotator/victim-AbCdEf`;
      const theirs = `arn:aws:secretsmanager:${a.sim.region}:${a.sim.accountId}:secret:prod/db-AbCdEf`;
      expect(can('iam:CreateAccessKey', user, { 'iam-key-rotator:secret': ours })).toBe(true);
      for (const action of [
        'iam:CreateAccessKey',
        'iam:DeleteAccessKey',
        'iam:UpdateAccessKey',
        'iam:ListAccessKeys',
      ]) {
        expect(can(action, user, {}), `${action} on an untagged user`).toBe(false);
        expect(
          can(action, user, { 'iam-key-rotator:secret': theirs }),
          `${action} tagged outside the prefix`,
        ).toBe(false);
      }
      expect(can('secretsmanager:GetSecretValue', ours)).toBe(true);
      expect(can('secretsmanager:GetSecretValue', theirs)).toBe(false);
      expect(can('secretsmanager:PutSecretValue', theirs)).toBe(false);
      expect(can('iam:CreateUser', user, { 'iam-key-rotator:secret': ours })).toBe(false);
    } finally {
      a.sim.restore();
    }
  });

  it('lets Secrets Manager invoke the rotation function only for this account', () => {
    const perms = Object.values(resources).filter(
      (r) => r.Type === 'AWS::Lambda::Permission' && props(r).Principal === 'secretsmanager.amazonaws.com',
    );
    expect(perms).toHaveLength(1);
    expect(props(perms[0])).toMatchObject({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': ['RotationLambdaFunction', 'Arn'] },
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
  });

  it('does not let Lambda retry a failed audit (a retry mails every owner again)', () => {
    // The audit ends with an error when any action or mail failed, after doing the rest. The
    // schedule invokes it asynchronously, and Lambda retries a failed asynchronous invocation
    // twice by default: each retry mails every owner and the security audience again (the audit
    // keeps no record of what it sent; audit-faults.test.ts shows the rerun acts on no key twice).
    const configs = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::EventInvokeConfig' &&
        JSON.stringify(props(r).FunctionName).includes('AuditLambdaFunction'),
    );
    expect(configs.map((c) => props(c).MaximumRetryAttempts)).toEqual([0]);
  });
});

// ------------------------------------------------------------------ every call the code makes

/** Runs the rotation function, the audit and rotate-now through their paths; returns every call. */
async function collectCalls(): Promise<{ calls: SeenCall[]; a: ProofAccount[] }> {
  const accounts: ProofAccount[] = [];
  const calls: SeenCall[] = [];
  try {
    // Rotation: first and second rotation (grace 0: deactivate, delete inactive), a stray
    // never-used key, and a blocked rotation (the owner is told by SNS).
    const r = proofAccount({ env: { ROTATION_GRACE_DAYS: '0' } });
    accounts.push(r);
    const app = await enrollUser(r, 'app', { owner: 'app@example.com' });
    await rotateSecret(app.secretArn);
    await rotateSecret(app.secretArn);
    const stray = await enrollUser(r, 'stray', { owner: 'stray@example.com' });
    r.sim.addKey('stray', { lastUsedDaysAgo: null });
    await rotateSecret(stray.secretArn);
    const blocked = await enrollUser(r, 'blocked', { owner: 'blocked@example.com' });
    r.sim.addKey('blocked', { lastUsedDaysAgo: 1 });
    await rotateSecret(blocked.secretArn);
    expect(r.sim.rotations().map((x) => x.outcome)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'failed',
    ]);
    // Rotate now: with the previous key still active, and with a stray key.
    const n = proofAccount({});
    accounts.push(n);
    const web = await enrollUser(n, 'web', { owner: 'web@example.com' });
    await rotateSecret(web.secretArn);
    const strayNow = await enrollUser(n, 'stray-now', { owner: 'x@example.com' });
    n.sim.addKey('stray-now', { lastUsedDaysAgo: null });
    for (const userName of ['web', 'stray-now']) {
      const res = await invoke(n, 'rotateNow', () => rotateNow({ userName, wait: true }));
      expect(res.error).toBeUndefined();
    }
    expect(strayNow.userName).toBe('stray-now');
    // The audit: every kind of action, two days.
    const w = await auditWorld();
    accounts.push(w);
    for (let day = 0; day < 2; day++) {
      const res = await invoke(w, 'audit', () => runAudit({ cfg: w.cfg }));
      expect(res.error).toBeUndefined();
      daysLater(w, 1);
    }
    for (const acc of accounts) {
      calls.push(...acc.seen);
      collectAccount(watch, acc);
    }
    return { calls, a: accounts };
  } finally {
    for (const acc of accounts) acc.sim.restore();
  }
}

/** API operations authorized by an IAM action of another name. */
const IAM_ACTION: Record<string, string> = {
  // "sns:Publish grants permission to both publish and publish batch" (SNS API permissions reference).
  PublishBatch: 'sns:Publish',
};

describe('every AWS call the functions make', () => {
  it('is allowed by the role of the function that makes it', async () => {
    watch.start();
    const { calls, a } = await collectCalls();
    watch.stop();
    figure(watch.summary('packaged-iam runs'));
    expect(watch.scan()).toEqual([]);
    const account = a[0] as ProofAccount;
    const denied = new Set<string>();
    const checked = new Set<string>();
    const byFunction: Record<string, Set<string>> = {};
    for (const c of calls) {
      const fn = c.actor as keyof typeof FUNCTIONS;
      if (!(fn in FUNCTIONS)) continue;
      // STS GetCallerIdentity needs no permission (and testSecret signs it with the new key).
      if (c.op === 'GetCallerIdentity') continue;
      const wanted: [string, string][] = [[IAM_ACTION[c.op] ?? `${c.service}:${c.op}`, c.resource]];
      // RotateSecret also needs permission to invoke the secret's rotation function.
      if (c.op === 'RotateSecret') wanted.push(['lambda:InvokeFunction', account.rotationArn]);
      for (const [action, resource] of wanted) {
        const resourceKind = resource
          .replace(/:user\/.*$/, ':user/<name>')
          .replace(/:secret:.*$/, ':secret:<name>');
        checked.add(`${fn} ${action} ${resourceKind}`);
        byFunction[fn] ??= new Set();
        byFunction[fn].add(action);
        const ok = statements(roleOf(FUNCTIONS[fn])).some((st) =>
          allows(st, action, resource, c.userTags, account),
        );
        if (!ok) denied.add(`${fn}: ${action} on ${resourceKind} is not allowed by ${roleOf(FUNCTIONS[fn])}`);
      }
    }
    for (const fn of Object.keys(FUNCTIONS)) expect(byFunction[fn]?.size ?? 0, fn).toBeGreaterThan(2);
    figure(
      `packaged IAM: ${checked.size} distinct (function, action, resource) calls from simulated runs checked against the packaged roles: ${denied.size} denied${denied.size ? ` (${[...denied].join('; ')})` : ''}`,
    );
    expect([...denied]).toEqual([]);
  });
});
