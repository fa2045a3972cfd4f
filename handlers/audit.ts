import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { type AuditSummary, runAudit } from '../src/audit/run.js';
import { config } from '../src/config.js';
import { RotatorError } from '../src/errors.js';
import { logger } from '../src/logger.js';
import { metrics, recordAuditMetrics } from '../src/metrics.js';

/** Settings are validated at cold start: a bad variable fails init with an error naming it. */
config();

/** The daily EventBridge event, or a direct invoke such as `{ "dryRun": true }`. */
const auditEvent = z
  .object({
    dryRun: z.boolean({ message: 'dryRun must be true or false' }).optional(),
  })
  .passthrough();

export class AuditEventError extends RotatorError {
  override name = 'AuditEventError';
}

/** The run finished but something failed: Lambda reports an error after the rest was done. */
export class AuditIncompleteError extends RotatorError {
  override name = 'AuditIncompleteError';
}

export function parseAuditEvent(event: unknown): { dryRun?: boolean | undefined } {
  if (event === undefined || event === null) return {};
  const parsed = auditEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'event';
    throw new AuditEventError(`invalid audit event: ${field}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Undecorated handler: runs the audit and returns its summary. */
export async function audit(event: unknown): Promise<AuditSummary> {
  const { dryRun } = parseAuditEvent(event);
  const { summary } = await runAudit({ cfg: config(), dryRun });
  logger.info('Audit finished', {
    dryRun: summary.dryRun,
    users: summary.users,
    keys: summary.keys,
    keysByStatus: summary.keysByStatus,
    actions: summary.actions,
    ownersNotified: summary.ownersNotified,
    failures: summary.failures.length,
  });
  return summary;
}

/** The Lambda entry point: like `audit`, but ends with an error status when anything failed. */
export async function auditHandler(event: unknown): Promise<AuditSummary> {
  const summary = await audit(event);
  recordAuditMetrics(summary);
  if (!summary.ok) {
    const list = summary.failures
      .slice(0, 5)
      .map((f) => `${f.subject}: ${f.message}`)
      .join('; ');
    throw new AuditIncompleteError(
      `audit finished with ${summary.failures.length} failure(s) after completing the rest: ${list}`,
    );
  }
  return summary;
}

export const handler = middy(auditHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
