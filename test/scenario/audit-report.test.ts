import {
  CredentialReportExpiredException,
  CredentialReportNotPresentException,
  CredentialReportNotReadyException,
  GenerateCredentialReportCommand,
} from '@aws-sdk/client-iam';
import { afterEach, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/run.js';
import { CredentialReportError } from '../../src/audit/scan.js';
import { clients } from '../../src/aws/clients.js';
import { type AuditAccount, auditAccount, START } from './audit-account.js';

let a: AuditAccount | undefined;
afterEach(() => {
  a?.sim.restore();
  a = undefined;
});

const HOUR = 3_600_000;

function account(): AuditAccount {
  const acc = auditAccount({ ENFORCE: 'disable' });
  acc.sim.addUser('old-key', { tags: { owner: 'o@example.com' } });
  acc.sim.addKey('old-key', { ageDays: 100, lastUsedDaysAgo: 1 });
  acc.sim.addUser('young-key', { tags: { owner: 'o@example.com' } });
  acc.sim.addKey('young-key', { ageDays: 5, lastUsedDaysAgo: 1 });
  return acc;
}

const generate = () => clients().iam.send(new GenerateCredentialReportCommand({}));
const errorOf = (E: new (o: { message: string; $metadata: object }) => Error) =>
  new E({ message: 'simulated', $metadata: { httpStatusCode: 410 } });

describe('the credential report', () => {
  it('still in progress (another caller started it): the audit polls on the virtual clock until it is ready', async () => {
    a = account();
    await generate(); // STARTED at START; the sim takes 5 virtual seconds
    a.sim.clock.advance(1_000);
    a.sim.calls.reset();

    const { summary } = await runAudit({ cfg: a.cfg });

    expect(summary.reportGeneratedAt).toBe(START.toISOString());
    expect(summary.users).toBe(2);
    expect(summary.actions.disable).toEqual({ done: 1 });
    // INPROGRESS at +1 s, waited 2 s (INPROGRESS), then 4 s (COMPLETE).
    expect(a.sim.calls.count('GenerateCredentialReport')).toBe(3);
    expect(a.sim.calls.count('GetCredentialReport')).toBe(1);
    expect(a.sim.clock.nowMs() - START.getTime()).toBeGreaterThanOrEqual(7_000);
  });

  it('reused when younger than 4 hours, so changes since then show at the next report', async () => {
    a = account();
    await runAudit({ cfg: a.cfg });
    a.sim.clock.advance(3 * HOUR);
    a.sim.addUser('new-user', { tags: { owner: 'o@example.com' } });
    a.sim.addKey('new-user', { ageDays: 200 }); // cannot happen in AWS, but shows what the report holds
    a.sim.calls.reset();

    const { summary, messages } = await runAudit({ cfg: a.cfg });

    expect(summary.reportGeneratedAt).toBe(START.toISOString());
    expect(summary.users).toBe(2);
    expect(a.sim.calls.count('GenerateCredentialReport')).toBe(1);
    // Nothing happened to the owner's keys this time: no second mail about it today.
    expect(messages.map((m) => m.recipient)).toEqual(['security']);
    // The key disabled three hours ago still shows active in the old report: it is not disabled twice.
    expect(summary.results.map((r) => [r.userName, r.outcome, r.message])).toEqual([
      ['old-key', 'skipped', 'the key is already inactive'],
    ]);
    expect(a.sim.calls.count('UpdateAccessKey')).toBe(0);
  });

  it('expired (older than 4 hours): a new one is generated and used', async () => {
    a = account();
    await runAudit({ cfg: a.cfg });
    a.sim.clock.advance(4 * HOUR + 60_000);
    a.sim.addUser('new-user', { tags: { owner: 'o@example.com' } });
    a.sim.addKey('new-user', { ageDays: 1 });

    const { summary } = await runAudit({ cfg: a.cfg });

    expect(new Date(summary.reportGeneratedAt).getTime()).toBeGreaterThan(START.getTime() + 4 * HOUR);
    expect(summary.users).toBe(3);
  });

  it.each([
    ['ReportNotPresent', CredentialReportNotPresentException],
    ['ReportExpired', CredentialReportExpiredException],
  ] as const)('GetCredentialReport answering %s: the audit generates again and completes', async (_, E) => {
    a = account();
    await generate();
    a.sim.clock.advance(10_000); // the report is COMPLETE
    a.sim.failCall('GetCredentialReport', { error: errorOf(E) });
    a.sim.calls.reset();

    const { summary } = await runAudit({ cfg: a.cfg });

    expect(summary.ok).toBe(true);
    expect(summary.actions.disable).toEqual({ done: 1 });
    expect(a.sim.calls.count('GetCredentialReport')).toBe(2);
  });

  it('never ready: the audit gives up after 5 virtual minutes with a clear error, having changed nothing', async () => {
    a = account();
    a.sim.failWhen((op) =>
      op === 'GetCredentialReport' ? errorOf(CredentialReportNotReadyException) : undefined,
    );
    const before = a.sim.snapshot();

    const err = await runAudit({ cfg: a.cfg }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(CredentialReportError);
    expect((err as Error).message).toMatch(
      /^the credential report was not ready after 300 s .*nothing was changed$/,
    );
    expect(a.sim.snapshot()).toEqual(before);
    expect(a.sim.calls.count('UpdateAccessKey')).toBe(0);
    // Polls slow down: a handful of calls over five minutes, not one every two seconds.
    expect(a.sim.calls.count('GetCredentialReport')).toBeLessThanOrEqual(25);
  });
});
