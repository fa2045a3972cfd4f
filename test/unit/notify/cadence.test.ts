import { describe, expect, it } from 'vitest';
import { addDays, classify } from '../../../src/audit/classify.js';
import { plan } from '../../../src/audit/plan.js';
import type { ActionResult, ReportKey } from '../../../src/audit/types.js';
import { collectDigests, remindersFor, shouldRemind } from '../../../src/notify/cadence.js';
import { accountUser, boundUser, defaults, enrollment, key, NOW, row } from '../audit/fixtures.js';

const cfg = defaults();
const CREATED = new Date('2026-01-01T15:00:00Z');

/** The days (key age) on which a key created on CREATED is mailed, over `days` daily runs. */
function reminderDays(over: Partial<ReportKey>, days = 120, runHour = 6): number[] {
  const out: number[] = [];
  for (let day = 0; day <= days; day++) {
    const now = new Date(CREATED.getTime() + day * 86_400_000);
    now.setUTCHours(runHour, (day * 37) % 60); // the run drifts across the creation time of day
    const u = classify(
      {
        row: row('bob', [{ ...key(1, 0), lastRotated: CREATED, lastUsed: now, ...over }]),
        user: accountUser('bob'),
      },
      cfg,
      now,
    );
    const k = u.keys[0];
    if (k && shouldRemind(k, cfg, now)) out.push(k.ageDays);
  }
  return out;
}

describe('reminder cadence', () => {
  it('mails a key in daily use a handful of times over 120 days, not daily', () => {
    expect(reminderDays({})).toEqual([76, 83, 87, 89, 90, 97, 104, 111, 118]);
  });

  it('does not depend on the time of day the audit runs', () => {
    expect(reminderDays({}, 120, 23)).toEqual(reminderDays({}, 120, 0));
  });

  it('adds the unused reminders for a key never used: day 45, then every 30 days', () => {
    expect(reminderDays({ lastUsed: null })).toEqual([45, 75, 76, 83, 87, 89, 90, 97, 104, 105, 111, 118]);
  });

  it('counts unused from the last use', () => {
    const lastUsed = addDays(CREATED, 10);
    expect(reminderDays({ lastUsed }).filter((d) => d < 76)).toEqual([55]);
  });

  it('never reminds about an inactive key', () => {
    expect(reminderDays({ active: false, lastUsed: null })).toEqual([]);
  });

  it('follows a custom policy and skips day-left reminders outside a short warning period', () => {
    const short = defaults({ MAX_KEY_AGE_DAYS: '30', WARN_BEFORE_DAYS: '5' });
    const days: number[] = [];
    for (let age = 0; age <= 45; age++) {
      const k = classify({ row: row('a', [key(1, age)]), user: accountUser('a') }, short, NOW).keys[0];
      if (k && shouldRemind(k, short, NOW)) days.push(age);
    }
    expect(days).toEqual([25, 27, 29, 30, 37, 44]);
  });

  it('says why it reminds', () => {
    const k = classify({ row: row('a', [key(1, 83, { lastUsed: null })]) }, cfg, NOW).keys[0];
    if (!k) throw new Error('no key');
    expect(remindersFor(k, cfg, NOW)).toEqual([
      { reason: 'days-left', text: 'reaches the 90-day limit in 7 days' },
    ]);
    const e = classify({ row: row('a', [key(1, 97)]) }, cfg, NOW).keys[0];
    if (!e) throw new Error('no key');
    expect(remindersFor(e, cfg, NOW)).toEqual([{ reason: 'overdue', text: '7 days past the 90-day limit' }]);
  });
});

describe('collectDigests', () => {
  it('groups reminder and action items per owner, and keeps unowned apart (root left to the summary)', () => {
    const findings = [
      classify(
        { row: row('a', [key(1, 76), key(2, 10)]), user: accountUser('a', { owner: 'X@Example.com' }) },
        cfg,
        NOW,
      ),
      classify({ row: row('b', [key(1, 90)]), user: accountUser('b', { owner: 'x@example.com' }) }, cfg, NOW),
      classify({ row: row('c', [key(1, 97)]), user: accountUser('c') }, cfg, NOW),
      classify({ row: row('<root_account>', [key(1, 90)], { isRoot: true }) }, cfg, NOW),
    ];
    const d = collectDigests(findings, [], cfg, NOW);
    expect([...d.byOwner.keys()]).toEqual(['x@example.com']);
    expect(d.byOwner.get('x@example.com')?.map((i) => [i.user.userName, i.key?.slot])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(d.unowned.map((i) => i.user.userName)).toEqual(['c']);
  });

  it('always includes actions, user-level ones too, whatever the day', () => {
    const input = {
      row: row('app', [key(1, 84)]),
      user: boundUser('app'),
      enrollment: enrollment('app', { pendingSince: new Date(NOW.getTime() - 8 * 3_600_000) }),
    };
    const u = classify(input, cfg, NOW);
    const results: ActionResult[] = plan([u], cfg, NOW).map((a) => ({ ...a, outcome: 'done' }));
    const items = collectDigests([u], results, cfg, NOW).byOwner.get('dev@example.com') ?? [];
    expect(items.map((i) => [i.key?.slot ?? null, i.actions.map((a) => a.kind)])).toEqual([
      [null, ['clear-stuck']],
      [1, ['rotate']],
    ]);
  });

  it('spares enrolled owners the warning-period reminders that rotation answers, not expiry', () => {
    const at = (age: number) =>
      collectDigests(
        [
          classify(
            { row: row('app', [key(1, age)]), user: boundUser('app'), enrollment: enrollment('app') },
            cfg,
            NOW,
          ),
        ],
        [],
        cfg,
        NOW,
      ).byOwner.size;
    expect([76, 83, 87, 89].map(at)).toEqual([0, 0, 0, 0]);
    expect(at(90)).toBe(1);
  });

  it('mails an enrolled owner twice per rotation cycle over 200 days of audits that act', () => {
    // Walk the days: execute the plan the way the orchestration would and count digests.
    let keys: ReportKey[] = [key(1, 0, { lastRotated: CREATED })];
    let lastRotated: Date | null = null;
    const mailDays: number[] = [];
    for (let day = 0; day <= 200; day++) {
      const now = new Date(CREATED.getTime() + day * 86_400_000 + 3_600_000);
      keys = keys.map((k) => ({ ...k, lastUsed: k.active ? now : k.lastUsed }));
      const u = classify(
        { row: row('app', keys), user: boundUser('app'), enrollment: enrollment('app', { lastRotated }) },
        cfg,
        now,
      );
      const results: ActionResult[] = [];
      for (const a of plan([u], cfg, now)) {
        results.push({ ...a, outcome: 'done' });
        if (a.kind === 'rotate') {
          keys = [...keys.filter((k) => k.active), { ...key(2, 0), lastRotated: now, lastUsed: null }].map(
            (k, i) => ({ ...k, slot: (i + 1) as 1 | 2 }),
          );
          lastRotated = now;
        }
        if (a.kind === 'deactivate-previous') {
          keys = keys.map((k) => (k.slot === a.slot ? { ...k, active: false } : k));
        }
      }
      // The rotation function deletes the inactive previous key at the next rotation: model it.
      if (results.some((r) => r.kind === 'rotate')) keys = keys.filter((k) => k.active || k.slot === 2);
      const items = collectDigests([u], results, cfg, now).byOwner.get('dev@example.com') ?? [];
      if (items.length > 0) mailDays.push(day);
      expect(u.keys.every((k) => !k.active || k.ageDays < 90)).toBe(true);
    }
    expect(mailDays).toEqual([82, 89, 164, 171]);
  });
});
