import { describe, expect, it } from 'vitest';
import { addDays, classify } from '../../../src/audit/classify.js';
import { nextStep, plan, planDetailed, rotateAtAge } from '../../../src/audit/plan.js';
import type { ClassifyInput, Enrollment, ReportKey } from '../../../src/audit/types.js';
import type { Config } from '../../../src/config.js';
import { accountUser, boundUser, defaults, enrollment, key, NOW, row } from './fixtures.js';

const cfg = defaults();
const H = 3_600_000;

function findings(input: ClassifyInput, c: Config = cfg) {
  return classify(input, c, NOW);
}

/** An enrolled user with the given keys; ids matched when `ids` names them. */
function enrolled(keys: ReportKey[], e: Partial<Enrollment> = {}, ids?: string[]): ClassifyInput {
  return {
    row: row('app', keys),
    user: boundUser('app'),
    enrollment: enrollment('app', e),
    accessKeys: ids?.map((id, i) => ({
      accessKeyId: id,
      createDate: keys[i]?.lastRotated ?? NOW,
      status: keys[i]?.active ? 'Active' : 'Inactive',
    })),
  };
}

const kinds = (input: ClassifyInput, c: Config = cfg) =>
  plan([findings(input, c)], c, NOW).map((a) => [a.kind, a.slot ?? null]);

describe('plan: enrolled users', () => {
  it('rotates from day MAX - GRACE - 1 (82 with the defaults), not before', () => {
    expect(rotateAtAge(cfg)).toBe(82);
    expect(kinds(enrolled([key(1, 81)]))).toEqual([]);
    const [a] = plan([findings(enrolled([key(1, 82)]))], cfg, NOW);
    expect(a).toMatchObject({
      userName: 'app',
      kind: 'rotate',
      slot: 1,
      secretArn: expect.stringContaining('iam-key-rotator/app'),
      due: new Date('2026-07-01T00:00:00Z'),
    });
  });

  it('keeps every active key under MAX: rotation on day 82, previous deactivated on day 89', () => {
    // Day 89 of the old key = day 7 of the new one, created on the old key's day 82.
    const old = key(1, 89);
    const fresh = key(2, 7);
    const input = enrolled([old, fresh], { lastRotated: addDays(NOW, -7) });
    const [a] = plan([findings(input)], cfg, NOW);
    expect(a).toMatchObject({ kind: 'deactivate-previous', slot: 1, createdOn: old.lastRotated });
    expect(kinds(enrolled([key(1, 88), key(2, 6)], { lastRotated: addDays(NOW, -6) }))).toEqual([]);
  });

  it('deactivates the key that is not AWSCURRENT when ids are known, even if it is the newer slot', () => {
    const input = enrolled([key(1, 8), key(2, 95)], {}, ['AKIACUR', 'AKIAPREV']);
    input.enrollment = enrollment('app', { currentKeyId: 'AKIACUR' });
    const [a] = plan([findings(input)], cfg, NOW);
    expect(a).toMatchObject({ kind: 'deactivate-previous', slot: 2, keyId: 'AKIAPREV' });
  });

  it('never deactivates the AWSCURRENT key, even when it is the older one', () => {
    // A stray newer key (left by a failed rotation) is held, the current key is left alone.
    const input = enrolled([key(1, 30), key(2, 10)], { currentKeyId: 'AKIACUR' }, ['AKIACUR', 'AKIASTRAY']);
    const r = planDetailed([findings(input)], cfg, NOW);
    expect(r.actions).toEqual([]);
    expect(r.held).toEqual([expect.objectContaining({ kind: 'deactivate-previous', slot: 2 })]);
  });

  it('holds back when two keys are active and nothing tells which one the secret holds', () => {
    // Never rotated: the newer key is not the product of a rotation.
    const r = planDetailed([findings(enrolled([key(1, 40), key(2, 20)]))], cfg, NOW);
    expect(r.actions).toEqual([]);
    expect(r.held.map((h) => h.kind)).toEqual(['deactivate-previous']);
  });

  it('rotates by the oldest active key when it cannot tell which key the secret holds', () => {
    const r = planDetailed([findings(enrolled([key(1, 84), key(2, 30)]))], cfg, NOW);
    expect(r.actions).toEqual([expect.objectContaining({ kind: 'rotate', slot: 1 })]);
    expect(r.held.map((h) => h.kind)).toEqual(['deactivate-previous']);
  });

  it('does not deactivate anything while a rotation is pending', () => {
    const input = enrolled([key(1, 89), key(2, 7)], {
      lastRotated: addDays(NOW, -7),
      pendingSince: new Date(NOW.getTime() - H),
    });
    expect(kinds(input)).toEqual([]);
  });

  it('does not start a rotation while one is in progress', () => {
    const input = enrolled([key(1, 85)], { pendingSince: new Date(NOW.getTime() - 2 * H) });
    const r = planDetailed([findings(input)], cfg, NOW);
    expect(r.actions).toEqual([]);
    expect(r.held[0]).toMatchObject({ kind: 'rotate', reason: expect.stringContaining('still in progress') });
  });

  it('clears a stuck AWSPENDING, then rotates when due', () => {
    const pendingSince = new Date(NOW.getTime() - 7 * H);
    expect(kinds(enrolled([key(1, 85)], { pendingSince }))).toEqual([
      ['clear-stuck', null],
      ['rotate', 1],
    ]);
    const [clear] = plan([findings(enrolled([key(1, 10)], { pendingSince }))], cfg, NOW);
    expect(clear).toMatchObject({ kind: 'clear-stuck', due: new Date(pendingSince.getTime() + 6 * H) });
    expect(kinds(enrolled([key(1, 10)], { pendingSince: new Date(NOW.getTime() - 5 * H) }))).toEqual([]);
  });

  it('does not rotate again when the secret rotated after the credential report was generated', () => {
    const input = enrolled([key(1, 85)], { lastRotated: new Date(NOW.getTime() - 2 * H) });
    expect(kinds(input)).toEqual([]);
    // A rotation recorded long ago does not hold it back.
    expect(kinds(enrolled([key(1, 85)], { lastRotated: addDays(NOW, -85) }))).toEqual([['rotate', 1]]);
  });

  it('takes no action for an exempt enrolled user', () => {
    const input = enrolled([key(1, 120)]);
    input.user = boundUser('app', { 'iam-key-rotator:exempt': 'true' });
    expect(kinds(input)).toEqual([]);
  });
});

describe('plan: users not enrolled, per ENFORCE', () => {
  const plain = (keys: ReportKey[]): ClassifyInput => ({ row: row('bob', keys), user: accountUser('bob') });
  const overdue = [key(1, 100), key(2, 120, { active: false, lastUsed: addDays(NOW, -30) })];

  it('notify: never acts', () => {
    expect(kinds(plain(overdue))).toEqual([]);
  });

  it('disable: disables an active key from MAX + 10 days, nothing else', () => {
    const c = defaults({ ENFORCE: 'disable' });
    expect(kinds(plain([key(1, 99)]), c)).toEqual([]);
    expect(kinds(plain(overdue), c)).toEqual([['disable', 1]]);
    const [a] = plan([findings(plain(overdue), c)], c, NOW);
    expect(a?.due).toEqual(addDays(new Date('2026-07-01T00:00:00Z'), 0));
  });

  it('delete: also deletes an inactive key from MAX + 20 days once unused for 10 days', () => {
    const c = defaults({ ENFORCE: 'delete' });
    expect(kinds(plain(overdue), c)).toEqual([
      ['disable', 1],
      ['delete', 2],
    ]);
    expect(kinds(plain([key(1, 109, { active: false, lastUsed: null })]), c)).toEqual([]);
    expect(kinds(plain([key(1, 110, { active: false, lastUsed: null })]), c)).toEqual([['delete', 1]]);
    expect(kinds(plain([key(1, 150, { active: false, lastUsed: addDays(NOW, -9) })]), c)).toEqual([]);
    // An active key is disabled first, never deleted straight away.
    expect(kinds(plain([key(1, 150)]), c)).toEqual([['disable', 1]]);
  });

  it('never touches a key that is, or may be, the AWSCURRENT of a bound secret', () => {
    const c = defaults({ ENFORCE: 'delete' });
    const keys = [key(1, 130), key(2, 140, { active: false, lastUsed: null })];
    const secret = enrollment('bob', { rotationEnabled: false, currentKeyId: 'AKIACUR' });
    const unknownIds: ClassifyInput = { row: row('bob', keys), user: boundUser('bob'), enrollment: secret };
    const r = planDetailed([findings(unknownIds, c)], c, NOW);
    expect(r.actions).toEqual([]);
    expect(r.held.map((h) => [h.kind, h.slot])).toEqual([
      ['disable', 1],
      ['delete', 2],
    ]);

    const knownIds: ClassifyInput = {
      ...unknownIds,
      accessKeys: [
        { accessKeyId: 'AKIACUR', createDate: keys[0]?.lastRotated ?? NOW, status: 'Active' },
        { accessKeyId: 'AKIAOLD', createDate: keys[1]?.lastRotated ?? NOW, status: 'Inactive' },
      ],
    };
    expect(plan([findings(knownIds, c)], c, NOW)).toEqual([
      expect.objectContaining({ kind: 'delete', slot: 2, keyId: 'AKIAOLD' }),
    ]);
  });

  it('never acts on exempt users, the root account, or users whose tags are unknown', () => {
    const c = defaults({ ENFORCE: 'delete', EXEMPT_GROUP: 'legacy' });
    const exemptTag = {
      row: row('e', [key(1, 200)]),
      user: accountUser('e', { 'iam-key-rotator:exempt': 'true' }),
    };
    const exemptGroup = { row: row('g', [key(1, 200)]), user: accountUser('g', {}, ['legacy']) };
    const root = { row: row('<root_account>', [key(1, 500)], { isRoot: true }) };
    const unknown = { row: row('u', [key(1, 200)]) };
    const r = planDetailed(
      [exemptTag, exemptGroup, root, unknown].map((i) => findings(i, c)),
      c,
      NOW,
    );
    expect(r.actions).toEqual([]);
    expect(r.held).toEqual([expect.objectContaining({ userName: 'u', kind: 'disable' })]);
  });
});

describe('plan outside MANAGED_USER_PATH', () => {
  const c = defaults({ ENFORCE: 'disable', MANAGED_USER_PATH: '/ci/' });
  const at = (path: string, input: ClassifyInput): ClassifyInput => ({
    ...input,
    user: input.user ? { ...input.user, path } : undefined,
  });

  it('holds what it would do to users whose path the roles may not touch, and acts under the path', () => {
    const outsideEnrolled = at('/', enrolled([key(1, 85)]));
    const outsideOverdue = at('/people/', { row: row('old', [key(1, 120)]), user: accountUser('old') });
    const inside = at('/ci/', { row: row('deployer', [key(1, 120)]), user: accountUser('deployer') });
    const r = planDetailed(
      [outsideEnrolled, outsideOverdue, inside].map((i) => findings(i, c)),
      c,
      NOW,
    );
    expect(r.actions).toEqual([expect.objectContaining({ userName: 'deployer', kind: 'disable', slot: 1 })]);
    expect(r.held).toEqual([
      expect.objectContaining({
        userName: 'app',
        kind: 'rotate',
        reason: expect.stringContaining('MANAGED_USER_PATH (/ci/)'),
      }),
      expect.objectContaining({ userName: 'old', kind: 'disable', slot: 1 }),
    ]);
  });

  it('tells the owner nothing happens automatically', () => {
    const u = findings(at('/people/', { row: row('old', [key(1, 120)]), user: accountUser('old') }), c);
    const k = u.keys[0];
    if (!k) throw new Error('no key');
    expect(u.outsideManagedPath).toBe(true);
    expect(nextStep(u, k, c, NOW).text).toBe(
      'nothing automatic (the user is outside the managed path /ci/): please rotate now (overdue since 2026-06-01)',
    );
  });
});

describe('nextStep', () => {
  const step = (input: ClassifyInput, c: Config = cfg, slot = 1) => {
    const u = findings(input, c);
    const k = u.keys.find((x) => x.slot === slot);
    if (!k) throw new Error('no key');
    return nextStep(u, k, c, NOW);
  };

  it('gives the automatic rotation date for an enrolled key', () => {
    expect(step(enrolled([key(1, 76)]))).toEqual({
      text: 'will be rotated automatically on 2026-07-07',
      on: new Date('2026-07-07T00:00:00Z'),
    });
    expect(step(enrolled([key(1, 85)])).text).toBe('will be rotated automatically today');
  });

  it('gives the deactivation date for the previous key of an enrolled user', () => {
    const input = enrolled([key(1, 85), key(2, 3)], { lastRotated: addDays(NOW, -3) });
    expect(step(input).text).toBe('will be deactivated on 2026-07-05 (end of the grace after rotation)');
  });

  it('says what ENFORCE will do to a key of a user not enrolled', () => {
    const input = { row: row('bob', [key(1, 80)]), user: accountUser('bob') };
    expect(step(input).text).toBe('nothing automatic: please rotate before 2026-07-11');
    expect(step(input, defaults({ ENFORCE: 'disable' }))).toEqual({
      text: 'please rotate before 2026-07-11; the key will be disabled on 2026-07-21',
      on: new Date('2026-07-21T00:00:00Z'),
    });
    expect(step(input, defaults({ ENFORCE: 'delete' })).text).toBe(
      'please rotate before 2026-07-11; the key will be disabled on 2026-07-21 and deleted from 2026-07-31',
    );
    expect(step({ row: row('bob', [key(1, 95)]), user: accountUser('bob') }).text).toBe(
      'nothing automatic: please rotate now (overdue since 2026-06-26)',
    );
  });

  it('tells exempt users and root that nothing is automatic', () => {
    expect(
      step({ row: row('e', [key(1, 80)]), user: accountUser('e', { 'iam-key-rotator:exempt': 'true' }) })
        .text,
    ).toBe('nothing automatic (the user is exempt): please rotate before 2026-07-11');
    expect(step({ row: row('<root_account>', [key(1, 80)], { isRoot: true }) }).text).toMatch(
      /root access keys should not exist/,
    );
  });
});
