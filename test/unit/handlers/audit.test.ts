import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AuditEventError,
  AuditIncompleteError,
  audit,
  auditHandler,
  handler,
  parseAuditEvent,
} from '../../../handlers/audit.js';
import type { AuditSummary } from '../../../src/audit/run.js';
import { resetConfig } from '../../../src/config.js';
import { metrics, recordAuditMetrics } from '../../../src/metrics.js';
import { type AuditAccount, auditAccount, captureLogs } from '../../scenario/audit-account.js';

const context = {
  functionName: 'iam-key-rotator-dev-audit',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:iam-key-rotator-dev-audit',
  memoryLimitInMB: '512',
  awsRequestId: 'req-audit-1',
  getRemainingTimeInMillis: () => 600_000,
} as unknown as Context;

const scheduledEvent = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-06-01T06:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/audit'],
  detail: {},
};

describe('parseAuditEvent', () => {
  it.each([
    ['no event', undefined, {}],
    ['null', null, {}],
    ['the scheduled input of serverless.yml', { source: 'schedule' }, { dryRun: undefined }],
    ["EventBridge's scheduled event", scheduledEvent, { dryRun: undefined }],
    ['a dry run invoke', { dryRun: true }, { dryRun: true }],
    ['a real run invoke', { dryRun: false }, { dryRun: false }],
  ])('accepts %s', (_, event, expected) => {
    expect(parseAuditEvent(event)).toEqual(expected);
  });

  it.each([
    [{ dryRun: 'yes' }, 'invalid audit event: "dryRun" must be true or false (got "yes"); nothing was done'],
    [
      { dryRun: 'true' },
      'invalid audit event: "dryRun" must be true or false (got "true"); nothing was done',
    ],
    [{ dryRun: 1 }, 'invalid audit event: "dryRun" must be true or false (got 1); nothing was done'],
    [
      { dryrun: true },
      'invalid audit event: unknown field "dryrun" (the only setting is "dryRun": true or false); nothing was done',
    ],
    [
      { dry_run: true, force: 1 },
      'invalid audit event: unknown fields "dry_run", "force" (the only setting is "dryRun": true or false); nothing was done',
    ],
    [
      'dryRun',
      'invalid audit event: expected a JSON object such as {"dryRun": true} (got "dryRun"); nothing was done',
    ],
    [
      [true],
      'invalid audit event: expected a JSON object such as {"dryRun": true} (got [true]); nothing was done',
    ],
  ])('refuses %j with a specific error', (event, message) => {
    expect(() => parseAuditEvent(event)).toThrow(new AuditEventError(message));
  });
});

describe('audit handler on the simulated account', () => {
  let a: AuditAccount;
  beforeEach(() => {
    a = auditAccount({ ENFORCE: 'disable' });
    // The handler reads its settings from the environment, as in Lambda.
    vi.stubEnv('TOPIC_ARN', a.topicArn);
    vi.stubEnv('ENFORCE', 'disable');
    resetConfig();
    // auditHandler() called without middy leaves its metrics in the shared buffer.
    metrics.clearMetrics();
    a.sim.addSubscription(a.topicArn, 'email', 'security@example.com', {
      filterPolicy: { audience: ['security'] },
    });
    for (const [user, age] of [
      ['ann', 100],
      ['ben', 101],
      ['cat', 40],
    ] as const) {
      a.sim.addUser(user, { tags: { owner: `${user}@example.com` } });
      a.sim.addKey(user, { ageDays: age, lastUsedDaysAgo: 1 });
    }
  });
  afterEach(() => {
    a.sim.restore();
    vi.unstubAllEnvs();
    resetConfig();
  });

  it('refuses an invalid event before any AWS call, changing nothing', async () => {
    const before = a.sim.snapshot();
    await expect(auditHandler({ dryRun: 'yes' })).rejects.toThrow(AuditEventError);
    expect(a.sim.calls.count()).toBe(0);
    expect(a.sim.snapshot()).toEqual(before);
  });

  it('returns a JSON summary: counts per status and per action, owners notified, failures', async () => {
    const summary = await auditHandler({ source: 'schedule' });

    const json = JSON.parse(JSON.stringify(summary)) as AuditSummary;
    expect(json).toMatchObject({
      accountId: '123456789012',
      dryRun: false,
      users: 3,
      keys: 3,
      keysByStatus: { ok: 1, warning: 0, expired: 2, unused: 0, inactive: 0 },
      actions: { disable: { done: 2 }, rotate: {}, 'deactivate-previous': {}, 'clear-stuck': {}, delete: {} },
      ownersNotified: 2,
      failures: [],
      ok: true,
    });
    expect(json.results.map((r) => [r.userName, r.kind, r.outcome])).toEqual([
      ['ann', 'disable', 'done'],
      ['ben', 'disable', 'done'],
    ]);
    expect(a.sim.keys('ann')[0]?.status).toBe('Inactive');
    expect(a.sim.deliveries('security@example.com')).toHaveLength(1);
  });

  it('{ "dryRun": true } changes nothing and says what it would do', async () => {
    const before = a.sim.snapshot();
    const summary = await auditHandler({ dryRun: true });
    expect(a.sim.snapshot()).toEqual(before);
    expect(summary.dryRun).toBe(true);
    expect(summary.actions.disable).toEqual({ 'dry-run': 2 });
  });

  it('finishes the run, then fails with AuditIncompleteError when one user failed', async () => {
    a.sim.failWhen((op, input) =>
      op === 'UpdateAccessKey' && (input as { UserName?: string }).UserName === 'ann'
        ? new Error('simulated outage')
        : undefined,
    );

    const err = await auditHandler({}).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AuditIncompleteError);
    expect((err as Error).message).toBe(
      'audit finished with 1 failure(s) after completing the rest: ann: disable: Error: simulated outage',
    );
    const summary = (err as AuditIncompleteError).summary;
    expect(summary.results.map((r) => [r.userName, r.outcome])).toEqual([
      ['ann', 'failed'],
      ['ben', 'done'],
    ]);
    // The rest was done: ben's key is disabled and the summary reached security.
    expect(a.sim.keys('ben')[0]?.status).toBe('Inactive');
    const [security] = a.sim.deliveries('security@example.com');
    expect(security?.message).toContain('ann: disable key 1: Error: simulated outage');
  });

  it('the middy handler publishes metrics even when the run fails', async () => {
    a.sim.failCall('UpdateAccessKey');
    // POWERTOOLS_DEV turns EMF output off in tests: capture what would be flushed instead.
    const flushed: Record<string, unknown>[] = [];
    const flush = vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(function (
      this: typeof metrics,
    ) {
      if (metrics.hasStoredMetrics())
        flushed.push(metrics.serializeMetrics() as unknown as Record<string, unknown>);
      metrics.clearMetrics();
      return metrics;
    });
    const logs = captureLogs();
    try {
      await expect(handler({}, context)).rejects.toThrow(AuditIncompleteError);
    } finally {
      logs.restore();
      flush.mockRestore();
    }
    expect(flushed).toHaveLength(1);
    expect(flushed[0]).toMatchObject({ actions_disable: 1, actions_failed: 1, failures: 1, keys_expired: 2 });
    const incomplete = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.message === 'Audit finished with failures');
    expect(incomplete).toMatchObject({
      level: 'ERROR',
      function_request_id: 'req-audit-1',
      failures: [
        { subject: 'ann', message: 'disable: SimulatedFault: Simulated failure of UpdateAccessKey' },
      ],
    });
  });

  it('the undecorated audit() returns the summary without throwing on failures', async () => {
    a.sim.failCall('UpdateAccessKey');
    const summary = await audit({});
    expect(summary.ok).toBe(false);
    expect(summary.failures).toHaveLength(1);
  });
});

describe('recordAuditMetrics', () => {
  const summary = (dryRun: boolean): AuditSummary =>
    ({
      dryRun,
      users: 7,
      keysByStatus: { ok: 3, warning: 1, expired: 2, unused: 1, inactive: 1 },
      actions: {
        rotate: dryRun ? { 'dry-run': 2 } : { done: 2, failed: 1 },
        'deactivate-previous': {},
        'clear-stuck': {},
        disable: dryRun ? {} : { done: 1, skipped: 1 },
        delete: {},
      },
      held: [{ userName: 'x', kind: 'disable', reason: 'r' }],
      ownersNotified: 3,
      notifications: [
        { recipient: 'a', subject: 's', severity: 'warning', outcome: 'sent' },
        { recipient: 'b', subject: 's', severity: 'warning', outcome: 'failed' },
      ],
      failures: [{ subject: 'b', message: 'm' }],
    }) as unknown as AuditSummary;

  function emitted(s: AuditSummary): Record<string, unknown> {
    const m = new Metrics({ namespace: 'Test', serviceName: 'test' });
    recordAuditMetrics(s, m);
    return m.serializeMetrics() as unknown as Record<string, unknown>;
  }

  it('counts keys per status, actions taken, notifications and failures', () => {
    expect(emitted(summary(false))).toMatchObject({
      users: 7,
      keys_ok: 3,
      keys_expired: 2,
      keys_unused: 1,
      actions_rotate: 2,
      actions_disable: 1,
      actions_deactivate_previous: 0,
      actions_failed: 1,
      actions_skipped: 1,
      changes_held: 1,
      owners_notified: 3,
      notifications_sent: 1,
      notifications_failed: 1,
      failures: 1,
    });
  });

  it('a dry run reports planned actions, never actions taken', () => {
    const out = emitted(summary(true));
    expect(out).toMatchObject({ planned_rotate: 2, planned_disable: 0 });
    expect(
      Object.keys(out).filter(
        (k) => k.startsWith('actions_') && k !== 'actions_failed' && k !== 'actions_skipped',
      ),
    ).toEqual([]);
  });
});
