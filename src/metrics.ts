import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AuditSummary } from './audit/run.js';
import type { ActionKind } from './audit/types.js';

/**
 * CloudWatch metrics (embedded metric format) of the audit: keys per status, actions taken,
 * notifications and failures. Only the Lambda handlers publish them; the CLI and tests do not.
 *
 * A dry run's "would have done" counts go to `planned_<kind>`, never to `actions_<kind>`: an
 * alarm or dashboard on actions taken must not move when nothing was changed.
 */
export const metrics = new Metrics({ namespace: 'IamKeyRotator', serviceName: 'iam-key-rotator' });

const metricKind = (kind: ActionKind) => kind.replaceAll('-', '_');

export function recordAuditMetrics(summary: AuditSummary, m: Metrics = metrics): void {
  m.addMetric('users', MetricUnit.Count, summary.users);
  for (const [status, count] of Object.entries(summary.keysByStatus)) {
    m.addMetric(`keys_${status}`, MetricUnit.Count, count);
  }
  let failed = 0;
  let skipped = 0;
  for (const [kind, outcomes] of Object.entries(summary.actions) as [
    ActionKind,
    AuditSummary['actions'][ActionKind],
  ][]) {
    if (summary.dryRun)
      m.addMetric(`planned_${metricKind(kind)}`, MetricUnit.Count, outcomes['dry-run'] ?? 0);
    else m.addMetric(`actions_${metricKind(kind)}`, MetricUnit.Count, outcomes.done ?? 0);
    failed += outcomes.failed ?? 0;
    skipped += outcomes.skipped ?? 0;
  }
  m.addMetric('actions_failed', MetricUnit.Count, failed);
  m.addMetric('actions_skipped', MetricUnit.Count, skipped);
  m.addMetric('changes_held', MetricUnit.Count, summary.held.length);
  m.addMetric('owners_notified', MetricUnit.Count, summary.ownersNotified);
  m.addMetric(
    'notifications_sent',
    MetricUnit.Count,
    summary.notifications.filter((n) => n.outcome === 'sent').length,
  );
  m.addMetric(
    'notifications_failed',
    MetricUnit.Count,
    summary.notifications.filter((n) => n.outcome === 'failed').length,
  );
  m.addMetric('failures', MetricUnit.Count, summary.failures.length);
}
