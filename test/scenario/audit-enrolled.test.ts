import { afterEach, describe, expect, it } from 'vitest';
import { auditHandler } from '../../handlers/audit.js';
import { ageInDays } from '../../src/audit/classify.js';
import { runAudit } from '../../src/audit/run.js';
import { resetConfig } from '../../src/config.js';
import {
  type AuditAccount,
  auditAccount,
  captureLogs,
  DAY_MS,
  enroll,
  keyIdAt,
  rotateNow,
  usersInBody,
} from './audit-account.js';

let a: AuditAccount | undefined;
afterEach(() => {
  a?.sim.restore();
  a = undefined;
  resetConfig();
});

const MAX = 90;

/** Applications read the secret each day and sign requests with its AWSCURRENT key. */
function useCurrentKeys(acc: AuditAccount, secrets: Map<string, string>): void {
  for (const arn of secrets.values()) {
    const id = keyIdAt(acc, arn);
    if (id && acc.sim.key(id)?.status === 'Active') acc.sim.useKey(id);
  }
}

/** Every enrolled user's keys obey the invariants; returns the oldest active key's age in ms. */
function checkEnrolled(acc: AuditAccount, secrets: Map<string, string>): number {
  const now = acc.sim.clock.nowMs();
  let oldest = 0;
  for (const [user, arn] of secrets) {
    const keys = acc.sim.keys(user);
    expect(keys.length, user).toBeLessThanOrEqual(2);
    const current = keyIdAt(acc, arn);
    expect(acc.sim.key(current as string)?.status, `${user}: AWSCURRENT is active`).toBe('Active');
    for (const k of keys.filter((x) => x.status === 'Active')) {
      const age = now - k.created.getTime();
      expect(age, `${user}: ${k.accessKeyId} is ${age / DAY_MS} days old`).toBeLessThan(MAX * DAY_MS);
      expect(ageInDays(k.created, acc.sim.clock.now()), user).toBeLessThan(MAX);
      oldest = Math.max(oldest, age);
    }
  }
  return oldest;
}

describe('enrolled users, audited daily', () => {
  it.each([
    ['the audit alone rotates', false],
    ["Secrets Manager's schedule (82 days) also rotates", true],
  ])(
    'never hold an active key older than MAX_KEY_AGE_DAYS over 200 days (%s), and owners are not mailed daily',
    async (_, scheduled) => {
      a = auditAccount({ EXEMPT_GROUP: 'break-glass' });
      const { sim, cfg } = a;
      const secrets = new Map<string, string>();
      // Enrolled at different points of their keys' lives; the secrets may also carry Secrets
      // Manager's own schedule (MAX - GRACE - 1 = 82 days), which then runs alongside the audit.
      for (const [user, age] of [
        ['svc-new', 0],
        ['svc-mid', 45],
        ['svc-due', 81],
        ['svc-day82', 82],
      ] as const) {
        sim.addUser(user, { tags: { owner: 'platform@example.com' } });
        const key = sim.addKey(user, { ageDays: age, lastUsedDaysAgo: 0 });
        secrets.set(
          user,
          await enroll(a, user, key, scheduled ? { rotationDays: cfg.rotationScheduleDays } : {}),
        );
      }
      // A user who is not enrolled, with the same owner: reminders follow the cadence.
      sim.addUser('legacy', { tags: { owner: 'platform@example.com' } });
      const legacy = sim.addKey('legacy', { ageDays: 60, lastUsedDaysAgo: 0 });
      sim.addSubscription(a.topicArn, 'email', 'platform@example.com', {
        filterPolicy: { owner: ['platform@example.com'] },
      });

      const mailDays: number[] = [];
      const legacyMailAges: number[] = [];
      let rotations = 0;
      let deactivations = 0;
      let oldest = 0;
      for (let day = 0; day < 200; day++) {
        await sim.runScheduledRotations();
        useCurrentKeys(a, secrets);
        sim.useKey(legacy.accessKeyId);
        oldest = Math.max(oldest, checkEnrolled(a, secrets));
        const before = sim.deliveries('platform@example.com').length;

        const { summary } = await runAudit({ cfg });

        expect(summary.failures, `day ${day}`).toEqual([]);
        rotations += summary.actions.rotate.done ?? 0;
        deactivations += summary.actions['deactivate-previous'].done ?? 0;
        oldest = Math.max(oldest, checkEnrolled(a, secrets));
        const mails = sim.deliveries('platform@example.com').slice(before);
        expect(mails.length, `day ${day}`).toBeLessThanOrEqual(1);
        if (mails.length > 0) {
          mailDays.push(day);
          if (usersInBody(mails[0]?.message ?? '').includes('legacy')) legacyMailAges.push(60 + day);
        }
        sim.clock.advance(DAY_MS);
      }

      // Every user rotated at least twice (the audit or the secret's own schedule, whichever came
      // first), and each rotation's previous key was retired by the audit.
      const all = sim.rotations();
      expect(all.length).toBeGreaterThanOrEqual(2 * secrets.size);
      expect(all.every((r) => r.outcome === 'succeeded')).toBe(true);
      expect(rotations).toBeGreaterThanOrEqual(scheduled ? 2 : all.length);
      expect(deactivations).toBeGreaterThanOrEqual(all.length - secrets.size);
      expect(oldest).toBeGreaterThan(88 * DAY_MS);
      // The legacy key: warning start, 7/3/1 days left, expiry, then weekly; not daily.
      expect(legacyMailAges).toEqual([
        76, 83, 87, 89, 90, 97, 104, 111, 118, 125, 132, 139, 146, 153, 160, 167, 174, 181, 188, 195, 202,
        209, 216, 223, 230, 237, 244, 251, 258,
      ]);
      expect(mailDays.length).toBeLessThan(80);
    },
  );

  it('a stuck AWSPENDING is reported, cleared, and the next rotation runs; AWSCURRENT is never touched', async () => {
    a = auditAccount();
    const { sim, cfg } = a;
    sim.addUser('svc', { tags: { owner: 'team@example.com' } });
    const key = sim.addKey('svc', { ageDays: 82, lastUsedDaysAgo: 0 });
    const arn = await enroll(a, 'svc', key);
    sim.addSubscription(a.topicArn, 'email', 'sec@example.com', { filterPolicy: { audience: ['security'] } });

    // Day 0: a rotation started by hand fails at testSecret and stays pending.
    a.broken.add(arn);
    await rotateNow(arn);
    const stuckVersion = sim.versionWithStage(arn, 'AWSPENDING');
    const strayKey = keyIdAt(a, arn, 'AWSPENDING');
    expect(stuckVersion).toBeDefined();

    // Two hours later: in progress, not stuck; the audit holds the due rotation back.
    sim.clock.advance(2 * 3_600_000);
    let run = await runAudit({ cfg });
    expect(run.summary.results).toEqual([]);
    expect(run.summary.held).toMatchObject([{ userName: 'svc', kind: 'rotate' }]);

    // Next day: stuck for 26 hours. The fault is gone, so the rotation after the clearing works.
    a.broken.clear();
    sim.clock.advance(DAY_MS);
    run = await runAudit({ cfg });
    expect(run.summary.results.map((r) => [r.kind, r.outcome])).toEqual([
      ['clear-stuck', 'done'],
      ['rotate', 'done'],
    ]);
    const security = sim.deliveries('sec@example.com').at(-1)?.message ?? '';
    expect(security).toContain('Stuck rotations (AWSPENDING older than 6 hours) (1)');
    expect(security).toContain('svc: iam-key-rotator/');
    const current = keyIdAt(a, arn);
    expect(current).not.toBe(key.accessKeyId);
    expect(sim.versionWithStage(arn, 'AWSPENDING')).toBeUndefined();
    // The stuck rotation's never-used key made room; the old AWSCURRENT is now AWSPREVIOUS, active.
    expect(sim.key(strayKey as string)).toBeUndefined();
    expect(sim.keys('svc').map((k) => [k.accessKeyId, k.status])).toEqual([
      [key.accessKeyId, 'Active'],
      [current, 'Active'],
    ]);
  });

  it('with a non-enrolled-looking user whose secret holds its key, enforcement never disables that key', async () => {
    a = auditAccount({ ENFORCE: 'delete' });
    const { sim, cfg } = a;
    const arns = new Map<string, string>();
    for (const [user, o] of [
      ['half-enrolled', { userTag: false }],
      ['rotation-off', { rotationEnabled: false }],
    ] as const) {
      sim.addUser(user, { tags: { owner: 'ops@example.com' } });
      const key = sim.addKey(user, { ageDays: 95, lastUsedDaysAgo: 0 });
      arns.set(user, await enroll(a, user, key, o));
    }
    const acc = a;
    const kept = new Map([...arns].map(([u, arn]) => [u, keyIdAt(acc, arn) as string]));
    for (let day = 0; day < 60; day++) {
      const { summary } = await runAudit({ cfg });
      expect(
        summary.results.filter((r) => r.outcome === 'done'),
        `day ${day}`,
      ).toEqual([]);
      sim.clock.advance(DAY_MS);
    }
    for (const [user, id] of kept) expect(sim.key(id)?.status, user).toBe('Active');
  });

  it('no secret access key appears in any SNS message, log line or handler result', async () => {
    a = auditAccount({ ENFORCE: 'delete' });
    const { sim } = a;
    process.env.TOPIC_ARN = a.topicArn;
    process.env.ENFORCE = 'delete';
    resetConfig();
    const secrets = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const user = `svc${i}`;
      sim.addUser(user, { tags: { owner: `o${i % 2}@example.com` } });
      const key = sim.addKey(user, { ageDays: 70 + i * 5, lastUsedDaysAgo: 0 });
      secrets.set(user, await enroll(a, user, key));
      sim.addUser(`human${i}`, { tags: { owner: `o${i % 2}@example.com` } });
      sim.addKey(`human${i}`, { ageDays: 85 + i * 7, lastUsedDaysAgo: 0 });
    }
    for (const o of ['o0@example.com', 'o1@example.com'])
      sim.addSubscription(a.topicArn, 'email', o, { filterPolicy: { owner: [o] } });
    // A failing call puts error text (the most likely leak) into the mails and logs too.
    sim.failCall('UpdateAccessKey', { nth: 2 });

    const logs = captureLogs();
    const results: string[] = [];
    try {
      for (let day = 0; day < 40; day++) {
        useCurrentKeys(a, secrets);
        const out = await auditHandler({}).catch((e: unknown) => e);
        results.push(JSON.stringify(out), String(out));
        sim.clock.advance(DAY_MS);
      }
    } finally {
      logs.restore();
      delete process.env.TOPIC_ARN;
      delete process.env.ENFORCE;
    }

    const issued = sim.issuedSecrets();
    expect(issued.length).toBeGreaterThan(12);
    expect(sim.rotations().filter((r) => r.outcome === 'succeeded').length).toBeGreaterThanOrEqual(6);
    const published = sim.published();
    expect(published.length).toBeGreaterThan(40);
    const haystacks = [
      ...published.map((p) => `${p.subject ?? ''}\n${p.message}\n${JSON.stringify(p.attributes)}`),
      ...logs.lines,
      ...results,
    ];
    expect(logs.lines.length).toBeGreaterThan(100);
    for (const secret of issued) {
      for (const text of haystacks) expect(text.includes(secret)).toBe(false);
    }
  });
});
