import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import * as z from 'zod/mini';
import { type AuditSummary, runAudit } from '../src/audit/run.js';
import { config } from '../src/config.js';
import { RotatorError } from '../src/errors.js';
import { logger } from '../src/logger.js';
import { metrics, recordAuditMetrics } from '../src/metrics.js';

/** Settings are validated at cold start: a bad variable fails init with an error naming it. */
config();

/**
 * The daily EventBridge event (serverless.yml sends `{ "source": "schedule" }`; a rule without
 * input sends the standard envelope), or a direct invoke such as `{ "dryRun": true }`. Any other
 * field is refused: `{ "dryrun": true }` or `{ "dry_run": true }` must not start a real run.
 */
const auditEvent = z.strictObject({
  dryRun: z.optional(z.boolean()),
  // EventBridge's envelope, ignored.
  version: z.optional(z.unknown()),
  id: z.optional(z.unknown()),
  'detail-type': z.optional(z.unknown()),
  source: z.optional(z.unknown()),
  account: z.optional(z.unknown()),
  time: z.optional(z.unknown()),
  region: z.optional(z.unknown()),
  resources: z.optional(z.unknown()),
  detail: z.optional(z.unknown()),
});

export class AuditEventError extends RotatorError {
  override name = 'AuditEventError';
}

/** The run finished but something failed: Lambda reports an error after the rest was done. */
export class AuditIncompleteError extends RotatorError {
  override name = 'AuditIncompleteError';
  constructor(
    message: string,
    /** What the run did, failures included (the Lambda result is lost when the handler throws). */
    readonly summary: AuditSummary,
  ) {
    super(message);
  }
}

const shown = (value: unknown) => JSON.stringify(value)?.slice(0, 40) ?? String(value);

export function parseAuditEvent(event: unknown): { dryRun?: boolean | undefined } {
  if (event === undefined || event === null) return {};
  const parsed = auditEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    let problem: string;
    if (issue?.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
      problem = `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys} (the only setting is "dryRun": true or false)`;
    } else if (issue?.path[0] === 'dryRun') {
      problem = `"dryRun" must be true or false (got ${shown((event as { dryRun?: unknown }).dryRun)})`;
    } else {
      problem = `expected a JSON object such as {"dryRun": true} (got ${shown(event)})`;
    }
    throw new AuditEventError(`invalid audit event: ${problem}; nothing was done`);
  }
  return { dryRun: parsed.data.dryRun };
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
    logger.error('Audit finished with failures', { failures: summary.failures });
    const list = summary.failures
      .slice(0, 5)
      .map((f) => `${f.subject}: ${f.message}`)
      .join('; ');
    const more = summary.failures.length > 5 ? `; and ${summary.failures.length - 5} more` : '';
    throw new AuditIncompleteError(
      `audit finished with ${summary.failures.length} failure(s) after completing the rest: ${list}${more}`,
      summary,
    );
  }
  return summary;
}

export const handler = middy(auditHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
