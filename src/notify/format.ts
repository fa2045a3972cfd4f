import { addDays, isoDay, utcDay } from '../audit/classify.js';
import { DELETE_AFTER_DAYS, DELETE_QUIET_DAYS, nextStep } from '../audit/plan.js';
import type {
  ActionKind,
  ActionOutcome,
  ActionResult,
  Failure,
  HeldAction,
  KeyCategory,
  KeyFinding,
  UserFindings,
} from '../audit/types.js';
import { SUBJECT_MAX, snsSubject } from '../aws/sns.js';
import type { Config } from '../config.js';
import type { DigestItem } from './cadence.js';

/**
 * The text people read: owner digests and the security summary, as SNS email bodies. Plain text
 * for a mail client (no HTML), lines kept under about 78 characters, subjects within SNS's limit
 * (ASCII, no line breaks, under 100 characters). These functions receive findings and results
 * only, never a secret value; free text that comes from errors is scrubbed of anything shaped
 * like a secret access key as a second line of defence.
 */

export type Severity = 'warning' | 'expired' | 'action';

export interface SnsText {
  subject: string;
  body: string;
}

export interface DigestContext {
  accountId: string;
  accountAlias?: string | undefined;
  now: Date;
  cfg: Config;
}

/** SNS caps a message (body, subject and attributes) at 256 KiB; keep a margin. */
export const SNS_SAFE_BYTES = 240 * 1024;
const WIDTH = 76;
const RULE = '='.repeat(WIDTH);
const PRODUCT = 'iam-key-rotator';

// ---------------------------------------------------------------------------------------------
// Small text helpers

// 40 base64 characters on their own: the shape of a secret access key.
const SECRET_SHAPE = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

/** Free text from errors, made safe to mail: one line, no secret-shaped tokens, bounded. */
export function scrub(text: string, max = 500): string {
  const oneLine = text.replace(SECRET_SHAPE, '[redacted]').replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}

/** Word-wraps `text` to WIDTH, the first line after `first`, continuation lines after `rest`. */
export function wrap(text: string, first: string, rest = ' '.repeat(first.length), width = WIDTH): string[] {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line = empty ? line + word : `${line} ${word}`;
    }
    empty = false;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** `prefix` plus as many of `parts` (comma-separated, in order) as fit in a subject. */
export function fitSubject(prefix: string, parts: readonly string[]): string {
  let subject = snsSubject(prefix);
  let first = true;
  for (const part of parts) {
    const next = `${subject}${first ? ' ' : ', '}${part}`;
    if (next.length > SUBJECT_MAX) break;
    subject = next;
    first = false;
  }
  return snsSubject(subject);
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

const field = (label: string, value: string) => wrap(value, `    ${`${label}:`.padEnd(12)} `);

/** Quotes a value for a POSIX shell when it needs it (IAM names use only [\w+=,.@-]). */
export function shellArg(value: string): string {
  return /^[A-Za-z0-9_+=,.@/:-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

const accountLabel = (ctx: { accountId: string; accountAlias?: string | undefined }) =>
  ctx.accountAlias ? `${ctx.accountId} (${ctx.accountAlias})` : ctx.accountId;

function dryRunBanner(cfg: Config): string[] {
  return cfg.dryRun
    ? ['*** DRY RUN: nothing was changed; actions say what WOULD have been done ***', '']
    : [];
}

// ---------------------------------------------------------------------------------------------
// Keys, statuses, actions

function statusText(k: KeyFinding, cfg: Config): string {
  const max = cfg.maxKeyAgeDays;
  switch (k.status) {
    case 'inactive':
      return 'inactive (deactivated)';
    case 'ok':
      return `OK: reaches the ${max}-day limit on ${isoDay(k.deadline)} (${plural(k.daysLeft, 'day')} left)`;
    case 'warning':
      return `WARNING: reaches the ${max}-day limit on ${isoDay(k.deadline)} (${plural(k.daysLeft, 'day')} left)`;
    case 'expired':
      return k.daysLeft === 0
        ? `EXPIRED: reached the ${max}-day limit today`
        : `EXPIRED: passed the ${max}-day limit on ${isoDay(k.deadline)} (${plural(-k.daysLeft, 'day')} ago)`;
    default: {
      const never: never = k.status;
      throw new Error(`unknown key status ${String(never)}`);
    }
  }
}

function lastUsedText(k: KeyFinding): string {
  if (!k.lastUsed) return 'never';
  const where = [k.lastUsedService, k.lastUsedRegion].filter((x): x is string => !!x).join(', ');
  const ago = k.daysSinceUse === 0 ? 'today' : `${plural(k.daysSinceUse ?? 0, 'day')} ago`;
  return `${isoDay(k.lastUsed)} (${ago}${where ? `; ${where}` : ''})`;
}

const ACTION_DONE: Record<ActionKind, string> = {
  rotate: 'rotation started today: a new key replaces this one',
  'deactivate-previous': 'deactivated today: the grace period after rotation ended',
  'clear-stuck': 'a stuck rotation was cleared so that rotation can run again',
  disable: 'DISABLED today: the key was past the limit plus 10 days',
  delete: 'DELETED today: the key was inactive and past the limit plus 20 days',
};
const ACTION_WOULD: Record<ActionKind, string> = {
  rotate: 'would start a rotation today',
  'deactivate-previous': 'would be deactivated today (end of grace period)',
  'clear-stuck': 'would clear a stuck rotation',
  disable: 'would be DISABLED today',
  delete: 'would be DELETED today',
};
const ACTION_NAME: Record<ActionKind, string> = {
  rotate: 'rotation',
  'deactivate-previous': 'deactivation',
  'clear-stuck': 'clearing the stuck rotation',
  disable: 'disabling',
  delete: 'deletion',
};

export function actionText(r: ActionResult): string {
  const detail = r.message ? `: ${scrub(r.message)}` : '';
  switch (r.outcome) {
    case 'done':
      return ACTION_DONE[r.kind];
    case 'dry-run':
      return `${ACTION_WOULD[r.kind]} (dry run)`;
    case 'skipped':
      return `${ACTION_NAME[r.kind]} skipped${detail}`;
    case 'failed':
      return `${ACTION_NAME[r.kind]} FAILED${detail}`;
    default: {
      const never: never = r.outcome;
      throw new Error(`unknown outcome ${String(never)}`);
    }
  }
}

type KeyItem = DigestItem & { key: KeyFinding };

const keyTitle = (k: KeyFinding) =>
  `Key ${k.slot}${k.keyId ? `  ${k.keyId}` : '  (key id not known to this run)'}`;

function keyBlock(item: KeyItem, ctx: DigestContext): string[] {
  const k = item.key;
  const lines = [`  ${keyTitle(k)}`];
  lines.push(...field('Created on', `${isoDay(k.createdOn)} (${plural(k.ageDays, 'day')} ago)`));
  lines.push(...field('Last used', lastUsedText(k)));
  lines.push(...field('Status', statusText(k, ctx.cfg)));
  if (k.unused) {
    lines.push(
      ...field(
        'Unused',
        k.lastUsed
          ? `not used for ${plural(k.daysSinceUse ?? 0, 'day')}: if nothing needs it, deactivate it`
          : 'never used: if nothing needs it, deactivate it',
      ),
    );
  }
  for (const r of item.reminders) lines.push(...field('Reminder', r.text));
  for (const r of item.actions) lines.push(...field('Action', actionText(r)));
  lines.push(...field('Next', nextText(item, ctx)));
  return lines;
}

/** What happens next, once this run's actions on the key are taken into account. */
function nextText(item: KeyItem, ctx: DigestContext): string {
  const { key: k, user: u } = item;
  const { cfg, now } = ctx;
  const taken = item.actions.filter((a) => a.outcome === 'done' || a.outcome === 'dry-run').at(-1);
  const would = taken?.outcome === 'dry-run' ? 'after a real run, ' : '';
  switch (taken?.kind) {
    case 'rotate':
      return `${would}the new key is in the secret ${u.enrollment?.secretName ?? ''}; this key stays active for the ${cfg.rotationGraceDays}-day grace period and is deactivated on ${isoDay(addDays(utcDay(now), cfg.rotationGraceDays))}`;
    case 'deactivate-previous':
      return `${would}the key will be deleted by the next rotation`;
    case 'disable':
      return cfg.enforce === 'delete'
        ? `${would}the key will be deleted from ${isoDay(addDays(k.deadline, DELETE_AFTER_DAYS))} once unused for ${DELETE_QUIET_DAYS} days`
        : `${would}nothing automatic: delete the key once nothing needs it`;
    case 'delete':
      return `${would}nothing: the key no longer exists`;
    default:
      break;
  }
  if (item.actions.some((a) => a.outcome === 'failed')) return 'the audit tries again at its next run';
  return nextStep(u, k, cfg, now).text;
}

function userActionBlock(item: DigestItem): string[] {
  return item.actions.flatMap((r) => field('Action', actionText(r)));
}

function howToRotate(u: UserFindings, keys: KeyFinding[]): string[] {
  const user = shellArg(u.userName);
  if (u.enrolled && !u.exempt && u.enrollment) {
    return [
      '  How to rotate now (the new key goes straight into the secret):',
      `    ${PRODUCT} rotate ${user}`,
      ...wrap(
        `or, in the Secrets Manager console, open the secret ${u.enrollment.secretName} and choose Rotation > "Rotate secret immediately".`,
        '    ',
      ),
    ];
  }
  const active = keys.filter((k) => k.active);
  const old = active.length > 0 ? active : keys;
  const oldId = old.length === 1 && old[0]?.keyId ? old[0].keyId : '<OLD_KEY_ID>';
  const lines = ['  How to rotate (AWS CLI):'];
  if (oldId === '<OLD_KEY_ID>') {
    lines.push('    Find the key ids first:', `      aws iam list-access-keys --user-name ${user}`);
  }
  if (u.keys.length >= 2) {
    lines.push(
      ...wrap(
        '0. A user can hold only two keys: delete one that is inactive or no longer needed before creating a new one.',
        '    ',
        '       ',
      ),
    );
  }
  lines.push(
    `    1. aws iam create-access-key --user-name ${user}`,
    '       Store the new secret key only in your secret store, never in mail.',
    ...wrap(
      '2. Update every application that uses the old key and check that its "last used" date stops moving.',
      '    ',
      '       ',
    ),
    `    3. aws iam update-access-key --user-name ${user} \\`,
    `         --access-key-id ${oldId} --status Inactive`,
    '    4. When nothing has broken for a few days:',
    `       aws iam delete-access-key --user-name ${user} \\`,
    `         --access-key-id ${oldId}`,
  );
  return lines;
}

function userHeader(u: UserFindings): string[] {
  const lines = [`IAM user ${u.userName}`];
  if (u.exempt) {
    lines.push(
      `  Exempt (${u.exemptReason === 'group' ? 'exempt group' : 'iam-key-rotator:exempt tag'}): reported, never changed.`,
    );
  } else if (u.enrolled && u.enrollment) {
    lines.push(...wrap(`Enrolled in automatic rotation (secret ${u.enrollment.secretName}).`, '  '));
  } else {
    lines.push('  Not enrolled in automatic rotation.');
    if (u.enrollmentProblem) lines.push(...wrap(`Note: ${u.enrollmentProblem}.`, '  ', '        '));
  }
  return lines;
}

function severityOf(items: readonly DigestItem[]): Severity {
  if (items.some((i) => i.actions.length > 0)) return 'action';
  if (items.some((i) => i.key?.status === 'expired')) return 'expired';
  return 'warning';
}

/** Groups items by user, keeping first-seen order. */
function byUser(items: readonly DigestItem[]): { user: UserFindings; items: DigestItem[] }[] {
  const groups = new Map<string, { user: UserFindings; items: DigestItem[] }>();
  for (const item of items) {
    const g = groups.get(item.user.userName);
    if (g) g.items.push(item);
    else groups.set(item.user.userName, { user: item.user, items: [item] });
  }
  return [...groups.values()];
}

// ---------------------------------------------------------------------------------------------
// Owner digest

/**
 * One owner's mail for this run: every key in `items` (see collectDigests), grouped by IAM user,
 * each with its age, status, what happens next and how to rotate.
 */
export function ownerDigest(
  owner: string,
  items: readonly DigestItem[],
  ctx: DigestContext,
): SnsText & { severity: Severity } {
  const severity = severityOf(items);
  const keyItems = items.filter((i): i is KeyItem => i.key !== undefined);
  const count = (s: KeyCategory) => keyItems.filter((i) => i.key.statuses.includes(s)).length;
  const actions = items.reduce((n, i) => n + i.actions.length, 0);
  const failed = items.reduce((n, i) => n + i.actions.filter((a) => a.outcome === 'failed').length, 0);

  const parts: string[] = [];
  if (actions > 0) parts.push(ctx.cfg.dryRun ? plural(actions, 'planned action') : plural(actions, 'action'));
  if (failed > 0) parts.push(`${failed} failed`);
  if (count('expired') > 0) parts.push(`${count('expired')} expired`);
  if (count('warning') > 0) parts.push(`${count('warning')} expiring soon`);
  if (count('unused') > 0) parts.push(`${count('unused')} unused`);
  if (parts.length === 0) parts.push(plural(keyItems.length, 'key'));
  const summary = parts.join(', ');

  const account = ctx.accountAlias ?? ctx.accountId;
  const subject = fitSubject(
    `${ctx.cfg.dryRun ? '[DRY RUN] ' : ''}[${PRODUCT}] ${account} access keys:`,
    parts,
  );

  const lines: string[] = [...dryRunBanner(ctx.cfg)];
  lines.push(
    ...wrap(
      `Access key audit of AWS account ${accountLabel(ctx)} on ${isoDay(ctx.now)}, for ${owner}, the owner of the IAM users below.`,
      '',
    ),
    ...wrap(
      `Policy: no active key older than ${ctx.cfg.maxKeyAgeDays} days; warnings from day ${ctx.cfg.maxKeyAgeDays - ctx.cfg.warnBeforeDays}; keys unused for ${ctx.cfg.unusedKeyDays} days are flagged.`,
      '',
    ),
    '',
    `Summary: ${summary}.`,
  );

  for (const group of byUser(items)) {
    lines.push('', RULE, ...userHeader(group.user));
    const keys: KeyFinding[] = [];
    for (const item of group.items) {
      lines.push('');
      if (item.key) {
        keys.push(item.key);
        lines.push(...keyBlock({ ...item, key: item.key }, ctx));
      } else {
        lines.push(`  Secret ${item.user.enrollment?.secretName ?? ''}`.trimEnd(), ...userActionBlock(item));
      }
    }
    if (!group.user.isRoot) lines.push('', ...howToRotate(group.user, keys));
  }
  lines.push(
    '',
    RULE,
    '',
    ...wrap(
      `Sent by ${PRODUCT}. You receive reminders when a key enters the warning period, 7, 3 and 1 days before the limit, on the day it expires and weekly after that, and whenever the audit acts on a key. Never reply with or mail a secret access key.`,
      '',
    ),
  );
  return { subject, body: `${lines.join('\n')}\n`, severity };
}

// ---------------------------------------------------------------------------------------------
// Security summary

export interface RunSummary {
  accountId: string;
  accountAlias?: string | undefined;
  now: Date;
  cfg: Config;
  findings: readonly UserFindings[];
  results: readonly ActionResult[];
  held?: readonly HeldAction[] | undefined;
  failures: readonly Failure[];
  /** Owner digests published this run. */
  digestsSent?: number | undefined;
}

/** Lines a list may take in the summary before "... and N more". */
export const LIST_CAP = 50;

function capped<T>(title: string, list: readonly T[], line: (t: T) => string[], cap = LIST_CAP): string[] {
  if (list.length === 0) return [];
  const out = ['', `${title} (${list.length})`];
  for (const t of list.slice(0, cap)) out.push(...line(t));
  if (list.length > cap) out.push(`  ... and ${list.length - cap} more`);
  return out;
}

const keyLine = (u: UserFindings, k: KeyFinding) =>
  wrap(
    `key ${k.slot}${k.keyId ? ` ${k.keyId}` : ''}, created ${isoDay(k.createdOn)}, ${k.ageDays} days, ${k.statuses.join('+')}, last used ${k.lastUsed ? isoDay(k.lastUsed) : 'never'}`,
    `  ${u.userName}: `,
    '      ',
  );

const OUTCOMES: readonly ActionOutcome[] = ['done', 'dry-run', 'skipped', 'failed'];
const KINDS: readonly ActionKind[] = ['rotate', 'deactivate-previous', 'clear-stuck', 'disable', 'delete'];
const CATEGORIES: readonly KeyCategory[] = ['ok', 'warning', 'expired', 'unused', 'inactive'];

/** The security audience's summary of the whole run. */
export function securitySummary(run: RunSummary): SnsText {
  const { cfg, findings } = run;
  const users = findings.filter((u) => !u.isRoot);
  const all = findings.flatMap((u) => u.keys.map((k) => ({ u, k })));
  const cat = (c: KeyCategory) => all.filter(({ k }) => k.statuses.includes(c)).length;
  const failedActions = run.results.filter((r) => r.outcome === 'failed');
  // Failed actions are listed from `results`; a caller that also recorded them as failures
  // should not see them twice.
  const otherFailures = run.failures.filter(
    (f) =>
      !failedActions.some(
        (r) => f.subject === r.userName && (r.message === undefined || f.message.includes(r.message)),
      ),
  );
  const acted = run.results.filter((r) => r.outcome === 'done' || r.outcome === 'dry-run').length;
  const root = findings.filter((u) => u.isRoot);
  const rootKeys = root.flatMap((u) => u.keys.map((k) => ({ u, k })));

  // Most important first: the subject keeps as many as fit.
  const headline: string[] = [];
  const failures = otherFailures.length + failedActions.length;
  if (failures > 0) headline.push(plural(failures, 'failure'));
  if (rootKeys.length > 0) headline.push(plural(rootKeys.length, 'root key'));
  headline.push(
    `${cat('expired')} expired`,
    `${cat('warning')} warning`,
    cfg.dryRun ? plural(acted, 'planned action') : plural(acted, 'action'),
    `${cat('unused')} unused`,
  );
  const subject = fitSubject(
    `${cfg.dryRun ? '[DRY RUN] ' : ''}[${PRODUCT}] ${run.accountAlias ?? run.accountId} audit:`,
    headline,
  );

  const lines: string[] = [...dryRunBanner(cfg)];
  lines.push(
    `${PRODUCT} audit of AWS account ${accountLabel(run)}`,
    `Run at ${run.now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    ...wrap(
      `Policy: max ${cfg.maxKeyAgeDays} days, warn ${cfg.warnBeforeDays} days before, grace ${cfg.rotationGraceDays} days, unused after ${cfg.unusedKeyDays} days, ENFORCE=${cfg.enforce}${cfg.dryRun ? ', DRY_RUN' : ''}.`,
      '',
    ),
    '',
    'Totals',
    `  IAM users: ${users.length} (enrolled ${users.filter((u) => u.enrolled).length}, exempt ${users.filter((u) => u.exempt).length}, unowned ${users.filter((u) => !u.owner).length})`,
    `  Access keys: ${all.length} (active ${all.filter(({ k }) => k.active).length}, inactive ${cat('inactive')})`,
    `  By status: ${CATEGORIES.map((c) => `${c} ${cat(c)}`).join(', ')}`,
  );
  if (run.digestsSent !== undefined) lines.push(`  Owner digests sent: ${run.digestsSent}`);

  lines.push('', cfg.dryRun ? 'Actions (dry run: none was taken)' : 'Actions');
  const actionRows = KINDS.flatMap((kind) => {
    const of = run.results.filter((r) => r.kind === kind);
    if (of.length === 0) return [];
    const counts = OUTCOMES.map((o) => [o, of.filter((r) => r.outcome === o).length] as const)
      .filter(([, n]) => n > 0)
      .map(([o, n]) => `${n} ${o}`);
    return [`  ${kind}: ${counts.join(', ')}`];
  });
  lines.push(...(actionRows.length > 0 ? actionRows : ['  none']));

  lines.push(
    ...capped('Root account access keys: delete them (CIS 1.4)', rootKeys, ({ u, k }) =>
      keyLine({ ...u, userName: 'root' }, k),
    ),
    ...capped(
      'Unowned keys (no valid owner tag)',
      all.filter(({ u }) => !u.isRoot && !u.owner).sort((a, b) => b.k.ageDays - a.k.ageDays),
      ({ u, k }) => keyLine(u, k),
    ),
    ...capped(
      'Invalid owner tags',
      users.filter((u) => u.ownerInvalid !== undefined),
      (u) => [`  ${u.userName}: ${JSON.stringify(u.ownerInvalid)}`],
    ),
    ...capped(
      'Exempt keys (reported, never changed)',
      all.filter(({ u }) => u.exempt),
      ({ u, k }) => keyLine(u, k),
    ),
    ...capped(
      'Console password without MFA',
      findings.filter((u) => u.consoleWithoutMfa),
      (u) => [`  ${u.isRoot ? 'root account' : u.userName}`],
    ),
    ...capped(
      'Users with two active keys',
      users.filter((u) => u.twoActiveKeys),
      (u) => [`  ${u.userName}`],
    ),
    ...capped(
      `Stuck rotations (AWSPENDING older than ${cfg.stuckRotationHours} hours)`,
      users.filter((u) => u.stuckRotation),
      (u) =>
        wrap(
          `${u.enrollment?.secretName ?? 'secret'}, pending since ${u.enrollment?.pendingSince?.toISOString() ?? 'unknown'}`,
          `  ${u.userName}: `,
          '      ',
        ),
    ),
    ...capped(
      'Enrollment problems',
      users.filter((u) => u.enrollmentProblem),
      (u) => wrap(u.enrollmentProblem ?? '', `  ${u.userName}: `, '      '),
    ),
    ...capped('Changes held back (not provably safe)', run.held ?? [], (h) =>
      wrap(`${h.kind}${h.slot ? ` key ${h.slot}` : ''}: ${h.reason}`, `  ${h.userName}: `, '      '),
    ),
    ...capped(
      'Users not listed by GetAccountAuthorizationDetails (nothing changed)',
      users.filter((u) => u.detailsMissing),
      (u) => [`  ${u.userName}`],
    ),
    ...capped('Failed actions', failedActions, (r) =>
      wrap(
        `${r.kind}${r.slot ? ` key ${r.slot}` : ''}: ${scrub(r.message ?? 'failed')}`,
        `  ${r.userName}: `,
        '      ',
      ),
    ),
    ...capped('Failures', otherFailures, (f) => wrap(scrub(f.message), `  ${f.subject}: `, '      ')),
  );
  return { subject, body: `${lines.join('\n')}\n` };
}

// ---------------------------------------------------------------------------------------------
// Size and splitting

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** Bytes SNS counts for a message: body, subject, and each attribute's name, type and value. */
export function snsMessageBytes(msg: SnsText, attributes: Record<string, string> = {}): number {
  let n = utf8(msg.body) + utf8(msg.subject);
  for (const [name, value] of Object.entries(attributes)) n += utf8(name) + utf8('String') + utf8(value);
  return n;
}

export interface SplitOptions {
  /** Budget for one message, body + subject + attributes (default 240 KiB). */
  maxBytes?: number;
  /** The message attributes the message will carry. */
  attributes?: Record<string, string>;
}

// Room for "(part 9999 of 9999)\n\n" at the top of each body.
const PART_HEADER_BYTES = 32;

/** Largest prefix length of `s` (in UTF-16 units) whose UTF-8 size is at most `budget`. */
function prefixWithin(s: string, budget: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (utf8(s.slice(0, mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  // Never cut a surrogate pair in half.
  const code = s.charCodeAt(lo - 1);
  if (lo > 0 && lo < s.length && code >= 0xd800 && code <= 0xdbff) lo -= 1;
  return lo;
}

/**
 * Splits a message too large for one SNS publish into parts "(part i of n)", cutting at a blank
 * line where possible, else at a line end. Nothing is dropped: the parts' bodies, without their
 * first line and the blank line after it, concatenate to the original body.
 */
export function splitForSns(msg: SnsText, options: SplitOptions = {}): SnsText[] {
  const maxBytes = options.maxBytes ?? SNS_SAFE_BYTES;
  const attributes = options.attributes ?? {};
  if (snsMessageBytes(msg, attributes) <= maxBytes) return [msg];

  const budget =
    maxBytes -
    utf8(snsSubject(msg.subject)) -
    snsMessageBytes({ subject: '', body: '' }, attributes) -
    PART_HEADER_BYTES;
  if (budget < 1024) throw new RangeError(`splitForSns: maxBytes ${maxBytes} leaves no room for a body`);

  const chunks: string[] = [];
  let rest = msg.body;
  while (utf8(rest) > budget) {
    const limit = prefixWithin(rest, budget);
    const window = rest.slice(0, limit);
    const para = window.lastIndexOf('\n\n');
    const line = window.lastIndexOf('\n');
    const cut = para >= limit / 2 ? para + 2 : line >= limit / 2 ? line + 1 : limit;
    chunks.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest !== '') chunks.push(rest);

  const n = chunks.length;
  return chunks.map((chunk, i) => {
    const suffix = ` (part ${i + 1} of ${n})`;
    const base = snsSubject(msg.subject);
    const subject =
      base.length + suffix.length > SUBJECT_MAX
        ? `${base.slice(0, SUBJECT_MAX - suffix.length - 3).trimEnd()}...${suffix}`
        : `${base}${suffix}`;
    return { subject, body: `(part ${i + 1} of ${n})\n\n${chunk}` };
  });
}
