import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditIncompleteError, auditHandler } from '../../handlers/audit.js';
import { resetConfig } from '../../src/config.js';
import { metrics } from '../../src/metrics.js';
import { type AuditAccount, auditAccount, DAY_MS, usersInBody } from './audit-account.js';

let a: AuditAccount;
const OWNERS = ['o0@example.com', 'o1@example.com', 'o2@example.com', 'o3@example.com', 'o4@example.com'];
const SECURITY = 'security@example.com';
const user = (i: number) => `u${String(i).padStart(2, '0')}`;
/** u00..u09 hold 100-day keys (ENFORCE=disable disables them); u10..u29 young or warned keys. */
const DUE = Array.from({ length: 10 }, (_, i) => user(i));

beforeEach(() => {
  a = auditAccount({ ENFORCE: 'disable' });
  process.env.TOPIC_ARN = a.topicArn;
  process.env.ENFORCE = 'disable';
  resetConfig();
  metrics.clearMetrics();
  for (let i = 0; i < 30; i++) {
    a.sim.addUser(user(i), { tags: { owner: OWNERS[i % 5] as string } });
    a.sim.addKey(user(i), { ageDays: i < 10 ? 100 : i < 15 ? 76 : 20, lastUsedDaysAgo: 1 });
  }
  for (const o of OWNERS) a.sim.addSubscription(a.topicArn, 'email', o, { filterPolicy: { owner: [o] } });
  a.sim.addSubscription(a.topicArn, 'email', SECURITY, { filterPolicy: { audience: ['security'] } });
});
afterEach(() => {
  a.sim.restore();
  delete process.env.TOPIC_ARN;
  delete process.env.ENFORCE;
  resetConfig();
});

type Entry = { MessageAttributes?: Record<string, { StringValue?: string }> };
const ownerOf = (e: Entry | undefined) => e?.MessageAttributes?.owner?.StringValue;

/** u03's key cannot be changed; mail to o2 is refused, whether batched or not. */
function injectFaults(): () => void {
  return a.sim.failWhen((op, input) => {
    if (op === 'UpdateAccessKey' && (input as { UserName?: string }).UserName === 'u03') {
      return new Error('simulated IAM failure');
    }
    const entries =
      op === 'PublishBatch'
        ? ((input as { PublishBatchRequestEntries?: Entry[] }).PublishBatchRequestEntries ?? [])
        : op === 'Publish'
          ? [input as Entry]
          : [];
    if (entries.some((e) => ownerOf(e) === 'o2@example.com')) return new Error('simulated SNS failure');
    return undefined;
  });
}

describe('one failing user and one failing owner', () => {
  it('do not stop the run: the rest is done, both are reported, and the handler fails only at the end', async () => {
    const remove = injectFaults();

    const err = await auditHandler({ source: 'schedule' }).catch((e: unknown) => e);
    remove();

    expect(err).toBeInstanceOf(AuditIncompleteError);
    const summary = (err as AuditIncompleteError).summary;
    expect(summary.failures).toEqual([
      { subject: 'u03', message: 'disable: Error: simulated IAM failure' },
      { subject: 'o2@example.com', message: 'owner digest not sent: Error: simulated SNS failure' },
    ]);
    expect((err as Error).message).toBe(
      'audit finished with 2 failure(s) after completing the rest: u03: disable: Error: simulated IAM failure; ' +
        'o2@example.com: owner digest not sent: Error: simulated SNS failure',
    );
    // Every other due key was disabled.
    for (const u of DUE) {
      expect(a.sim.keys(u)[0]?.status, u).toBe(u === 'u03' ? 'Active' : 'Inactive');
    }
    expect(summary.actions.disable).toEqual({ done: 9, failed: 1 });
    // Every other owner got their digest; o2 none.
    for (const o of OWNERS) expect(a.sim.deliveries(o), o).toHaveLength(o === 'o2@example.com' ? 0 : 1);
    expect(summary.ownersNotified).toBe(4);
    expect(summary.notifications.find((n) => n.recipient === 'o2@example.com')?.outcome).toBe('failed');
    // The owner of u03 (o3) hears that the action failed and will be retried.
    const o3 = a.sim.deliveries('o3@example.com')[0]?.message ?? '';
    expect(usersInBody(o3)).toContain('u03');
    expect(o3).toContain('disabling FAILED: Error: simulated IAM failure');
    // Security hears about both.
    const security = a.sim.deliveries(SECURITY);
    expect(security).toHaveLength(1);
    expect(security[0]?.subject).toContain('2 failures');
    expect(security[0]?.message).toContain('u03: disable key 1: Error: simulated IAM failure');
    expect(security[0]?.message).toContain(
      'o2@example.com: owner digest not sent: Error: simulated SNS failure',
    );
  });

  it('a retry the same day (Lambda retries a failed async invoke) and the next day do not act twice', async () => {
    const remove = injectFaults();
    await expect(auditHandler({})).rejects.toThrow(AuditIncompleteError);
    remove();
    const updatesAfterFirst = a.sim.calls.count('UpdateAccessKey');

    // Lambda's retry, minutes later: the credential report (cached 4 hours) still shows the keys active.
    a.sim.clock.advance(60_000);
    const retry = await auditHandler({});
    expect(retry.ok).toBe(true);
    expect(retry.results.map((r) => [r.userName, r.outcome])).toEqual(
      DUE.map((u) => [u, u === 'u03' ? 'done' : 'skipped']),
    );
    expect(a.sim.calls.count('UpdateAccessKey') - updatesAfterFirst).toBe(1);
    for (const u of DUE) expect(a.sim.keys(u)[0]?.status, u).toBe('Inactive');

    // The next day: a fresh report, nothing left to do.
    a.sim.clock.advance(DAY_MS);
    const next = await auditHandler({});
    expect(next.results).toEqual([]);
    expect(next.ok).toBe(true);
    expect(a.sim.calls.count('UpdateAccessKey') - updatesAfterFirst).toBe(1);
  });
});
