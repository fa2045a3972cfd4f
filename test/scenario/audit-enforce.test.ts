import { afterEach, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/run.js';
import { setAccessKeyStatus } from '../../src/aws/iam.js';
import { type AuditAccount, auditAccount, DAY_MS } from './audit-account.js';

let a: AuditAccount | undefined;
afterEach(() => {
  a?.sim.restore();
  a = undefined;
});

interface Timeline {
  /** Key age (days) on the day the audit disabled it / deleted it; null when it never did. */
  disabledAt: number | null;
  deletedAt: number | null;
  /** The owner's mail on the day the key reached the limit (age 90). */
  expiryMail: string;
}

/**
 * One user per case, keys used daily by an application while active, audited daily from key age
 * `from` to `to`. `reactivatedAt`: that day the owner turns the disabled key back on and it is used.
 */
async function walk(
  enforce: string,
  o: { from?: number; to?: number; exempt?: boolean; reactivatedAt?: number } = {},
): Promise<Timeline> {
  const from = o.from ?? 85;
  const to = o.to ?? 135;
  a = auditAccount({ ENFORCE: enforce });
  const { sim, cfg } = a;
  sim.addUser('app', {
    tags: { owner: 'dev@example.com', ...(o.exempt && { 'iam-key-rotator:exempt': 'true' }) },
  });
  const key = sim.addKey('app', { ageDays: from, lastUsedDaysAgo: 0 });
  sim.addSubscription(a.topicArn, 'email', 'dev@example.com', {
    filterPolicy: { owner: ['dev@example.com'] },
  });
  const t: Timeline = { disabledAt: null, deletedAt: null, expiryMail: '' };
  for (let age = from; age <= to; age++) {
    if (age === o.reactivatedAt) await setAccessKeyStatus('app', key.accessKeyId, 'Active');
    if (sim.key(key.accessKeyId)?.status === 'Active') sim.useKey(key.accessKeyId);
    const before = sim.deliveries('dev@example.com').length;
    const { summary } = await runAudit({ cfg });
    expect(summary.failures).toEqual([]);
    for (const r of summary.results) {
      expect(r.outcome, `age ${age}`).toBe('done');
      if (r.kind === 'disable') t.disabledAt = age;
      if (r.kind === 'delete') t.deletedAt = age;
    }
    if (age === 90) {
      t.expiryMail = (sim.deliveries('dev@example.com').slice(before)[0]?.message ?? '').replace(/\s+/g, ' ');
    }
    sim.clock.advance(DAY_MS);
  }
  return t;
}

describe('ENFORCE for users that are not enrolled', () => {
  it('notify: never changes a key, however old', async () => {
    const t = await walk('notify');
    expect(t).toMatchObject({ disabledAt: null, deletedAt: null });
    expect(a?.sim.keys('app')[0]?.status).toBe('Active');
    expect(t.expiryMail).toContain('nothing automatic: please rotate now (it reaches the limit today)');
  });

  it('disable: disables the key at MAX+10 days (100) and never deletes it', async () => {
    const t = await walk('disable');
    expect(t).toMatchObject({ disabledAt: 100, deletedAt: null });
    expect(a?.sim.keys('app')[0]?.status).toBe('Inactive');
    // The owner was told the date in advance (the key was created 2026-03-08; 90 days: 2026-06-06).
    expect(t.expiryMail).toContain('the key will be disabled on 2026-06-16');
  });

  it('delete: disables at MAX+10 (100), deletes at MAX+20 (110) once inactive and unused for 10 days', async () => {
    const t = await walk('delete');
    expect(t).toMatchObject({ disabledAt: 100, deletedAt: 110 });
    expect(a?.sim.keys('app')).toEqual([]);
    expect(t.expiryMail).toContain('disabled on 2026-06-16 and deleted from 2026-06-26');
  });

  it('delete: a key found active past MAX+20 is disabled first and deleted only 10 quiet days later', async () => {
    const t = await walk('delete', { from: 115, to: 140 });
    expect(t).toMatchObject({ disabledAt: 115, deletedAt: 125 });
  });

  it('delete: a disabled key that was turned back on and used is deleted only after 10 quiet days', async () => {
    const t = await walk('delete', { from: 85, to: 130, reactivatedAt: 104 });
    // Disabled at 100; on again and used at 104, so disabled again; deleted 10 days after that use.
    expect(t).toMatchObject({ disabledAt: 104, deletedAt: 114 });
  });

  it('exempt users are never changed, whatever ENFORCE says', async () => {
    const t = await walk('delete', { exempt: true });
    expect(t).toMatchObject({ disabledAt: null, deletedAt: null });
    expect(a?.sim.keys('app')[0]?.status).toBe('Active');
  });
});
