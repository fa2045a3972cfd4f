import { afterEach, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/run.js';
import { type AuditAccount, auditAccount, enroll } from './audit-account.js';

let a: AuditAccount | undefined;
afterEach(() => {
  a?.sim.restore();
  a = undefined;
});

/**
 * `users` users: young keys, keys in their warning period (owners are mailed), exempt and enrolled
 * users, none due for an action; `due` more users whose key is 100 days old (ENFORCE=disable).
 */
async function account(users: number, due = 0): Promise<AuditAccount> {
  const acc = auditAccount({ ENFORCE: 'disable', EXEMPT_GROUP: 'break-glass' });
  const { sim } = acc;
  for (let i = 0; i < users + due; i++) {
    const name = `user-${String(i).padStart(5, '0')}`;
    const tags: Record<string, string> = { owner: `team${Math.floor(i / 100)}@example.com` };
    const regular = i < users;
    if (regular && i % 100 === 1) tags['iam-key-rotator:exempt'] = 'true';
    sim.addUser(name, { tags, ...(regular && i % 100 === 2 && { groups: ['break-glass'] }) });
    const age = regular ? (i % 10 === 0 ? 76 : i % 70) : 100;
    const key = sim.addKey(name, { ageDays: age, lastUsedDaysAgo: 1 });
    if (regular && i % 100 === 3) await enroll(acc, name, key);
  }
  acc.sim.calls.reset();
  return acc;
}

const iamCalls = (acc: AuditAccount) =>
  Object.fromEntries(
    acc.sim.calls
      .entries()
      .filter((e) => e.service === 'iam')
      .reduce((m, e) => m.set(e.op, (m.get(e.op) ?? 0) + 1), new Map<string, number>()),
  );

describe('audit cost at scale', () => {
  it('5,000 users and nobody to act on: 10 IAM calls, none of them per user', async () => {
    a = await account(5_000);

    const { summary } = await runAudit({ cfg: a.cfg });

    expect(summary.users).toBe(5_000);
    expect(summary.results).toEqual([]);
    expect(summary.ownersNotified).toBe(50);
    // A fresh report: STARTED, INPROGRESS, COMPLETE (waits of 2 s and 4 s), then the report.
    expect(iamCalls(a)).toEqual({
      GenerateCredentialReport: 3,
      GetCredentialReport: 1,
      GetAccountAuthorizationDetails: 5,
      ListAccountAliases: 1,
    });
    expect(a.sim.calls.count(undefined, 'iam')).toBe(10);
    // The other services: O(1) as well (owners' digests 10 to a batch, plus the summary).
    expect(a.sim.calls.byOperation()).toMatchObject({
      ListSecrets: 1,
      GetCallerIdentity: 1,
      PublishBatch: Math.ceil(summary.ownersNotified / 10) + 1,
    });
    expect(a.sim.calls.count('GetSecretValue')).toBe(0);
  });

  it('a second run within 4 hours reuses the report: 8 IAM calls', async () => {
    a = await account(5_000);
    await runAudit({ cfg: a.cfg });
    a.sim.clock.advance(3_600_000);
    a.sim.calls.reset();

    await runAudit({ cfg: a.cfg });

    expect(iamCalls(a)).toEqual({
      GenerateCredentialReport: 1,
      GetCredentialReport: 1,
      GetAccountAuthorizationDetails: 5,
      ListAccountAliases: 1,
    });
  });

  it('grows by one IAM call per thousand users', async () => {
    const counts: number[] = [];
    for (const users of [999, 1_000, 1_001, 3_000]) {
      a = await account(users);
      await runAudit({ cfg: a.cfg });
      counts.push(a.sim.calls.count(undefined, 'iam'));
      a.sim.restore();
    }
    a = undefined;
    expect(counts).toEqual([6, 6, 7, 8]);
  });

  it('acting on 12 of 5,012 users adds two IAM calls per user acted on', async () => {
    a = await account(5_000, 12);

    const { summary } = await runAudit({ cfg: a.cfg });

    expect(summary.actions.disable).toEqual({ done: 12 });
    expect(iamCalls(a)).toEqual({
      GenerateCredentialReport: 3,
      GetCredentialReport: 1,
      GetAccountAuthorizationDetails: 6,
      ListAccountAliases: 1,
      ListAccessKeys: 12,
      UpdateAccessKey: 12,
    });
  });
});
