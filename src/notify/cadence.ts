import { ageInDays } from '../audit/classify.js';
import type { ActionResult, KeyFinding, UserFindings } from '../audit/types.js';
import type { Config } from '../config.js';

/**
 * When an owner hears about a key. The audit runs daily and keeps no database, so the cadence is
 * a function of the key's age in whole UTC calendar days (and days since last use): a daily run
 * sees each age exactly once, so each reminder goes out once.
 *
 * Age (active keys), with W = MAX - WARN (76 with the defaults):
 * - the day the key enters the warning period (age == W);
 * - 7, 3 and 1 days before the limit, if the key is in the warning period by then;
 * - the day it expires (age == MAX);
 * - then every 7 days while it stays active (MAX+7, MAX+14, ...).
 * Unused (active keys): the day the key reaches UNUSED_KEY_DAYS without use (or, never used, of
 * age), then every 30 days.
 * Actions taken on a key (rotation started, deactivated, disabled, deleted, or an action that
 * failed) are always reported, whatever the day.
 *
 * Over 120 days a key that nobody rotates gets 9 age reminders (days 76, 83, 87, 89, 90, 97, 104,
 * 111, 118) instead of 45 daily mails. A run that is skipped or fails skips that day's reminders:
 * the next ones follow on schedule, and the security summary lists every key every day anyway.
 */

export type ReminderReason = 'warning-start' | 'days-left' | 'expired' | 'overdue' | 'unused';

export interface Reminder {
  reason: ReminderReason;
  /** One line for the digest, e.g. "reaches the 90-day limit in 7 days". */
  text: string;
}

export const DAYS_LEFT_REMINDERS: readonly number[] = [7, 3, 1];
export const OVERDUE_EVERY_DAYS = 7;
export const UNUSED_EVERY_DAYS = 30;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function ageReminder(age: number, cfg: Config): Reminder | null {
  const max = cfg.maxKeyAgeDays;
  const warnFrom = max - cfg.warnBeforeDays;
  if (age === max) return { reason: 'expired', text: `reached the ${max}-day limit today` };
  if (age > max && (age - max) % OVERDUE_EVERY_DAYS === 0) {
    return { reason: 'overdue', text: `${plural(age - max, 'day')} past the ${max}-day limit` };
  }
  if (age < max && age >= warnFrom && cfg.warnBeforeDays > 0) {
    const left = max - age;
    if (age === warnFrom) {
      return { reason: 'warning-start', text: `reaches the ${max}-day limit in ${plural(left, 'day')}` };
    }
    if (DAYS_LEFT_REMINDERS.includes(left)) {
      return { reason: 'days-left', text: `reaches the ${max}-day limit in ${plural(left, 'day')}` };
    }
  }
  return null;
}

function unusedReminder(key: KeyFinding, cfg: Config, now: Date): Reminder | null {
  const idle = key.lastUsed ? ageInDays(key.lastUsed, now) : ageInDays(key.createdOn, now);
  if (idle < cfg.unusedKeyDays || (idle - cfg.unusedKeyDays) % UNUSED_EVERY_DAYS !== 0) return null;
  return {
    reason: 'unused',
    text: key.lastUsed ? `not used for ${plural(idle, 'day')}` : `never used in ${plural(idle, 'day')}`,
  };
}

/** The reminders due today for a key (age first, then unused); empty when none. */
export function remindersFor(key: KeyFinding, cfg: Config, now: Date): Reminder[] {
  if (!key.active) return [];
  const out: Reminder[] = [];
  const age = ageReminder(ageInDays(key.createdOn, now), cfg);
  if (age) out.push(age);
  const unused = unusedReminder(key, cfg, now);
  if (unused) out.push(unused);
  return out;
}

/** True when today is a reminder day for this key (see the cadence above). */
export function shouldRemind(key: KeyFinding, cfg: Config, now: Date): boolean {
  return remindersFor(key, cfg, now).length > 0;
}

/** One key (or, for user-level actions such as clearing a stuck rotation, one user) in a digest. */
export interface DigestItem {
  user: UserFindings;
  /** Absent for an action on the user's secret that concerns no key (clear-stuck). */
  key?: KeyFinding | undefined;
  /** Why the key is mailed today; empty when it is here for an action only. */
  reminders: Reminder[];
  /** What this run did, would have done (dry run), skipped or failed about this key or user. */
  actions: ActionResult[];
}

export interface Digests {
  /** Items per owner email (lower case), users and keys in input order. */
  byOwner: Map<string, DigestItem[]>;
  /** Items of users without a valid owner (root excluded: the security summary lists root keys). */
  unowned: DigestItem[];
}

/**
 * Picks what goes into today's mails: every key with an action result, and every key whose
 * reminder day it is. For enrolled users the automatic rotation answers the warning-period
 * reminders, so they hear only about actions, an expired key (rotation is not keeping up) and
 * unused keys.
 */
export function collectDigests(
  findings: readonly UserFindings[],
  results: readonly ActionResult[],
  cfg: Config,
  now: Date,
): Digests {
  const byUser = new Map<string, ActionResult[]>();
  for (const r of results) {
    const list = byUser.get(r.userName);
    if (list) list.push(r);
    else byUser.set(r.userName, [r]);
  }
  const digests: Digests = { byOwner: new Map(), unowned: [] };
  for (const user of findings) {
    if (user.isRoot) continue;
    const userResults = byUser.get(user.userName) ?? [];
    const items: DigestItem[] = [];
    const userLevel = userResults.filter((r) => r.slot === undefined);
    if (userLevel.length > 0) items.push({ user, reminders: [], actions: userLevel });
    for (const key of user.keys) {
      const actions = userResults.filter((r) => r.slot === key.slot);
      let reminders = remindersFor(key, cfg, now);
      if (user.enrolled && !user.exempt) {
        reminders = reminders.filter((r) => r.reason !== 'warning-start' && r.reason !== 'days-left');
      }
      if (actions.length > 0 || reminders.length > 0) items.push({ user, key, reminders, actions });
    }
    if (items.length === 0) continue;
    if (user.owner) {
      const list = digests.byOwner.get(user.owner);
      if (list) list.push(...items);
      else digests.byOwner.set(user.owner, items);
    } else {
      digests.unowned.push(...items);
    }
  }
  return digests;
}
