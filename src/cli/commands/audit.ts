import { type AuditRun, type AuditSummary, runAudit } from '../../audit/run.js';
import type { ActionKind, ActionOutcome } from '../../audit/types.js';
import type { CommandContext } from '../context.js';
import { type Io, paint, printJson, progress, table } from '../output.js';

/** Rows of results and held actions shown before "... and N more": --json has them all. */
const LIST_LIMIT = 25;

const KINDS: ActionKind[] = ['rotate', 'deactivate-previous', 'clear-stuck', 'disable', 'delete'];
const OUTCOMES: ActionOutcome[] = ['done', 'dry-run', 'skipped', 'failed'];

/** Exit 1 when an active key is past the limit or anything failed (the run's "findings"). */
export function auditExitCode(summary: AuditSummary): number {
  return summary.keysByStatus.expired > 0 || !summary.ok ? 1 : 0;
}

export async function auditCommand(ctx: CommandContext): Promise<number> {
  const { io, cfg } = ctx;
  const dryRun = ctx.values['dry-run'] === true ? true : undefined;
  progress(io, `Auditing the account's access keys${dryRun || cfg.dryRun ? ' (dry run)' : ''}...`);
  const run = await runAudit({ cfg, dryRun });
  if (ctx.json) {
    printJson(io, { summary: run.summary, findings: run.findings });
  } else {
    io.out(renderAudit(run, io, { topicArn: cfg.topicArn }));
  }
  return auditExitCode(run.summary);
}

const limited = <T>(rows: T[]): { shown: T[]; more: number } => ({
  shown: rows.slice(0, LIST_LIMIT),
  more: Math.max(0, rows.length - LIST_LIMIT),
});

/** The human report of one audit run: counts, actions, held changes, mails, failures. */
export function renderAudit(run: AuditRun, io: Io, o: { topicArn: string | undefined }): string {
  const s = run.summary;
  const out: string[] = [];
  const when = s.finishedAt.replace('T', ' ').slice(0, 16);
  out.push(
    `${paint(io, 'bold', `Audit of account ${s.accountId}`)}${s.dryRun ? paint(io, 'yellow', ' (dry run: nothing changed, nothing sent)') : ''}, ${when} UTC`,
  );
  out.push(
    `${s.users} users, ${s.keys} access keys (credential report of ${s.reportGeneratedAt.replace('T', ' ').slice(0, 16)} UTC)`,
  );
  out.push('');

  const statusRows: [string, number, string][] = [
    ['ok', s.keysByStatus.ok, 'green'],
    ['warning', s.keysByStatus.warning, 'yellow'],
    ['expired', s.keysByStatus.expired, 'red'],
    ['unused', s.keysByStatus.unused, 'yellow'],
    ['inactive', s.keysByStatus.inactive, 'gray'],
  ];
  out.push(
    table(
      ['KEYS', 'COUNT'],
      statusRows.map(([name, n, colour]) => [
        n > 0 && name !== 'ok' ? paint(io, colour as 'red', name) : name,
        String(n),
      ]),
    ),
  );

  const kinds = KINDS.filter((k) => Object.keys(s.actions[k]).length > 0);
  if (kinds.length > 0) {
    out.push(
      table(
        ['ACTION', ...OUTCOMES.map((o) => o.toUpperCase())],
        kinds.map((k) => [k, ...OUTCOMES.map((o) => String(s.actions[k][o] ?? 0))]),
      ),
    );
    const results = limited(s.results);
    out.push(
      table(
        ['USER', 'ACTION', 'OUTCOME', 'DETAIL'],
        results.shown.map((r) => [
          r.userName,
          r.kind,
          r.outcome === 'failed' ? paint(io, 'red', r.outcome) : r.outcome,
          oneLine(r.message ?? r.reason),
        ]),
      ),
    );
    if (results.more > 0) out.push(`... and ${results.more} more (--json lists all)\n`);
  } else {
    out.push('No action was due.\n');
  }

  if (s.held.length > 0) {
    const held = limited(s.held);
    out.push('Held (the policy wants these but cannot prove them safe):');
    out.push(
      table(
        ['USER', 'ACTION', 'REASON'],
        held.shown.map((h) => [h.userName, h.kind, oneLine(h.reason)]),
      ),
    );
    if (held.more > 0) out.push(`... and ${held.more} more (--json lists all)\n`);
  }

  const digests = s.notifications.filter((n) => n.recipient !== 'security');
  const owners = new Set(digests.map((n) => n.recipient)).size;
  if (s.dryRun) {
    out.push(`Mail: ${owners} owner digest(s) and the security summary would have been sent.`);
  } else if (!o.topicArn) {
    out.push(`Mail: none sent (TOPIC_ARN is not set); ${owners} owner digest(s) were prepared.`);
  } else {
    const failed = s.notifications.filter((n) => n.outcome === 'failed').length;
    out.push(
      `Mail: ${s.ownersNotified} owner digest(s) and the security summary published to ${o.topicArn}${failed > 0 ? paint(io, 'red', `; ${failed} failed`) : ''}.`,
    );
  }
  if (s.subscriptionsCreated.length > 0) {
    out.push(
      `Subscribed ${s.subscriptionsCreated.length} new owner(s); each must confirm the mail SNS sent them.`,
    );
  }
  if (s.unownedKeys > 0) {
    out.push(`${s.unownedKeys} key(s) belong to users without a valid owner tag (reported to security).`);
  }

  if (s.failures.length > 0) {
    out.push('');
    out.push(paint(io, 'red', `${s.failures.length} failure(s):`));
    for (const f of s.failures.slice(0, LIST_LIMIT)) out.push(`  ${f.subject}: ${oneLine(f.message)}`);
    if (s.failures.length > LIST_LIMIT) out.push(`  ... and ${s.failures.length - LIST_LIMIT} more`);
  }
  out.push('');
  const verdict =
    s.keysByStatus.expired > 0 || !s.ok
      ? paint(
          io,
          'red',
          `Findings: ${s.keysByStatus.expired} expired key(s), ${s.failures.length} failure(s).`,
        )
      : paint(io, 'green', 'No expired keys, no failures.');
  out.push(verdict);
  return `${out.join('\n')}\n`;
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ');
