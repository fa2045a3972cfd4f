import { describe, expect, it } from 'vitest';
import { ageInDays, classify, classifyAccount, isValidEmail } from '../../../src/audit/classify.js';
import { accountUser, boundUser, defaults, enrollment, key, NOW, row, secretArn } from './fixtures.js';

const cfg = defaults();
const one = (age: number, over = {}) =>
  classify({ row: row('alice', [key(1, age, over)]) }, cfg, NOW).keys[0];

describe('ageInDays', () => {
  it('counts UTC calendar days, so a daily run sees each age once whatever its time of day', () => {
    expect(ageInDays(new Date('2026-01-01T23:50:00Z'), new Date('2026-01-02T00:10:00Z'))).toBe(1);
    expect(ageInDays(new Date('2026-01-01T00:10:00Z'), new Date('2026-01-01T23:50:00Z'))).toBe(0);
    expect(ageInDays(new Date('2026-01-01T12:00:00Z'), new Date('2026-04-01T06:00:00Z'))).toBe(90);
  });
});

describe('classify: key age', () => {
  it.each([
    [0, 'ok', 90],
    [75, 'ok', 15],
    [76, 'warning', 14],
    [89, 'warning', 1],
    [90, 'expired', 0],
    [91, 'expired', -1],
  ])('a key %i days old is %s with %i days left (defaults)', (age, status, daysLeft) => {
    const k = one(age);
    expect(k).toMatchObject({ ageDays: age, status, daysLeft, statuses: [status], unused: false });
  });

  it('puts the deadline on the midnight UTC MAX days after the creation date', () => {
    const k = classify(
      { row: row('alice', [key(1, 0, { lastRotated: new Date('2026-04-02T17:45:00Z') })]) },
      cfg,
      NOW,
    ).keys[0];
    expect(k?.deadline).toEqual(new Date('2026-07-01T00:00:00Z'));
    expect(k?.status).toBe('expired');
  });

  it.each([
    [44, 'ok'],
    [45, 'warning'],
    [59, 'warning'],
    [60, 'expired'],
  ])('follows a custom policy (MAX 60, WARN 15): %i days is %s', (age, status) => {
    const custom = defaults({ MAX_KEY_AGE_DAYS: '60', WARN_BEFORE_DAYS: '15' });
    const k = classify({ row: row('alice', [key(1, age)]) }, custom, NOW).keys[0];
    expect(k?.status).toBe(status);
    expect(k?.daysLeft).toBe(60 - age);
  });

  it('reports an inactive key as inactive, never unused', () => {
    const k = one(200, { active: false, lastUsed: null });
    expect(k).toMatchObject({ status: 'inactive', statuses: ['inactive'], unused: false, active: false });
  });
});

describe('classify: unused keys', () => {
  it('flags a key never used and older than UNUSED_KEY_DAYS, and keeps its age status', () => {
    expect(one(44, { lastUsed: null })).toMatchObject({
      unused: false,
      daysSinceUse: null,
      statuses: ['ok'],
    });
    expect(one(45, { lastUsed: null })).toMatchObject({ unused: true, statuses: ['ok', 'unused'] });
    expect(one(95, { lastUsed: null })).toMatchObject({
      status: 'expired',
      unused: true,
      statuses: ['expired', 'unused'],
    });
  });

  it('flags a key last used UNUSED_KEY_DAYS ago, not one used the day after', () => {
    const used = (days: number) => ({ lastUsed: new Date(NOW.getTime() - days * 86_400_000) });
    expect(one(80, used(45))).toMatchObject({
      daysSinceUse: 45,
      unused: true,
      statuses: ['warning', 'unused'],
    });
    expect(one(80, used(44))).toMatchObject({ daysSinceUse: 44, unused: false, statuses: ['warning'] });
  });
});

describe('classify: per user', () => {
  it('flags two active keys but not one active and one inactive', () => {
    const two = classify({ row: row('a', [key(1, 10), key(2, 3)]) }, cfg, NOW);
    const mixed = classify({ row: row('a', [key(1, 10, { active: false }), key(2, 3)]) }, cfg, NOW);
    expect(two.twoActiveKeys).toBe(true);
    expect(mixed.twoActiveKeys).toBe(false);
  });

  it('flags a console password without MFA', () => {
    const r = (passwordEnabled: boolean | null, mfaActive: boolean) =>
      classify({ row: row('a', [], { passwordEnabled, mfaActive }) }, cfg, NOW).consoleWithoutMfa;
    expect(r(true, false)).toBe(true);
    expect(r(true, true)).toBe(false);
    expect(r(false, false)).toBe(false);
  });

  it('keeps the root account as a finding: not exempt, not owned, no MFA flagged', () => {
    const root = classify(
      {
        row: row('<root_account>', [key(1, 400)], {
          isRoot: true,
          passwordEnabled: null,
          mfaActive: false,
          arn: 'arn:aws:iam::123456789012:root',
        }),
      },
      cfg,
      NOW,
    );
    expect(root).toMatchObject({
      isRoot: true,
      exempt: false,
      owner: undefined,
      enrolled: false,
      consoleWithoutMfa: true,
      detailsMissing: false,
    });
    expect(root.keys[0]?.status).toBe('expired');
  });

  it('is exempt by tag, whatever its case', () => {
    const u = classify(
      { row: row('a', [key(1, 1)]), user: accountUser('a', { 'iam-key-rotator:exempt': 'TRUE' }) },
      cfg,
      NOW,
    );
    expect(u).toMatchObject({ exempt: true, exemptReason: 'tag' });
    const no = classify(
      { row: row('a', [key(1, 1)]), user: accountUser('a', { 'iam-key-rotator:exempt': 'yes' }) },
      cfg,
      NOW,
    );
    expect(no.exempt).toBe(false);
  });

  it('is exempt by membership of EXEMPT_GROUP, and not without that setting', () => {
    const input = { row: row('a', [key(1, 1)]), user: accountUser('a', {}, ['Admins', 'BreakGlass']) };
    expect(classify(input, defaults({ EXEMPT_GROUP: 'breakglass' }), NOW)).toMatchObject({
      exempt: true,
      exemptReason: 'group',
    });
    expect(classify(input, cfg, NOW).exempt).toBe(false);
  });

  it('lower-cases a valid owner and reports an invalid one as unowned', () => {
    const owner = (value: string) =>
      classify({ row: row('a', []), user: accountUser('a', { owner: value }) }, cfg, NOW);
    expect(owner(' Dev.Team@Example.COM ')).toMatchObject({
      owner: 'dev.team@example.com',
      ownerInvalid: undefined,
    });
    expect(owner('dev team')).toMatchObject({ owner: undefined, ownerInvalid: 'dev team' });
    expect(owner('a@b')).toMatchObject({ owner: undefined, ownerInvalid: 'a@b' });
  });

  it('reads the owner from the configured tag key', () => {
    const u = classify(
      { row: row('a', []), user: accountUser('a', { owner: 'x@example.com', Contact: 'y@example.com' }) },
      defaults({ OWNER_TAG_KEY: 'contact' }),
      NOW,
    );
    expect(u.owner).toBe('y@example.com');
  });

  it('marks a user GetAccountAuthorizationDetails did not list', () => {
    expect(classify({ row: row('gone', [key(1, 1)]) }, cfg, NOW)).toMatchObject({
      detailsMissing: true,
      exempt: false,
      owner: undefined,
    });
  });
});

describe('classify: enrollment', () => {
  it('is enrolled when both tags agree and rotation is enabled', () => {
    const u = classify(
      { row: row('a', [key(1, 1)]), user: boundUser('a'), enrollment: enrollment('a') },
      cfg,
      NOW,
    );
    expect(u).toMatchObject({ enrolled: true, enrollmentProblem: undefined });
    expect(u.enrollment?.secretArn).toBe(secretArn('a'));
  });

  it('is not enrolled when the user does not point back at the secret', () => {
    const u = classify(
      { row: row('a', [key(1, 1)]), user: accountUser('a'), enrollment: enrollment('a') },
      cfg,
      NOW,
    );
    expect(u.enrolled).toBe(false);
    expect(u.enrollmentProblem).toBe(
      "secret iam-key-rotator/a is tagged for this user but the user's iam-key-rotator:secret tag is missing",
    );
  });

  it('is not enrolled when rotation is off', () => {
    const u = classify(
      {
        row: row('a', [key(1, 1)]),
        user: boundUser('a'),
        enrollment: enrollment('a', { rotationEnabled: false }),
      },
      cfg,
      NOW,
    );
    expect(u).toMatchObject({
      enrolled: false,
      enrollmentProblem: 'rotation is not enabled on secret iam-key-rotator/a',
    });
  });

  it('reports a user tag naming a secret that is not tagged back', () => {
    const u = classify({ row: row('a', [key(1, 1)]), user: boundUser('a') }, cfg, NOW);
    expect(u.enrollmentProblem).toMatch(/names arn:aws:secretsmanager:.*, which is not tagged for this user/);
    expect(u.keys[0]?.secretCurrent).toBeNull();
  });

  it('flags a stuck rotation only after STUCK_ROTATION_HOURS', () => {
    const at = (hours: number) =>
      classify(
        {
          row: row('a', [key(1, 1)]),
          user: boundUser('a'),
          enrollment: enrollment('a', { pendingSince: new Date(NOW.getTime() - hours * 3_600_000) }),
        },
        cfg,
        NOW,
      ).stuckRotation;
    expect(at(5.9)).toBe(false);
    expect(at(6)).toBe(true);
  });

  it('matches key ids to slots by creation time and marks the AWSCURRENT key', () => {
    const k1 = key(1, 30);
    const k2 = key(2, 3);
    const u = classify(
      {
        row: row('a', [k1, k2]),
        user: boundUser('a'),
        enrollment: enrollment('a', { currentKeyId: 'AKIANEW' }),
        accessKeys: [
          { accessKeyId: 'AKIANEW', createDate: new Date(k2.lastRotated.getTime() + 400), status: 'Active' },
          { accessKeyId: 'AKIAOLD', createDate: k1.lastRotated, status: 'Active' },
        ],
      },
      cfg,
      NOW,
    );
    expect(u.keys.map((k) => [k.slot, k.keyId, k.secretCurrent])).toEqual([
      [1, 'AKIAOLD', false],
      [2, 'AKIANEW', true],
    ]);
  });

  it('leaves AWSCURRENT unknown (null) without key ids, and false when no secret exists', () => {
    const enrolled = classify(
      {
        row: row('a', [key(1, 1)]),
        user: boundUser('a'),
        enrollment: enrollment('a', { currentKeyId: 'AKIAX' }),
      },
      cfg,
      NOW,
    );
    expect(enrolled.keys[0]?.secretCurrent).toBeNull();
    const plain = classify({ row: row('b', [key(1, 1)]), user: accountUser('b') }, cfg, NOW);
    expect(plain.keys[0]?.secretCurrent).toBe(false);
  });

  it('breaks a same-second creation tie by key state, and otherwise leaves ids unknown', () => {
    const t = new Date('2026-06-01T00:00:00Z');
    const input = (status2: string) => ({
      row: row('a', [key(1, 0, { lastRotated: t, active: false }), key(2, 0, { lastRotated: t })]),
      accessKeys: [
        { accessKeyId: 'AKIA1', createDate: t, status: 'Inactive' },
        { accessKeyId: 'AKIA2', createDate: t, status: status2 },
      ],
    });
    expect(classify(input('Active'), cfg, NOW).keys.map((k) => k.keyId)).toEqual(['AKIA1', 'AKIA2']);
    expect(classify(input('Inactive'), cfg, NOW).keys.map((k) => k.keyId)).toEqual([undefined, undefined]);
  });
});

describe('classifyAccount', () => {
  it('joins report rows, users and secrets by user name', () => {
    const findings = classifyAccount(
      {
        rows: [row('a', [key(1, 1)]), row('b', [key(1, 80)]), row('<root_account>', [], { isRoot: true })],
        users: [boundUser('a'), accountUser('b', { owner: 'B@Example.com' })],
        enrollments: [enrollment('a')],
      },
      cfg,
      NOW,
    );
    expect(findings.map((f) => [f.userName, f.enrolled, f.owner, f.keys[0]?.status])).toEqual([
      ['a', true, 'dev@example.com', 'ok'],
      ['b', false, 'b@example.com', 'warning'],
      ['<root_account>', false, undefined, undefined],
    ]);
  });
});

describe('isValidEmail', () => {
  it.each([
    ['dev@example.com', true],
    ['first.last+tag@sub.example.co.uk', true],
    ['no-at-sign', false],
    ['two@@example.com', false],
    ['dot..dot@example.com', false],
    ['space @example.com', false],
    ['x@-bad.com', false],
  ])('%s → %s', (value, ok) => {
    expect(isValidEmail(value)).toBe(ok);
  });
});
