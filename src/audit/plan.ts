import { DAY_MS } from '../clock.js';
import type { Config } from '../config.js';
import { addDays, isoDay, isStuck, utcDay } from './classify.js';
import type { HeldAction, KeyFinding, PlannedAction, UserFindings } from './types.js';

/**
 * What the audit does about each user's findings, as pure data. The orchestration executes the
 * actions (or, in a dry run, records them as "would have been done").
 *
 * Enrolled users (a bound secret with rotation enabled):
 * - `rotate` once the key in use is MAX - GRACE - 1 days old (day 82 by default): the new key
 *   exists from that day and the previous one is deactivated GRACE days later, on day 89, so no
 *   active key outlives MAX_KEY_AGE_DAYS;
 * - `deactivate-previous` for an active key older than the secret's AWSCURRENT key once the
 *   current key is GRACE days old (the rotation function deletes it at the next rotation);
 * - `clear-stuck` when AWSPENDING has waited STUCK_ROTATION_HOURS, since it blocks every later
 *   rotation; a due rotation is then started in the same run.
 * Users not enrolled, per ENFORCE: `disable` an active key MAX + 10 days old; with `delete`, also
 * `delete` an inactive key MAX + 20 days old that nobody has used for 10 days.
 *
 * Never: an action on the root account, an exempt user, a user whose tags we could not read, or
 * (enforcement) a key that is or may be the AWSCURRENT of a secret bound to the user. Changes the
 * policy wants but cannot prove safe come back as held actions, for the security summary.
 *
 * A user's actions are listed in the order they must run; if one fails, skip the rest of that
 * user's actions.
 */

/** Age of the key in use at which the audit starts a rotation (82 with the defaults). */
export function rotateAtAge(cfg: Config): number {
  return Math.max(0, cfg.maxKeyAgeDays - cfg.rotationGraceDays - 1);
}

/** Days past MAX_KEY_AGE_DAYS after which ENFORCE=disable|delete disables an active key. */
export const DISABLE_AFTER_DAYS = 10;
/** Days past MAX_KEY_AGE_DAYS after which ENFORCE=delete deletes an inactive key. */
export const DELETE_AFTER_DAYS = 20;
/** A key is deleted only when nobody used it for this long (we keep no record of when it was disabled). */
export const DELETE_QUIET_DAYS = 10;
/**
 * The credential report can be up to 4 hours old. A secret that rotated after the newest key the
 * report shows, within this window, means the report predates the rotation: do not rotate again.
 */
const STALE_REPORT_WINDOW_MS = DAY_MS;

export interface PlanResult {
  actions: PlannedAction[];
  held: HeldAction[];
}

const label = (k: KeyFinding) => `key ${k.slot} (created ${isoDay(k.createdOn)})`;
const keyRef = (k: KeyFinding) => ({ slot: k.slot, keyId: k.keyId, createdOn: k.createdOn });
const byCreation = (a: KeyFinding, b: KeyFinding) => a.createdOn.getTime() - b.createdOn.getTime();

/** How long after the key's creation a rotation may record its LastRotatedDate (verification included). */
const ROTATION_WINDOW_MS = 3_600_000;

/**
 * The key the enrolled user's secret holds in AWSCURRENT: known by id when the run matched ids to
 * slots; otherwise the only active key; otherwise the newer of two when the secret's last rotation
 * happened when that key was created (the normal state during the grace period). Anything else
 * (a stray key left by a failed rotation, a secret never rotated) is ambiguous: undefined.
 */
export function keyInUse(u: UserFindings): KeyFinding | undefined {
  const current = u.keys.find((k) => k.secretCurrent === true);
  if (current?.active) return current;
  const active = u.keys.filter((k) => k.active).sort(byCreation);
  if (active.length <= 1) return active[0];
  const newest = active.at(-1);
  const lastRotated = u.enrollment?.lastRotated;
  if (
    newest &&
    lastRotated &&
    Math.abs(lastRotated.getTime() - newest.createdOn.getTime()) <= ROTATION_WINDOW_MS
  ) {
    return newest;
  }
  return undefined;
}

function planEnrolled(u: UserFindings, cfg: Config, now: Date, out: PlanResult): void {
  const e = u.enrollment;
  if (!e) return;
  const secretArn = e.secretArn;
  const stuck = isStuck(e.pendingSince, cfg, now);
  const pending = e.pendingSince !== null;

  if (stuck && e.pendingSince) {
    out.actions.push({
      userName: u.userName,
      kind: 'clear-stuck',
      secretArn,
      reason: `AWSPENDING on ${e.secretName} has waited since ${e.pendingSince.toISOString()} and blocks every later rotation`,
      due: new Date(e.pendingSince.getTime() + cfg.stuckRotationHours * 3_600_000),
    });
  }

  const active = u.keys.filter((k) => k.active).sort(byCreation);
  const inUse = keyInUse(u);

  // Previous key: only when no rotation is pending. A pending (or just cleared) rotation may have
  // left a newer key that is not AWSCURRENT, and "the older of two" would then be the key in use.
  if (!inUse && active.length > 1 && !pending) {
    out.held.push({
      userName: u.userName,
      kind: 'deactivate-previous',
      reason: `two active keys and which one ${e.secretName} holds is not known (no key ids, and its last rotation does not match the newer key)`,
    });
  }
  if (inUse) {
    const currentKnown = inUse.secretCurrent === true;
    for (const k of active) {
      if (k === inUse) continue;
      if (k.createdOn.getTime() > inUse.createdOn.getTime()) {
        // While a rotation is pending, the newer key is its AWSPENDING key: nothing to report.
        if (pending) continue;
        out.held.push({
          userName: u.userName,
          kind: 'deactivate-previous',
          slot: k.slot,
          reason: `${label(k)} is newer than the secret's AWSCURRENT key; the next rotation resolves it`,
        });
        continue;
      }
      if (inUse.ageDays < cfg.rotationGraceDays) continue;
      if (pending) {
        out.held.push({
          userName: u.userName,
          kind: 'deactivate-previous',
          slot: k.slot,
          reason: `a rotation of ${e.secretName} is pending: which key is current is about to change`,
        });
        continue;
      }
      if (k.secretCurrent === true) continue;
      if (currentKnown && k.secretCurrent === null) {
        out.held.push({
          userName: u.userName,
          kind: 'deactivate-previous',
          slot: k.slot,
          reason: `${label(k)} may be the AWSCURRENT of another secret tagged for this user`,
        });
        continue;
      }
      out.actions.push({
        userName: u.userName,
        kind: 'deactivate-previous',
        ...keyRef(k),
        secretArn,
        reason: currentKnown
          ? `${label(k)} is not the AWSCURRENT of ${e.secretName} and the ${cfg.rotationGraceDays}-day grace after the rotation has passed`
          : `${label(k)} is the previous key: ${e.secretName} last rotated when the newer key was created, ${inUse.ageDays} days ago (grace ${cfg.rotationGraceDays} days)`,
        due: addDays(utcDay(inUse.createdOn), cfg.rotationGraceDays),
      });
    }
  }

  // When the key in use is ambiguous, the oldest active key may be it: rotate by that one's age.
  const ageKey = inUse ?? active[0];
  if (!ageKey || ageKey.ageDays < rotateAtAge(cfg)) return;
  if (pending && !stuck) {
    out.held.push({
      userName: u.userName,
      kind: 'rotate',
      reason: `a rotation of ${e.secretName} started at ${e.pendingSince?.toISOString()} is still in progress`,
    });
    return;
  }
  if (
    e.lastRotated &&
    e.lastRotated.getTime() - ageKey.createdOn.getTime() > DAY_MS &&
    now.getTime() - e.lastRotated.getTime() < STALE_REPORT_WINDOW_MS
  ) {
    out.held.push({
      userName: u.userName,
      kind: 'rotate',
      reason: `${e.secretName} rotated at ${e.lastRotated.toISOString()}, after the credential report was generated`,
    });
    return;
  }
  out.actions.push({
    userName: u.userName,
    kind: 'rotate',
    ...keyRef(ageKey),
    secretArn,
    reason: `${label(ageKey)} is ${ageKey.ageDays} days old; rotating from day ${rotateAtAge(cfg)} keeps every active key under ${cfg.maxKeyAgeDays} days`,
    due: addDays(utcDay(ageKey.createdOn), rotateAtAge(cfg)),
  });
}

function planEnforcement(u: UserFindings, cfg: Config, out: PlanResult): void {
  if (cfg.enforce === 'notify') return;
  for (const k of u.keys) {
    const disableDue = k.active && k.ageDays >= cfg.maxKeyAgeDays + DISABLE_AFTER_DAYS;
    const deleteDue =
      cfg.enforce === 'delete' &&
      !k.active &&
      k.ageDays >= cfg.maxKeyAgeDays + DELETE_AFTER_DAYS &&
      (k.daysSinceUse === null || k.daysSinceUse >= DELETE_QUIET_DAYS);
    if (!disableDue && !deleteDue) continue;
    const kind = disableDue ? 'disable' : 'delete';
    if (k.secretCurrent !== false) {
      out.held.push({
        userName: u.userName,
        kind,
        slot: k.slot,
        reason:
          k.secretCurrent === true
            ? `${label(k)} is the AWSCURRENT of a secret bound to the user`
            : `${label(k)} may be the AWSCURRENT of ${u.enrollment?.secretName ?? 'a secret bound to the user'} (its key id is not known to this run)`,
      });
      continue;
    }
    out.actions.push({
      userName: u.userName,
      kind,
      ...keyRef(k),
      reason: disableDue
        ? `${label(k)} is ${k.ageDays} days old, ${k.ageDays - cfg.maxKeyAgeDays} past the ${cfg.maxKeyAgeDays}-day limit (ENFORCE=${cfg.enforce})`
        : `${label(k)} is inactive and ${k.ageDays} days old (ENFORCE=delete)`,
      due: addDays(k.deadline, disableDue ? DISABLE_AFTER_DAYS : DELETE_AFTER_DAYS),
    });
  }
}

/** The actions for one user, and the changes held back. */
export function planUser(u: UserFindings, cfg: Config, now: Date): PlanResult {
  const out: PlanResult = { actions: [], held: [] };
  if (u.isRoot || u.exempt) return out;
  if (u.detailsMissing) {
    // Without tags we cannot tell exempt or enrolled users apart: change nothing.
    const overdue = u.keys.some((k) => k.active && k.ageDays >= cfg.maxKeyAgeDays + DISABLE_AFTER_DAYS);
    if (cfg.enforce !== 'notify' && overdue) {
      out.held.push({
        userName: u.userName,
        kind: 'disable',
        reason: 'the user was not listed by GetAccountAuthorizationDetails, so its tags are unknown',
      });
    }
    return out;
  }
  if (u.enrolled) planEnrolled(u, cfg, now, out);
  else planEnforcement(u, cfg, out);
  if (u.outsideManagedPath) {
    // The roles may change keys only under MANAGED_USER_PATH: acting would fail with AccessDenied
    // every day. Report what the policy wants instead.
    for (const a of out.actions) {
      out.held.push({
        userName: a.userName,
        kind: a.kind,
        slot: a.slot,
        reason: `the user's path is outside MANAGED_USER_PATH (${cfg.managedUserPath}), where the rotator may not act`,
      });
    }
    out.actions = [];
  }
  return out;
}

/** Every user's actions and held changes, users in input order. */
export function planDetailed(findings: readonly UserFindings[], cfg: Config, now: Date): PlanResult {
  const out: PlanResult = { actions: [], held: [] };
  for (const u of findings) {
    const r = planUser(u, cfg, now);
    out.actions.push(...r.actions);
    out.held.push(...r.held);
  }
  return out;
}

/** Every user's actions, in execution order per user. */
export function plan(findings: readonly UserFindings[], cfg: Config, now: Date): PlannedAction[] {
  return planDetailed(findings, cfg, now).actions;
}

/** What happens next to a key, for people: a sentence and, when there is one, the date. */
export interface NextStep {
  text: string;
  on?: Date | undefined;
}

const onOrToday = (due: Date, now: Date): Date => (due.getTime() < utcDay(now).getTime() ? utcDay(now) : due);

/**
 * The next automatic step for a key (or the absence of one), from the same rules as planUser.
 * Says "today" for steps already due, since this run takes (or would take) them.
 */
export function nextStep(u: UserFindings, k: KeyFinding, cfg: Config, now: Date): NextStep {
  const when = (due: Date) => {
    const d = onOrToday(due, now);
    return { on: d, day: d.getTime() === utcDay(now).getTime() ? 'today' : `on ${isoDay(d)}` };
  };
  const deadlineText =
    k.daysLeft > 0
      ? `before ${isoDay(k.deadline)}`
      : k.daysLeft === 0
        ? 'now (it reaches the limit today)'
        : `now (overdue since ${isoDay(k.deadline)})`;

  if (u.isRoot) {
    return {
      text: 'nothing automatic: root access keys should not exist; sign in as root and delete this key',
    };
  }
  if (u.exempt) {
    return {
      text: k.active
        ? `nothing automatic (the user is exempt): please rotate ${deadlineText}`
        : 'nothing automatic (the user is exempt): delete the key once nothing needs it',
    };
  }
  if (u.detailsMissing) {
    return { text: 'nothing automatic (the user could not be read): please rotate or delete' };
  }
  if (u.outsideManagedPath) {
    return {
      text: k.active
        ? `nothing automatic (the user is outside the managed path ${cfg.managedUserPath}): please rotate ${deadlineText}`
        : `nothing automatic (the user is outside the managed path ${cfg.managedUserPath}): delete the key once nothing needs it`,
    };
  }

  if (u.enrolled) {
    if (!k.active) return { text: 'will be deleted by the next rotation' };
    const inUse = keyInUse(u);
    if (inUse && k !== inUse && k.createdOn.getTime() < inUse.createdOn.getTime()) {
      const w = when(addDays(utcDay(inUse.createdOn), cfg.rotationGraceDays));
      return { text: `will be deactivated ${w.day} (end of the grace after rotation)`, on: w.on };
    }
    if (u.enrollment?.pendingSince && !isStuck(u.enrollment.pendingSince, cfg, now)) {
      return { text: 'a rotation is in progress: the new key replaces this one' };
    }
    const w = when(addDays(utcDay(k.createdOn), rotateAtAge(cfg)));
    return { text: `will be rotated automatically ${w.day}`, on: w.on };
  }

  const protectedKey = k.secretCurrent !== false;
  if (!k.active) {
    if (cfg.enforce === 'delete' && !protectedKey) {
      const w = when(addDays(k.deadline, DELETE_AFTER_DAYS));
      return { text: `will be deleted ${w.day === 'today' ? 'once unused for 10 days' : w.day}`, on: w.on };
    }
    return { text: 'nothing automatic: delete the key once nothing needs it' };
  }
  if (cfg.enforce === 'notify' || protectedKey) {
    return { text: `nothing automatic: please rotate ${deadlineText}` };
  }
  const d = when(addDays(k.deadline, DISABLE_AFTER_DAYS));
  if (cfg.enforce === 'disable') {
    return { text: `please rotate ${deadlineText}; the key will be disabled ${d.day}`, on: d.on };
  }
  const del = addDays(k.deadline, DELETE_AFTER_DAYS);
  return {
    text: `please rotate ${deadlineText}; the key will be disabled ${d.day} and deleted from ${isoDay(onOrToday(del, now))}`,
    on: d.on,
  };
}
