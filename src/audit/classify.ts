import { DAY_MS } from '../clock.js';
import type { Config } from '../config.js';
import { EXEMPT_TAG, SECRET_TAG } from '../tags.js';
import type {
  AccountUser,
  ClassifyInput,
  Enrollment,
  KeyCategory,
  KeyFinding,
  KeyStatus,
  KnownAccessKey,
  ReportKey,
  ReportRow,
  UserFindings,
} from './types.js';

/**
 * The key-age policy, as pure functions of the account's facts and the clock: no AWS calls.
 *
 * Ages are whole UTC calendar days. A key created at 23:50 is one day old ten minutes later,
 * which errs on the safe side by less than a day, and a daily audit sees each age exactly once
 * whatever time it runs (floor(elapsed / 24 h) repeats or skips a day when the run drifts across
 * the key's creation time of day), so reminders keyed on age neither repeat nor go missing.
 */

/** Midnight UTC of the day `d` falls on. */
export function utcDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

export function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * DAY_MS);
}

/** Whole UTC calendar days from `from` to `now` (0 on the same day). */
export function ageInDays(from: Date, now: Date): number {
  return Math.round((utcDay(now).getTime() - utcDay(from).getTime()) / DAY_MS);
}

/** YYYY-MM-DD in UTC. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

// Practical address check: one @, a dotted domain of DNS labels, nothing an SNS filter would choke on.
const EMAIL =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

export function isValidEmail(value: string): boolean {
  return value.length <= 254 && EMAIL.test(value) && !value.includes('..');
}

/** A tag's value by key; IAM does not let two tag keys differ only by case, so neither do we. */
export function tagValue(tags: Record<string, string> | undefined, key: string): string | undefined {
  if (!tags) return undefined;
  if (key in tags) return tags[key];
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(tags)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/** The age status of an active key. */
export function ageStatus(ageDays: number, cfg: Config): 'ok' | 'warning' | 'expired' {
  if (ageDays >= cfg.maxKeyAgeDays) return 'expired';
  if (ageDays >= cfg.maxKeyAgeDays - cfg.warnBeforeDays) return 'warning';
  return 'ok';
}

/** True when `now` is at least STUCK_ROTATION_HOURS after `pendingSince`. */
export function isStuck(pendingSince: Date | null, cfg: Config, now: Date): boolean {
  return (
    pendingSince !== null && now.getTime() - pendingSince.getTime() >= cfg.stuckRotationHours * 3_600_000
  );
}

const sameSecond = (a: Date, b: Date) => Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);

/**
 * Matches report slots to key ids by creation time (both are kept to the second). A tie between
 * keys created in the same second is broken by state; when it cannot be, the id stays unknown.
 */
function matchKeyIds(keys: readonly ReportKey[], known: readonly KnownAccessKey[]): Map<number, string> {
  const ids = new Map<number, string>();
  for (const key of keys) {
    let candidates = known.filter((k) => sameSecond(k.createDate, key.lastRotated));
    if (candidates.length > 1) {
      candidates = candidates.filter((k) => (k.status === 'Active') === key.active);
    }
    const only = candidates[0];
    if (candidates.length === 1 && only) ids.set(key.slot, only.accessKeyId);
  }
  // Two slots must not claim the same id.
  const [a, b] = [ids.get(1), ids.get(2)];
  if (a !== undefined && a === b) ids.clear();
  return ids;
}

function uniqueEnrollments(input: ClassifyInput): Enrollment[] {
  const all = [...(input.enrollment ? [input.enrollment] : []), ...(input.enrollments ?? [])];
  const seen = new Set<string>();
  return all.filter((e) => {
    if (seen.has(e.secretArn)) return false;
    seen.add(e.secretArn);
    return true;
  });
}

function isBound(e: Enrollment, row: ReportRow, user: AccountUser | undefined): boolean {
  return (
    user !== undefined &&
    e.userName === row.user &&
    tagValue(user.tags, SECRET_TAG) === e.secretArn &&
    e.boundBothWays !== false
  );
}

function classifyKey(
  row: ReportRow,
  key: ReportKey,
  keyId: string | undefined,
  secretCurrent: boolean | null,
  cfg: Config,
  now: Date,
): KeyFinding {
  const ageDays = ageInDays(key.lastRotated, now);
  const daysSinceUse = key.lastUsed ? ageInDays(key.lastUsed, now) : null;
  const status: KeyStatus = key.active ? ageStatus(ageDays, cfg) : 'inactive';
  const unused = key.active && (daysSinceUse ?? ageDays) >= cfg.unusedKeyDays;
  const statuses: KeyCategory[] = [status];
  if (unused) statuses.push('unused');
  return {
    userName: row.user,
    slot: key.slot,
    keyId,
    createdOn: key.lastRotated,
    ageDays,
    lastUsed: key.lastUsed,
    lastUsedService: key.lastUsedService,
    lastUsedRegion: key.lastUsedRegion,
    daysSinceUse,
    active: key.active,
    status,
    unused,
    statuses,
    deadline: addDays(utcDay(key.lastRotated), cfg.maxKeyAgeDays),
    daysLeft: cfg.maxKeyAgeDays - ageDays,
    secretCurrent,
  };
}

/** Applies the policy to one user (or the root account). */
export function classify(input: ClassifyInput, cfg: Config, now: Date): UserFindings {
  const { row, user } = input;
  const isRoot = row.isRoot;
  const secrets = isRoot ? [] : uniqueEnrollments(input);
  const bound = secrets.filter((e) => isBound(e, row, user));
  const enrollment =
    bound.find((e) => e.rotationEnabled) ?? bound[0] ?? (secrets.length > 0 ? secrets[0] : undefined);
  const enrolled = enrollment !== undefined && bound.includes(enrollment) && enrollment.rotationEnabled;

  let enrollmentProblem: string | undefined;
  const userSideSecret = isRoot ? undefined : tagValue(user?.tags, SECRET_TAG);
  if (!enrolled && enrollment) {
    enrollmentProblem = bound.includes(enrollment)
      ? `rotation is not enabled on secret ${enrollment.secretName}`
      : `secret ${enrollment.secretName} is tagged for this user but the user's ${SECRET_TAG} tag ${
          userSideSecret ? 'names another secret' : 'is missing'
        }`;
  } else if (!enrollment && userSideSecret) {
    enrollmentProblem = `the user's ${SECRET_TAG} tag names ${userSideSecret}, which is not tagged for this user`;
  }

  // Which slot is a secret's AWSCURRENT? Known only from key ids; when a secret exists whose
  // current key we cannot place, every key is "maybe current" and enforcement keeps its hands off.
  const ids = input.accessKeys ? matchKeyIds(row.keys, input.accessKeys) : new Map<number, string>();
  const currentIds = new Set(secrets.flatMap((e) => (e.currentKeyId ? [e.currentKeyId] : [])));
  const someCurrentUnknown =
    secrets.some((e) => !e.currentKeyId) ||
    (userSideSecret !== undefined && !secrets.some((e) => e.secretArn === userSideSecret));
  const noSecret = secrets.length === 0 && userSideSecret === undefined;

  const keys = row.keys.map((key) => {
    const keyId = ids.get(key.slot);
    let secretCurrent: boolean | null;
    if (noSecret) secretCurrent = false;
    else if (keyId !== undefined && currentIds.has(keyId)) secretCurrent = true;
    else if (keyId !== undefined && !someCurrentUnknown) secretCurrent = false;
    else secretCurrent = null;
    return classifyKey(row, key, keyId, secretCurrent, cfg, now);
  });

  const groups = (user?.groups ?? []).map((g) => g.toLowerCase());
  const exemptByTag = !isRoot && tagValue(user?.tags, EXEMPT_TAG)?.trim().toLowerCase() === 'true';
  const exemptByGroup =
    !isRoot && cfg.exemptGroup !== undefined && groups.includes(cfg.exemptGroup.toLowerCase());

  const rawOwner = isRoot ? undefined : tagValue(user?.tags, cfg.ownerTagKey)?.trim();
  const ownerCandidate = rawOwner?.toLowerCase();
  const owner = ownerCandidate && isValidEmail(ownerCandidate) ? ownerCandidate : undefined;

  return {
    userName: row.user,
    arn: row.arn || user?.arn || '',
    isRoot,
    keys,
    twoActiveKeys: keys.filter((k) => k.active).length >= 2,
    consoleWithoutMfa: isRoot ? !row.mfaActive : row.passwordEnabled === true && !row.mfaActive,
    exempt: exemptByTag || exemptByGroup,
    exemptReason: exemptByTag ? 'tag' : exemptByGroup ? 'group' : undefined,
    owner,
    ownerInvalid: rawOwner && !owner ? rawOwner : undefined,
    enrolled,
    enrollment,
    enrollmentProblem,
    stuckRotation: secrets.some((e) => isStuck(e.pendingSince, cfg, now)),
    detailsMissing: !isRoot && user === undefined,
    outsideManagedPath: !isRoot && user !== undefined && !user.path.startsWith(cfg.managedUserPath),
  };
}

/** Everything the scan read about the account. */
export interface AccountFacts {
  rows: readonly ReportRow[];
  users: readonly AccountUser[];
  /** Every secret tagged `iam-key-rotator:user`. */
  enrollments: readonly Enrollment[];
  /** Key ids per user name, for the users the run listed keys of. */
  accessKeys?: ReadonlyMap<string, readonly KnownAccessKey[]> | undefined;
}

/**
 * Joins the scan's lists by user name and classifies every report row. Users created after the
 * report was generated are not in it: their keys are at most four hours old.
 */
export function classifyAccount(facts: AccountFacts, cfg: Config, now: Date): UserFindings[] {
  const users = new Map(facts.users.map((u) => [u.userName, u]));
  const secrets = new Map<string, Enrollment[]>();
  for (const e of facts.enrollments) {
    const list = secrets.get(e.userName);
    if (list) list.push(e);
    else secrets.set(e.userName, [e]);
  }
  return facts.rows.map((row) =>
    classify(
      {
        row,
        user: users.get(row.user),
        enrollments: row.isRoot ? [] : (secrets.get(row.user) ?? []),
        accessKeys: facts.accessKeys?.get(row.user),
      },
      cfg,
      now,
    ),
  );
}
