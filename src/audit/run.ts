import { ListAccountAliasesCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { clients } from '../aws/clients.js';
import { withRetry } from '../aws/retry.js';
import { clock } from '../clock.js';
import type { Config } from '../config.js';
import { messageOf } from '../errors.js';
import { logger } from '../logger.js';
import { collectDigests } from '../notify/cadence.js';
import { ownerDigest, type Severity, securitySummary, splitForSns } from '../notify/format.js';
import { ensureOwnerSubscriptions, type OutgoingMessage, sendMessages } from '../notify/send.js';
import { act } from './act.js';
import { classifyAccount } from './classify.js';
import { planDetailed } from './plan.js';
import { parseCredentialReport } from './report.js';
import { type BoundSecret, fetchCredentialReport, listAccountUsers, listBoundSecrets } from './scan.js';
import type { ActionKind, ActionOutcome, ActionResult, Failure, KeyCategory, UserFindings } from './types.js';

/**
 * The daily audit: scan the account (credential report + authorization details + bound secrets),
 * classify every key, plan and take the actions the policy calls for, then mail one digest per
 * owner and one summary to the security audience. A failure in one user or one owner is recorded
 * and the run goes on; the summary says what failed.
 */

export interface AuditOptions {
  cfg: Config;
  /** Overrides cfg.dryRun (the `{ "dryRun": true }` invoke, the CLI's --dry-run). */
  dryRun?: boolean | undefined;
}

export interface NotificationSummary {
  recipient: string;
  subject: string;
  severity: Severity | 'summary';
  /** 'sent', 'failed', 'dry-run' (would have been sent), or 'not-sent' (no TOPIC_ARN). */
  outcome: 'sent' | 'failed' | 'dry-run' | 'not-sent';
}

export interface AuditSummary {
  accountId: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  reportGeneratedAt: string;
  users: number;
  keys: number;
  /** Keys per category (a key may be expired and unused). */
  keysByStatus: Record<KeyCategory, number>;
  /** Actions per kind and outcome. */
  actions: Record<ActionKind, Partial<Record<ActionOutcome, number>>>;
  results: ActionResult[];
  held: { userName: string; kind: ActionKind; reason: string }[];
  ownersNotified: number;
  unownedKeys: number;
  notifications: NotificationSummary[];
  subscriptionsCreated: string[];
  failures: Failure[];
  /** False when any action, notification or user failed: the run then ends with an error status. */
  ok: boolean;
}

export interface AuditRun {
  summary: AuditSummary;
  findings: UserFindings[];
  /** The mails, as built (what was sent, or would have been in a dry run). */
  messages: OutgoingMessage[];
}

async function accountIdentity(): Promise<{ accountId: string; accountAlias: string | undefined }> {
  const { sts, iam } = clients();
  const identity = await withRetry(() => sts.send(new GetCallerIdentityCommand({})));
  let accountAlias: string | undefined;
  try {
    const aliases = await withRetry(() => iam.send(new ListAccountAliasesCommand({})));
    accountAlias = aliases.AccountAliases?.[0];
  } catch (err) {
    // The alias only makes mails friendlier; a role without the permission still audits.
    logger.debug('No account alias', { error: messageOf(err) });
  }
  return { accountId: identity.Account ?? 'unknown', accountAlias };
}

const CATEGORIES: KeyCategory[] = ['ok', 'warning', 'expired', 'unused', 'inactive'];
const KINDS: ActionKind[] = ['rotate', 'deactivate-previous', 'clear-stuck', 'disable', 'delete'];

export async function runAudit(options: AuditOptions): Promise<AuditRun> {
  const cfg: Config = { ...options.cfg, dryRun: options.dryRun ?? options.cfg.dryRun };
  const startedAt = clock().now();
  const failures: Failure[] = [];

  // The scan's reads are independent: the authorization details and the secrets are read while
  // IAM generates the credential report. None of them is per user.
  const [{ accountId, accountAlias }, report, users, secrets] = await Promise.all([
    accountIdentity(),
    fetchCredentialReport(),
    listAccountUsers(),
    listBoundSecrets(),
  ]);
  const rows = parseCredentialReport(report.content);
  const now = clock().now();

  const findings = classifyAccount({ rows, users, enrollments: secrets }, cfg, now);
  const planned = planDetailed(findings, cfg, now);
  const secretsByUser = new Map<string, BoundSecret[]>();
  for (const s of secrets) secretsByUser.set(s.userName, [...(secretsByUser.get(s.userName) ?? []), s]);

  const results = await act(planned.actions, {
    dryRun: cfg.dryRun,
    secretsByUser,
    secretPrefix: cfg.secretPrefix,
  });
  for (const r of results) {
    if (r.outcome === 'failed') {
      failures.push({ subject: r.userName, message: `${r.kind}: ${r.message ?? 'failed'}` });
    }
  }

  // Key ids learnt while acting make the mails more precise.
  const byUser = new Map(findings.map((u) => [u.userName, u]));
  for (const r of results) {
    if (!r.keyId || r.slot === undefined) continue;
    const key = byUser.get(r.userName)?.keys.find((k) => k.slot === r.slot);
    if (key && !key.keyId) key.keyId = r.keyId;
  }

  const send = cfg.topicArn !== undefined && !cfg.dryRun;
  const unsent: NotificationSummary['outcome'] = cfg.dryRun ? 'dry-run' : 'not-sent';

  let subscriptionsCreated: string[] = [];
  if (send && cfg.topicArn && cfg.createOwnerSubscriptions) {
    // Every owner, not only those mailed today: SNS delivers nothing until the owner confirms,
    // so the subscription should exist before their first reminder.
    const owners = [...new Set(findings.flatMap((u) => (u.owner && !u.isRoot ? [u.owner] : [])))];
    try {
      const subscribed = await ensureOwnerSubscriptions(cfg.topicArn, owners);
      subscriptionsCreated = subscribed.created;
      for (const f of subscribed.failed) failures.push({ subject: f.recipient, message: f.message });
    } catch (err) {
      failures.push({ subject: 'owner subscriptions', message: messageOf(err) });
    }
  }

  // Owners hear what was done (or would be, or failed); a skipped action changed nothing they
  // need to know about (already inactive, a rotation already running). Security sees them all.
  const digests = collectDigests(
    findings,
    results.filter((r) => r.outcome !== 'skipped'),
    cfg,
    now,
  );
  const ctx = { accountId, accountAlias, now, cfg };
  const messages: OutgoingMessage[] = [];
  const severities = new Map<string, Severity>();
  for (const [owner, items] of digests.byOwner) {
    try {
      const digest = ownerDigest(owner, items, ctx);
      const attributes = { owner, severity: digest.severity, account: accountId };
      const parts = splitForSns(digest, { attributes }).map((part) => ({
        recipient: owner,
        subject: part.subject,
        body: part.body,
        attributes,
      }));
      severities.set(owner, digest.severity);
      messages.push(...parts);
    } catch (err) {
      // A digest that cannot be written is one owner's problem, not the run's.
      failures.push({ subject: owner, message: `owner digest not written: ${messageOf(err)}` });
    }
  }

  const notifications: NotificationSummary[] = [];
  let digestsSent = 0;
  const ownersMailed = new Set(messages.map((m) => m.recipient));
  if (send && cfg.topicArn) {
    const sent = await sendMessages(cfg.topicArn, messages);
    const failedOwners = new Set(sent.failed.map((f) => f.recipient));
    for (const f of sent.failed) {
      failures.push({ subject: f.recipient, message: `owner digest not sent: ${f.message}` });
    }
    digestsSent = [...ownersMailed].filter((o) => !failedOwners.has(o)).length;
    for (const m of messages) {
      notifications.push({
        recipient: m.recipient,
        subject: m.subject,
        severity: severities.get(m.recipient) ?? 'warning',
        outcome: failedOwners.has(m.recipient) ? 'failed' : 'sent',
      });
    }
  } else {
    for (const m of messages) {
      notifications.push({
        recipient: m.recipient,
        subject: m.subject,
        severity: severities.get(m.recipient) ?? 'warning',
        outcome: unsent,
      });
    }
  }

  // The security summary goes last so that it can list every failure, including owner mails.
  const summaryText = securitySummary({
    accountId,
    accountAlias,
    now,
    cfg,
    findings,
    results,
    held: planned.held,
    failures,
    digestsSent,
  });
  const securityAttributes = { audience: 'security', account: accountId };
  const securityParts = splitForSns(summaryText, { attributes: securityAttributes }).map((p) => ({
    recipient: 'security',
    subject: p.subject,
    body: p.body,
    attributes: securityAttributes,
  }));
  messages.push(...securityParts);
  let securityOutcome: NotificationSummary['outcome'] = unsent;
  if (send && cfg.topicArn) {
    const sent = await sendMessages(cfg.topicArn, securityParts);
    for (const f of sent.failed) failures.push({ subject: 'security summary', message: f.message });
    securityOutcome = sent.failed.length > 0 ? 'failed' : 'sent';
  }
  for (const p of securityParts) {
    notifications.push({
      recipient: 'security',
      subject: p.subject,
      severity: 'summary',
      outcome: securityOutcome,
    });
  }
  if (!cfg.topicArn && !cfg.dryRun) {
    logger.warn('TOPIC_ARN is not set: no mail was sent');
  }

  const keysByStatus = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<KeyCategory, number>;
  let keys = 0;
  for (const u of findings) {
    for (const k of u.keys) {
      keys++;
      for (const s of k.statuses) keysByStatus[s]++;
    }
  }
  const actions = Object.fromEntries(KINDS.map((k) => [k, {}])) as AuditSummary['actions'];
  for (const r of results) actions[r.kind][r.outcome] = (actions[r.kind][r.outcome] ?? 0) + 1;

  const summary: AuditSummary = {
    accountId,
    dryRun: cfg.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: clock().now().toISOString(),
    reportGeneratedAt: report.generatedAt.toISOString(),
    users: findings.filter((u) => !u.isRoot).length,
    keys,
    keysByStatus,
    actions,
    results,
    held: planned.held.map((h) => ({ userName: h.userName, kind: h.kind, reason: h.reason })),
    ownersNotified: digestsSent,
    unownedKeys: findings.filter((u) => !u.isRoot && !u.owner).reduce((n, u) => n + u.keys.length, 0),
    notifications,
    subscriptionsCreated,
    failures,
    ok: failures.length === 0,
  };
  return { summary, findings, messages };
}
