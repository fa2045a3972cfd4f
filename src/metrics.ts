import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AuditSummary } from './audit/run.js';

/**
 * CloudWatch metrics (embedded metric format) of the audit: keys per status, actions taken,
 * notifications and failures. Only the Lambda handlers publish them; the CLI and tests do not.
 */
export const metrics = new Metrics({ namespace: 'IamKeyRotator', serviceName: 'iam-key-rotator' });

export function recordAuditMetrics(summary: AuditSummary, m: Metrics = metrics): void {
  for (const [status, count] of Object.entries(summary.keysByStatus)) {
    m.addMetric(`keys_${status}`, MetricUnit.Count, count);
  }
  for (const [kind, outcomes] of Object.entries(summary.actions)) {
    const done = (outcomes.done ?? 0) + (outcomes['dry-run'] ?? 0);
    m.addMetric(`action_${kind}`, MetricUnit.Count, done);
  }
  m.addMetric('owners_notified', MetricUnit.Count, summary.ownersNotified);
  m.addMetric(
    'notifications_failed',
    MetricUnit.Count,
    summary.notifications.filter((n) => n.outcome === 'failed').length,
  );
  m.addMetric('failures', MetricUnit.Count, summary.failures.length);
}
