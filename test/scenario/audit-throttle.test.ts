import { afterEach, describe, expect, it } from 'vitest';
import { type AuditRun, runAudit } from '../../src/audit/run.js';
import type { ThrottleOptions } from '../sim/index.js';
import { seedTable, type Table } from './audit-table.js';

const tables: Table[] = [];
afterEach(() => {
  for (const t of tables.splice(0)) t.account.sim.restore();
});

/** The account's state without times: throttling only delays, so only times may differ. */
function timeless(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value)
      .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g, '<time>')
      .replace(/Run at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/g, 'Run at <time>'),
  );
}

const outcome = (run: AuditRun) => ({
  keysByStatus: run.summary.keysByStatus,
  actions: run.summary.actions,
  results: run.summary.results.map((r) => [
    r.userName,
    r.kind,
    r.outcome,
    r.keyId ?? null,
    r.message ?? null,
  ]),
  held: run.summary.held,
  failures: run.summary.failures,
  ownersNotified: run.summary.ownersNotified,
  subscriptionsCreated: run.summary.subscriptionsCreated,
  notifications: run.summary.notifications,
});

async function audited(throttle?: ThrottleOptions): Promise<{ t: Table; run: AuditRun }> {
  // The simulated account has one set of stubs: build and audit one account at a time.
  const t = await seedTable({}, throttle ? { throttle } : {});
  tables.push(t);
  t.account.sim.calls.reset();
  const run = await runAudit({ cfg: t.account.cfg });
  const state = t.account.sim.snapshot();
  t.account.sim.restore();
  return { t, run: { ...run, findings: state as AuditRun['findings'] } };
}

describe('throttled IAM', () => {
  it('the 560-user audit under account-wide IAM throttling has the same outcome as without', async () => {
    const plain = await audited();
    const throttled = await audited({
      // IAM's account-wide rate, far lower than AWS's, plus random throttles on every service.
      iam: { ratePerSecond: 2, burst: 2 },
      probability: 0.05,
    });

    const iamThrottles = throttled.t.account.sim.calls
      .failures()
      .filter((f) => f.service === 'iam' && f.error === 'Throttling').length;
    // Over half of the audit's IAM calls are throttled (597 of 963 with seed 1).
    expect(iamThrottles).toBeGreaterThan(300);
    expect(throttled.run.summary.ok).toBe(true);
    expect(timeless(outcome(throttled.run))).toEqual(timeless(outcome(plain.run)));
    // The whole account afterwards (keys, statuses, secrets' versions, subscriptions, mails) matches.
    expect(timeless(throttled.run.findings)).toEqual(timeless(plain.run.findings));
  });
});
