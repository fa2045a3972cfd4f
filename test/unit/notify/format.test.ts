import { describe, expect, it } from 'vitest';
import { addDays, classify } from '../../../src/audit/classify.js';
import type { ActionResult, ClassifyInput, UserFindings } from '../../../src/audit/types.js';
import { snsSubject } from '../../../src/aws/sns.js';
import { collectDigests, type DigestItem } from '../../../src/notify/cadence.js';
import {
  type DigestContext,
  ownerDigest,
  SNS_SAFE_BYTES,
  scrub,
  securitySummary,
  snsMessageBytes,
  splitForSns,
} from '../../../src/notify/format.js';
import { accountUser, boundUser, defaults, enrollment, key, NOW, row } from '../audit/fixtures.js';

const cfg = defaults();
const ctx = (over: Partial<DigestContext> = {}): DigestContext => ({
  accountId: '123456789012',
  accountAlias: 'acme-prod',
  now: NOW,
  cfg,
  ...over,
});
const FAKE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function item(
  input: ClassifyInput,
  slot: 1 | 2 | undefined,
  actions: ActionResult[] = [],
  c = cfg,
): DigestItem {
  const user = classify(input, c, NOW);
  return { user, key: user.keys.find((k) => k.slot === slot), reminders: [], actions };
}

const plainUser = (keys = [key(1, 80)], tags: Record<string, string> = { owner: 'dev@example.com' }) => ({
  row: row('ci-deployer', keys),
  user: accountUser('ci-deployer', tags),
});

describe('ownerDigest', () => {
  it('describes a key in warning: user, key slot and id, dates, age, last use, next step, how to rotate', () => {
    const input: ClassifyInput = {
      ...plainUser(),
      accessKeys: [{ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', createDate: addDays(NOW, -80), status: 'Active' }],
    };
    const d = ownerDigest('dev@example.com', [item(input, 1)], ctx());
    expect(d.severity).toBe('warning');
    expect(d.subject).toBe('[iam-key-rotator] acme-prod access keys: 1 expiring soon');
    expect(d.body).toContain('Access key audit of AWS account 123456789012 (acme-prod) on 2026-07-01');
    expect(d.body).toContain('IAM user ci-deployer');
    expect(d.body).toContain('  Key 1  AKIAIOSFODNN7EXAMPLE');
    expect(d.body).toContain('    Created on:  2026-04-12 (80 days ago)');
    expect(d.body).toContain('    Last used:   2026-06-30 (1 day ago; s3, us-east-1)');
    expect(d.body).toContain('    Status:      WARNING: reaches the 90-day limit on 2026-07-11 (10 days');
    expect(d.body).toContain('    Next:        nothing automatic: please rotate before 2026-07-11');
    expect(d.body).toContain('    1. aws iam create-access-key --user-name ci-deployer');
    expect(d.body).toContain('         --access-key-id AKIAIOSFODNN7EXAMPLE --status Inactive');
    expect(d.body).toContain('       aws iam delete-access-key --user-name ci-deployer \\');
  });

  it('uses a placeholder and tells how to find the key id when the run does not know it', () => {
    const d = ownerDigest('dev@example.com', [item(plainUser(), 1)], ctx());
    expect(d.body).toContain('  Key 1  (key id not known to this run)');
    expect(d.body).toContain('aws iam list-access-keys --user-name ci-deployer');
    expect(d.body).toContain('--access-key-id <OLD_KEY_ID> --status Inactive');
  });

  it('tells enrolled users how to rotate through the secret, and what the rotation started today means', () => {
    const input = { row: row('app', [key(1, 82)]), user: boundUser('app'), enrollment: enrollment('app') };
    const rotate: ActionResult = {
      userName: 'app',
      kind: 'rotate',
      slot: 1,
      reason: 'due',
      due: NOW,
      outcome: 'done',
    };
    const d = ownerDigest('dev@example.com', [item(input, 1, [rotate])], ctx());
    expect(d.severity).toBe('action');
    expect(d.subject).toBe('[iam-key-rotator] acme-prod access keys: 1 action, 1 expiring soon');
    expect(d.body).toContain('Enrolled in automatic rotation (secret iam-key-rotator/app).');
    expect(d.body).toContain('    Action:      rotation started today: a new key replaces this one');
    expect(d.body).toMatch(/is deactivated\s+on 2026-07-08/);
    expect(d.body).toContain('    iam-key-rotator rotate app');
    expect(d.body).toContain('"Rotate secret immediately"');
    expect(d.body).not.toContain('create-access-key');
  });

  it('gives the ENFORCE date and severity expired for an expired key', () => {
    const c = defaults({ ENFORCE: 'disable' });
    const d = ownerDigest('dev@example.com', [item(plainUser([key(1, 95)]), 1, [], c)], ctx({ cfg: c }));
    expect(d.severity).toBe('expired');
    expect(d.body).toContain('EXPIRED: passed the 90-day limit on 2026-06-26 (5 days ago)');
    expect(d.body).toMatch(/the key will\s+be disabled\s+on 2026-07-06/);
  });

  it('reports a failed action with its scrubbed message and says the audit retries', () => {
    const c = defaults({ ENFORCE: 'disable' });
    const failed: ActionResult = {
      userName: 'ci-deployer',
      kind: 'disable',
      slot: 1,
      reason: 'overdue',
      due: NOW,
      outcome: 'failed',
      message: `AccessDenied: cannot use ${FAKE_SECRET}`,
    };
    const d = ownerDigest(
      'dev@example.com',
      [item(plainUser([key(1, 101)]), 1, [failed], c)],
      ctx({ cfg: c }),
    );
    expect(d.severity).toBe('action');
    expect(d.body).toContain('Action:      disabling FAILED: AccessDenied: cannot use [redacted]');
    expect(d.body).toContain('Next:        the audit tries again at its next run');
    expect(d.body).not.toContain(FAKE_SECRET);
  });

  it('puts a dry-run banner on top and says actions would have been taken', () => {
    const c = defaults({ DRY_RUN: 'true', ENFORCE: 'disable' });
    const would: ActionResult = {
      userName: 'ci-deployer',
      kind: 'disable',
      slot: 1,
      reason: 'overdue',
      due: NOW,
      outcome: 'dry-run',
    };
    const d = ownerDigest(
      'dev@example.com',
      [item(plainUser([key(1, 101)]), 1, [would], c)],
      ctx({ cfg: c }),
    );
    expect(d.subject.startsWith('[DRY RUN] [iam-key-rotator]')).toBe(true);
    expect(d.body.split('\n')[0]).toContain('DRY RUN: nothing was changed');
    expect(d.body).toContain('would be DISABLED today (dry run)');
  });

  it('groups several keys of one user under one header and one how-to', () => {
    const input = plainUser([key(1, 80), key(2, 95, { lastUsed: null })]);
    const d = ownerDigest('dev@example.com', [item(input, 1), item(input, 2)], ctx());
    expect(d.body.match(/IAM user ci-deployer/g)).toHaveLength(1);
    expect(d.body.match(/How to rotate/g)).toHaveLength(1);
    expect(d.body).toContain('Unused:      never used: if nothing needs it, deactivate it');
    expect(d.body).toContain('0. A user can hold only two keys');
  });

  it('keeps lines short enough for a mail client and the subject valid for SNS', () => {
    const c = defaults({ ENFORCE: 'delete' });
    const input = {
      row: row('payments-batch-exporter', [key(1, 101), key(2, 60, { active: false, lastUsed: null })]),
      user: accountUser('payments-batch-exporter', { owner: 'dev@example.com' }),
      enrollment: enrollment('payments-batch-exporter', { rotationEnabled: false }),
    };
    const failed: ActionResult = {
      userName: 'payments-batch-exporter',
      kind: 'disable',
      slot: 1,
      reason: 'x',
      due: NOW,
      outcome: 'failed',
      message: 'AccessDenied: User: arn:aws:sts::123456789012:assumed-role/audit/x is not authorized',
    };
    const d = ownerDigest(
      'dev@example.com',
      [item(input, 1, [failed], c), item(input, 2, [], c)],
      ctx({ cfg: c }),
    );
    expect(d.body.split('\n').filter((l) => l.length > 78)).toEqual([]);

    const long = ownerDigest(
      'dev@example.com',
      [item(plainUser(), 1)],
      ctx({ accountAlias: 'x'.repeat(120) }),
    );
    expect(long.subject.length).toBeLessThan(100);
    expect(long.subject).toMatch(/^[\x20-\x7e]+$/);
  });
});

describe('snsSubject and scrub', () => {
  it('makes any text a valid SNS subject', () => {
    const s = snsSubject(`Zoë's\nkeys\t\u0007 ${'x'.repeat(200)}`);
    expect(s.startsWith("Zoe's keys x")).toBe(true);
    expect(s).toHaveLength(99);
    expect(s.endsWith('...')).toBe(true);
  });

  it('redacts secret-shaped tokens but keeps key ids and ARNs', () => {
    expect(scrub(`key AKIAIOSFODNN7EXAMPLE secret ${FAKE_SECRET} arn:aws:iam::123456789012:user/a`)).toBe(
      'key AKIAIOSFODNN7EXAMPLE secret [redacted] arn:aws:iam::123456789012:user/a',
    );
  });
});

describe('securitySummary', () => {
  const findings = (): UserFindings[] => {
    const c = defaults({ EXEMPT_GROUP: 'legacy' });
    return [
      classify(plainUser([key(1, 95), key(2, 50, { lastUsed: null })]), c, NOW),
      classify(
        { row: row('nobody', [key(1, 200)]), user: accountUser('nobody', { owner: 'not an email' }) },
        c,
        NOW,
      ),
      classify(
        {
          row: row('old', [key(1, 300)], { passwordEnabled: true }),
          user: accountUser('old', {}, ['legacy']),
        },
        c,
        NOW,
      ),
      classify(
        {
          row: row('app', [key(1, 10)]),
          user: boundUser('app'),
          enrollment: enrollment('app', { pendingSince: addDays(NOW, -1) }),
        },
        c,
        NOW,
      ),
      classify({ row: row('<root_account>', [key(1, 400)], { isRoot: true, mfaActive: true }) }, c, NOW),
    ];
  };

  it('gives totals, root keys, unowned, exempt, MFA, two-key, stuck and failure sections', () => {
    const s = securitySummary({
      accountId: '123456789012',
      now: NOW,
      cfg,
      findings: findings(),
      results: [
        { userName: 'app', kind: 'clear-stuck', reason: 'stuck', due: NOW, outcome: 'done' },
        {
          userName: 'app',
          kind: 'rotate',
          slot: 1,
          reason: 'x',
          due: NOW,
          outcome: 'failed',
          message: 'boom',
        },
      ],
      held: [{ userName: 'nobody', kind: 'disable', slot: 1, reason: 'maybe current' }],
      failures: [{ subject: 'dev@example.com', message: `publish failed ${FAKE_SECRET}` }],
    });
    expect(s.subject).toBe(
      '[iam-key-rotator] 123456789012 audit: 2 failures, 1 root key, 4 expired, 0 warning, 1 action',
    );
    const b = s.body;
    expect(b).toContain('IAM users: 4 (enrolled 1, exempt 1, unowned 2)');
    expect(b).toContain('Access keys: 6 (active 6, inactive 0)');
    expect(b).toContain('By status: ok 2, warning 0, expired 4, unused 1, inactive 0');
    expect(b).toContain('  rotate: 1 failed');
    expect(b).toContain('  clear-stuck: 1 done');
    expect(b).toContain('Root account access keys: delete them (CIS 1.4) (1)');
    expect(b).toContain('Unowned keys (no valid owner tag) (2)');
    expect(b).toMatch(/ {2}old: key 1, created \d{4}-\d\d-\d\d, 300 days, expired/);
    expect(b).toContain('Invalid owner tags (1)\n  nobody: "not an email"');
    expect(b).toContain('Exempt keys (reported, never changed) (1)');
    expect(b).toContain('Console password without MFA (1)\n  old');
    expect(b).toContain('Users with two active keys (1)\n  ci-deployer');
    expect(b).toContain('Stuck rotations (AWSPENDING older than 6 hours) (1)');
    expect(b).toContain('Changes held back (not provably safe) (1)\n  nobody: disable key 1: maybe current');
    expect(b).toContain('Failed actions (1)\n  app: rotate key 1: boom');
    expect(b).toContain('Failures (1)\n  dev@example.com: publish failed [redacted]');
    expect(b).not.toContain(FAKE_SECRET);
    // Unowned keys are listed worst (oldest) first.
    expect(b.indexOf('old: key 1')).toBeLessThan(b.indexOf('nobody: key 1'));
  });

  it('does not count a failed action twice when the caller also lists it as a failure', () => {
    const failed: ActionResult = {
      userName: 'app',
      kind: 'rotate',
      slot: 1,
      reason: 'x',
      due: NOW,
      outcome: 'failed',
      message: 'LimitExceeded: too many keys',
    };
    const s = securitySummary({
      accountId: '1',
      now: NOW,
      cfg,
      findings: [],
      results: [failed],
      failures: [
        { subject: 'app', message: 'rotate: LimitExceeded: too many keys' },
        { subject: 'security summary', message: 'Throttled' },
      ],
    });
    expect(s.subject).toContain('2 failures');
    expect(s.body).toContain('Failed actions (1)\n  app: rotate key 1: LimitExceeded: too many keys');
    expect(s.body).toContain('Failures (1)\n  security summary: Throttled');
  });

  it('caps long lists with "and N more"', () => {
    const many = Array.from({ length: 130 }, (_, i) =>
      classify({ row: row(`u${i}`, [key(1, 10)]), user: accountUser(`u${i}`) }, cfg, NOW),
    );
    const s = securitySummary({ accountId: '1', now: NOW, cfg, findings: many, results: [], failures: [] });
    expect(s.body).toContain('Unowned keys (no valid owner tag) (130)');
    expect(s.body).toContain('  ... and 80 more');
    expect(s.body).toContain('  none');
  });

  it('carries a dry-run banner', () => {
    const c = defaults({ DRY_RUN: 'true' });
    const s = securitySummary({ accountId: '1', now: NOW, cfg: c, findings: [], results: [], failures: [] });
    expect(s.subject.startsWith('[DRY RUN]')).toBe(true);
    expect(s.body).toMatch(/^\*\*\* DRY RUN/);
    expect(s.body).toContain('Actions (dry run: none was taken)');
  });
});

describe('splitForSns', () => {
  it('returns a message that fits unchanged', () => {
    const msg = { subject: 'hello', body: 'short\n' };
    expect(splitForSns(msg)).toEqual([msg]);
  });

  it('splits a 5,000-key digest into numbered parts within the limit, dropping nothing', () => {
    const c = defaults({ ENFORCE: 'delete' });
    const findings = Array.from({ length: 2500 }, (_, i) =>
      classify(
        {
          row: row(`svc-${i}+team=a,b.c@d_e-f`, [key(1, 90), key(2, 76, { lastUsed: null })]),
          user: accountUser(`svc-${i}+team=a,b.c@d_e-f`, { owner: 'big@example.com' }),
        },
        c,
        NOW,
      ),
    );
    const items = collectDigests(findings, [], c, NOW).byOwner.get('big@example.com') ?? [];
    expect(items).toHaveLength(5000);
    const digest = ownerDigest('big@example.com', items, ctx({ cfg: c }));
    const attributes = { owner: 'big@example.com', severity: digest.severity, account: '123456789012' };
    const parts = splitForSns(digest, { attributes });

    expect(parts.length).toBeGreaterThan(5);
    parts.forEach((p, i) => {
      expect(snsMessageBytes(p, attributes)).toBeLessThanOrEqual(SNS_SAFE_BYTES);
      expect(p.subject.endsWith(`(part ${i + 1} of ${parts.length})`)).toBe(true);
      expect(p.subject.length).toBeLessThan(100);
      expect(p.body.startsWith(`(part ${i + 1} of ${parts.length})\n\n`)).toBe(true);
    });
    const rebuilt = parts.map((p) => p.body.replace(/^\(part \d+ of \d+\)\n\n/, '')).join('');
    expect(rebuilt).toBe(digest.body);
    // Parts break between paragraphs, never inside a line.
    for (const p of parts.slice(0, -1)) expect(p.body.endsWith('\n')).toBe(true);
    expect(rebuilt).toContain('IAM user svc-2499+team=a,b.c@d_e-f');
  });

  it('keeps part subjects under 100 characters however long the subject', () => {
    const parts = splitForSns({ subject: 'S'.repeat(99), body: 'line\n'.repeat(2000) }, { maxBytes: 4096 });
    expect(parts.length).toBeGreaterThan(2);
    for (const [i, p] of parts.entries()) {
      expect(p.subject.length).toBeLessThanOrEqual(99);
      expect(p.subject.endsWith(`... (part ${i + 1} of ${parts.length})`)).toBe(true);
    }
  });

  it('never cuts a multi-byte character and respects a small budget', () => {
    const body = `${'é😀 line\n'.repeat(3000)}`;
    const parts = splitForSns({ subject: 's', body }, { maxBytes: 4096 });
    for (const p of parts) {
      expect(Buffer.byteLength(p.body) + 1).toBeLessThanOrEqual(4096);
      expect(p.body).not.toContain('\uFFFD');
    }
    expect(parts.map((p) => p.body.replace(/^\(part \d+ of \d+\)\n\n/, '')).join('')).toBe(body);
  });
});
