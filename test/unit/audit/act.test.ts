import { NoSuchEntityException } from '@aws-sdk/client-iam';
import { afterEach, describe, expect, it } from 'vitest';
import { act } from '../../../src/audit/act.js';
import { type BoundSecret, listBoundSecrets } from '../../../src/audit/scan.js';
import type { PlannedAction } from '../../../src/audit/types.js';
import { type AuditAccount, auditAccount, enroll, keyIdAt, rotateNow } from '../../scenario/audit-account.js';

let a: AuditAccount | undefined;
afterEach(() => {
  a?.sim.restore();
  a = undefined;
});

const due = new Date('2026-06-01T00:00:00Z');

function action(
  userName: string,
  kind: PlannedAction['kind'],
  over: Partial<PlannedAction> = {},
): PlannedAction {
  return { userName, kind, reason: `test ${kind}`, due, ...over };
}

async function secretsByUser(): Promise<Map<string, BoundSecret[]>> {
  const map = new Map<string, BoundSecret[]>();
  for (const s of await listBoundSecrets()) map.set(s.userName, [...(map.get(s.userName) ?? []), s]);
  return map;
}

const created = (a: AuditAccount, id: string) => a.sim.key(id)?.created;

describe('act: key actions', () => {
  it('finds the key by its creation time, deactivates it and reports its id', async () => {
    a = auditAccount();
    a.sim.addUser('alice');
    const old = a.sim.addKey('alice', { ageDays: 105 });
    const young = a.sim.addKey('alice', { ageDays: 3 });
    a.sim.calls.reset();

    const [r] = await act([action('alice', 'disable', { slot: 1, createdOn: created(a, old.accessKeyId) })], {
      dryRun: false,
      secretsByUser: new Map(),
    });

    expect(r).toMatchObject({ outcome: 'done', keyId: old.accessKeyId, slot: 1 });
    expect(a.sim.key(old.accessKeyId)?.status).toBe('Inactive');
    expect(a.sim.key(young.accessKeyId)?.status).toBe('Active');
    expect(a.sim.calls.byOperation()).toEqual({ ListAccessKeys: 1, UpdateAccessKey: 1 });
  });

  it('asks for <prefix><user> once when the user has no such secret (no AWSPENDING read of nothing)', async () => {
    a = auditAccount();
    a.sim.addUser('dora');
    const old = a.sim.addKey('dora', { ageDays: 105 });
    a.sim.calls.reset();

    const [r] = await act([action('dora', 'disable', { slot: 1, createdOn: created(a, old.accessKeyId) })], {
      dryRun: false,
      secretsByUser: new Map(),
      secretPrefix: 'iam-key-rotator/',
    });

    expect(r).toMatchObject({ outcome: 'done', keyId: old.accessKeyId });
    expect(a.sim.calls.byOperation()).toEqual({ GetSecretValue: 1, ListAccessKeys: 1, UpdateAccessKey: 1 });
  });

  it('never deactivates the AWSCURRENT key of a secret tagged for the user, whatever the plan says', async () => {
    a = auditAccount();
    a.sim.addUser('bob');
    const key = a.sim.addKey('bob', { ageDays: 120 });
    // Tagged for bob, but bob does not name it back: he does not look enrolled.
    await enroll(a, 'bob', key, { userTag: false, rotationEnabled: false });

    const results = await act(
      [
        action('bob', 'disable', { slot: 1, createdOn: created(a, key.accessKeyId) }),
        action('bob', 'deactivate-previous', { slot: 1, keyId: key.accessKeyId }),
      ],
      { dryRun: false, secretsByUser: await secretsByUser() },
    );

    expect(results.map((r) => [r.outcome, r.message])).toEqual([
      ['skipped', `${key.accessKeyId} is the AWSCURRENT key of a secret bound to the user`],
      ['skipped', `${key.accessKeyId} is the AWSCURRENT key of a secret bound to the user`],
    ]);
    expect(a.sim.key(key.accessKeyId)?.status).toBe('Active');
    expect(a.sim.calls.count('UpdateAccessKey')).toBe(0);
  });

  it('also protects the key in the secret named <prefix><user> when that secret carries no tag', async () => {
    a = auditAccount();
    a.sim.addUser('carol');
    const key = a.sim.addKey('carol', { ageDays: 120 });
    a.sim.addSecret({
      name: 'iam-key-rotator/carol',
      value: { UserName: 'carol', AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey },
    });

    const [r] = await act([action('carol', 'disable', { slot: 1, keyId: key.accessKeyId })], {
      dryRun: false,
      secretsByUser: new Map(),
      secretPrefix: a.cfg.secretPrefix,
    });

    expect(r?.outcome).toBe('skipped');
    expect(a.sim.key(key.accessKeyId)?.status).toBe('Active');
  });

  it('never touches the key of a rotation that started after the scan (AWSPENDING)', async () => {
    a = auditAccount();
    a.sim.addUser('dave');
    const key = a.sim.addKey('dave', { ageDays: 85 });
    const arn = await enroll(a, 'dave', key);
    const secrets = await secretsByUser();
    a.broken.add(arn);
    await rotateNow(arn); // stays pending with a new key in AWSPENDING
    const pendingKey = keyIdAt(a, arn, 'AWSPENDING') as string;

    const [r] = await act([action('dave', 'disable', { slot: 2, keyId: pendingKey })], {
      dryRun: false,
      secretsByUser: secrets,
    });

    expect(r?.outcome).toBe('skipped');
    expect(a.sim.key(pendingKey)?.status).toBe('Active');
  });

  it('skips a key that is already inactive, gone, or (for delete) active again', async () => {
    a = auditAccount();
    a.sim.addUser('erin');
    const inactive = a.sim.addKey('erin', { ageDays: 120, status: 'Inactive' });
    const active = a.sim.addKey('erin', { ageDays: 115 });

    const results = await act(
      [
        action('erin', 'disable', { slot: 1, keyId: inactive.accessKeyId }),
        action('erin', 'delete', { slot: 2, keyId: active.accessKeyId }),
        action('erin', 'disable', { slot: 2, createdOn: new Date('2020-01-01T00:00:00Z') }),
      ],
      { dryRun: false, secretsByUser: new Map() },
    );

    expect(results.map((r) => [r.outcome, r.message])).toEqual([
      ['skipped', 'the key is already inactive'],
      ['skipped', 'the key is active again'],
      ['skipped', 'the key no longer exists'],
    ]);
    expect(a.sim.keys('erin').map((k) => k.status)).toEqual(['Inactive', 'Active']);
  });

  it('reports a key deleted between the read and the change as skipped, not done', async () => {
    a = auditAccount();
    a.sim.addUser('fay');
    const key = a.sim.addKey('fay', { ageDays: 120 });
    a.sim.failCall('UpdateAccessKey', {
      error: new NoSuchEntityException({
        message: 'The Access Key with id x cannot be found.',
        $metadata: {},
      }),
    });

    const [r] = await act([action('fay', 'disable', { slot: 1, keyId: key.accessKeyId })], {
      dryRun: false,
      secretsByUser: new Map(),
    });

    expect(r).toMatchObject({ outcome: 'skipped', message: 'the key no longer exists' });
  });

  it('deletes an inactive key', async () => {
    a = auditAccount();
    a.sim.addUser('gus');
    const key = a.sim.addKey('gus', { ageDays: 120, status: 'Inactive' });

    const [r] = await act([action('gus', 'delete', { slot: 1, keyId: key.accessKeyId })], {
      dryRun: false,
      secretsByUser: new Map(),
    });

    expect(r?.outcome).toBe('done');
    expect(a.sim.keys('gus')).toEqual([]);
  });
});

describe('act: secrets', () => {
  it('starts a rotation (the sim runs it: a new verified key becomes AWSCURRENT)', async () => {
    a = auditAccount();
    a.sim.addUser('hal');
    const key = a.sim.addKey('hal', { ageDays: 82 });
    const arn = await enroll(a, 'hal', key);

    const [r] = await act([action('hal', 'rotate', { slot: 1, secretArn: arn })], {
      dryRun: false,
      secretsByUser: await secretsByUser(),
    });

    expect(r?.outcome).toBe('done');
    expect(keyIdAt(a, arn)).not.toBe(key.accessKeyId);
    expect(keyIdAt(a, arn, 'AWSPREVIOUS')).toBe(key.accessKeyId);
    expect(a.sim.rotations().map((x) => x.outcome)).toEqual(['succeeded']);
  });

  it('skips a rotation when another one is already under way', async () => {
    a = auditAccount();
    a.sim.addUser('ida');
    const key = a.sim.addKey('ida', { ageDays: 82 });
    const arn = await enroll(a, 'ida', key);
    a.broken.add(arn);
    await rotateNow(arn);

    const [r] = await act([action('ida', 'rotate', { slot: 1, secretArn: arn })], {
      dryRun: false,
      secretsByUser: await secretsByUser(),
    });

    expect(r).toMatchObject({ outcome: 'skipped', message: 'a rotation is already in progress' });
  });

  it('clears a stuck AWSPENDING so that the next rotation can run', async () => {
    a = auditAccount();
    a.sim.addUser('jo');
    const key = a.sim.addKey('jo', { ageDays: 50 });
    const arn = await enroll(a, 'jo', key);
    a.broken.add(arn);
    await rotateNow(arn);
    const secrets = await secretsByUser();
    const pending = secrets.get('jo')?.[0]?.pendingVersionId;
    expect(pending).toBeDefined();

    const [r] = await act([action('jo', 'clear-stuck', { secretArn: arn })], {
      dryRun: false,
      secretsByUser: secrets,
    });

    expect(r?.outcome).toBe('done');
    expect(a.sim.versionWithStage(arn, 'AWSPENDING')).toBeUndefined();
    expect(keyIdAt(a, arn)).toBe(key.accessKeyId);
    a.broken.clear();
    await rotateNow(arn);
    expect(a.sim.rotations().map((x) => x.outcome)).toEqual(['failed', 'succeeded']);
  });

  it('does not clear AWSPENDING when that rotation finished after the scan', async () => {
    a = auditAccount();
    a.sim.addUser('kim');
    const key = a.sim.addKey('kim', { ageDays: 50 });
    const arn = await enroll(a, 'kim', key);
    a.sim.calls.reset();
    const stale = new Map<string, BoundSecret[]>();
    const [secret] = await listBoundSecrets();
    // As the scan would have seen it: a pending version that has since become AWSCURRENT.
    const current = a.sim.versionWithStage(arn, 'AWSCURRENT') as string;
    stale.set('kim', [{ ...(secret as BoundSecret), pendingVersionId: current }]);

    const [r] = await act([action('kim', 'clear-stuck', { secretArn: arn })], {
      dryRun: false,
      secretsByUser: stale,
    });

    expect(r).toMatchObject({
      outcome: 'skipped',
      message: 'the pending rotation finished or was cleared meanwhile',
    });
    expect(a.sim.calls.count('UpdateSecretVersionStage')).toBe(0);
  });
});

describe('act: runs', () => {
  it('dry run: reads only, and reports what it would do after the same checks', async () => {
    a = auditAccount();
    a.sim.addUser('lee');
    const old = a.sim.addKey('lee', { ageDays: 105 });
    a.sim.addUser('max');
    const current = a.sim.addKey('max', { ageDays: 105 });
    const arn = await enroll(a, 'max', current);
    const secrets = await secretsByUser();
    const before = a.sim.snapshot();

    const results = await act(
      [
        action('lee', 'disable', { slot: 1, keyId: old.accessKeyId }),
        action('max', 'disable', { slot: 1, keyId: current.accessKeyId }),
        action('max', 'rotate', { slot: 1, secretArn: arn }),
      ],
      { dryRun: true, secretsByUser: secrets },
    );

    expect(results.map((r) => r.outcome)).toEqual(['dry-run', 'skipped', 'dry-run']);
    expect(a.sim.snapshot()).toEqual(before);
  });

  it('a failure stops that user only: their later actions are skipped, other users are done', async () => {
    a = auditAccount();
    for (const u of ['nia', 'oli', 'pam']) a.sim.addUser(u);
    const k = Object.fromEntries(
      ['nia', 'oli', 'pam'].map((u) => [
        u,
        [a?.sim.addKey(u, { ageDays: 130, status: 'Inactive' }), a?.sim.addKey(u, { ageDays: 120 })],
      ]),
    );
    const id = (u: string, i: number) => k[u]?.[i]?.accessKeyId as string;
    const remove = a.sim.failWhen((op, input) =>
      op === 'UpdateAccessKey' && (input as { UserName?: string }).UserName === 'oli'
        ? new Error('simulated outage for oli')
        : undefined,
    );

    const plan = ['nia', 'oli', 'pam'].flatMap((u) => [
      action(u, 'disable', { slot: 2, keyId: id(u, 1) }),
      action(u, 'delete', { slot: 1, keyId: id(u, 0) }),
    ]);
    const results = await act(plan, { dryRun: false, secretsByUser: new Map() });
    remove();

    expect(results.map((r) => [r.userName, r.kind, r.outcome])).toEqual([
      ['nia', 'disable', 'done'],
      ['nia', 'delete', 'done'],
      ['oli', 'disable', 'failed'],
      ['oli', 'delete', 'skipped'],
      ['pam', 'disable', 'done'],
      ['pam', 'delete', 'done'],
    ]);
    expect(results[2]?.message).toBe('Error: simulated outage for oli');
    expect(a.sim.keys('oli').map((x) => x.status)).toEqual(['Inactive', 'Active']);
    expect(a.sim.keys('pam').map((x) => x.status)).toEqual(['Inactive']);
    // One ListAccessKeys per user acted on, however many actions.
    expect(a.sim.calls.count('ListAccessKeys')).toBe(3);
  });
});
