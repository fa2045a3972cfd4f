import { TagUserCommand } from '@aws-sdk/client-iam';
import { clients } from '../../src/aws/clients.js';
import { withRetry } from '../../src/aws/retry.js';
import { EXEMPT_TAG, SECRET_TAG, USER_TAG } from '../../src/tags.js';
import type { SimAccount } from '../sim/index.js';
import { Rng } from '../sim/rng.js';

/**
 * Seeded accounts for the benchmark. The same (users, seed) always gives the same users, owners,
 * keys and secrets, so the audit and the baseline scan can each get a fresh copy of "the same
 * account" in the same run, and two runs of the benchmark see the same figures.
 *
 * `mixed` is a daily run in steady state: ages spread over a year, keys older than
 * MAX + 10 days already disabled by earlier runs (only a few become due today), ~10% of users
 * enrolled, and about a fifth of the owners with a reminder or an action today. `idle` has the
 * same users, owners and key slots (so a naive scan costs exactly the same calls) but every key is
 * young and recently used and nobody is enrolled: with ENFORCE=notify the audit acts on nobody.
 */

export type Profile = 'mixed' | 'idle';

export interface AccountSpec {
  users: number;
  seed: number;
  profile: Profile;
  /** Secrets are named `<prefix><UserName>` (the config's SECRET_PREFIX). */
  secretPrefix: string;
  /** ARN of the rotation function registered with the simulator (enrolled secrets use it). */
  rotationArn: string;
}

export interface AccountStats {
  users: number;
  owners: number;
  /** Owners picked to get a reminder today (the audit decides who is actually mailed). */
  ownersPicked: number;
  unownedUsers: number;
  exemptUsers: number;
  enrolledUsers: number;
  keys: number;
  activeKeys: number;
  /** Enrolled users whose key is due for rotation today (age ≥ MAX − GRACE − 1). */
  dueForRotation: number;
  /** Users not enrolled with an active key MAX + 10 days old or more (ENFORCE=disable acts). */
  dueForDisable: number;
  /** sha-like fingerprint of the layout (names, tags, key slots and ages), to show two builds agree. */
  fingerprint: string;
}

/** The benchmark's own seeded stream (the simulator's mulberry32), independent of the simulator's. */
export class Random {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  next(): number {
    return this.rng.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * Replaces Math.random with a seeded stream. withRetry's backoff jitter uses Math.random, so with
 * throttling on, each measured phase replays exactly when it starts from its own seed (and does
 * not depend on how much randomness an earlier phase used). Benchmark child processes only.
 */
export function seedMathRandom(seed: number): void {
  const random = new Random(seed);
  Math.random = () => random.next();
}

/**
 * Ages (days) on which the default policy (MAX 90, WARN 14) mails an owner about an active key:
 * warning start, 7/3/1 days left, the limit day and every 7 days after it.
 */
const REMINDER_AGES = [76, 83, 87, 89, 90, 97];
/** Warning or expired ages that are not reminder days: counted in the summary, no mail today. */
const QUIET_LATE_AGES = [77, 78, 79, 80, 81, 82, 84, 85, 86, 88, 91, 92, 93, 94, 95, 96, 98, 99];
/** Active keys past MAX + 10 that an ENFORCE=disable run disables today. */
const DISABLE_AGES = [100, 101, 102];

const NAME_STYLES = [
  (i: number) => `app-${i}`,
  (i: number) => `svc.build+ci-${i}`,
  (i: number) => `deploy_${i}@team.example`,
  (i: number) => `etl=${i},batch`,
  (i: number) => `U${i}-Reporting`,
];

interface PlannedKey {
  ageDays: number;
  active: boolean;
  lastUsedDaysAgo: number | null;
}

interface PlannedUser {
  name: string;
  owner: string | undefined;
  exempt: boolean;
  enrolled: boolean;
  keys: PlannedKey[];
}

/**
 * Draws the account's layout. Every draw happens in the same order whatever the profile, so the
 * `idle` account has exactly the users, owners and key slots of the `mixed` one.
 */
function plan(spec: AccountSpec): { users: PlannedUser[]; owners: number; picked: number } {
  const rnd = new Random(spec.seed);
  const users: PlannedUser[] = [];
  let ownerIndex = 0;
  let ownerLeft = 0;
  let owner = '';
  let ownerPicked = false;
  let ownerServed = false;
  let picked = 0;
  const idle = spec.profile === 'idle';
  for (let i = 1; i <= spec.users; i++) {
    const name = NAME_STYLES[i % NAME_STYLES.length]?.(i) ?? `user-${i}`;
    // Owners own one to three consecutive users (a team's service accounts).
    if (ownerLeft === 0) {
      ownerIndex++;
      ownerLeft = rnd.int(1, 3);
      owner = `owner${ownerIndex}@example.com`;
      ownerPicked = rnd.chance(0.2);
      ownerServed = false;
      if (ownerPicked) picked++;
    }
    ownerLeft--;
    const unowned = rnd.chance(0.04);
    const exempt = rnd.chance(0.02);
    const enrolledDraw = rnd.chance(0.1) && !exempt;
    const slots = rnd.next();
    const keyCount = slots < 0.08 ? 0 : slots < 0.8 ? 1 : 2;
    const ageDraw = rnd.next();
    const usedDraw = rnd.int(0, 20);
    const secondAge = rnd.int(120, 400);
    const rotateDraw = rnd.chance(0.1);
    const disableDraw = rnd.chance(0.012);
    const reminderAge = rnd.pick(REMINDER_AGES);
    const quietLate = rnd.pick(QUIET_LATE_AGES);
    const disableAge = rnd.pick(DISABLE_AGES);
    const rotateAge = rnd.int(82, 84);
    const youngAge = rnd.int(0, 75);
    const neverUsed = rnd.chance(0.04);

    const keys: PlannedKey[] = [];
    const enrolled = enrolledDraw && keyCount > 0 && !idle;
    if (keyCount > 0) {
      let age: number;
      if (idle) {
        age = youngAge;
      } else if (enrolled) {
        // Enrolled users are rotated from day 82: keys are younger, a tenth of them due today.
        age = rotateDraw ? rotateAge : Math.floor(ageDraw * 82);
      } else if (ownerPicked && !ownerServed && !unowned) {
        age = reminderAge;
      } else if (disableDraw) {
        age = disableAge;
      } else if (ageDraw < 0.7) {
        age = youngAge;
      } else {
        age = quietLate;
      }
      if (ownerPicked && !unowned && (enrolled ? age >= 82 : REMINDER_AGES.includes(age))) ownerServed = true;
      keys.push({
        ageDays: age,
        active: true,
        // Keys in use: used within 20 days; a few young keys never used (no unused reminder yet).
        lastUsedDaysAgo: neverUsed && age < 40 ? null : Math.min(usedDraw, age),
      });
    }
    if (keyCount === 2) {
      // The older key: inactive (disabled by an earlier run, or the previous key of a rotation).
      const older = idle ? Math.min(75, (keys[0]?.ageDays ?? 0) + 1 + (secondAge % 10)) : secondAge;
      keys.unshift({ ageDays: older, active: false, lastUsedDaysAgo: Math.min(older, idle ? 30 : 100) });
    }
    users.push({ name, owner: unowned ? undefined : owner, exempt, enrolled, keys });
  }
  return { users, owners: ownerIndex, picked: idle ? 0 : picked };
}

/**
 * Seeds `sim` with the account. Enrolled users get a secret `<prefix><UserName>` holding their
 * active key and both binding tags; the user's tag needs the secret's ARN, known only once the
 * secret exists, so it is set with one TagUser call each. Call before measuring, then reset the
 * call log (the caller does).
 */
export async function buildAccount(sim: SimAccount, spec: AccountSpec): Promise<AccountStats> {
  const { users, owners, picked } = plan(spec);
  const fp = new Fingerprint();
  const stats: AccountStats = {
    users: users.length,
    owners,
    ownersPicked: picked,
    unownedUsers: 0,
    exemptUsers: 0,
    enrolledUsers: 0,
    keys: 0,
    activeKeys: 0,
    dueForRotation: 0,
    dueForDisable: 0,
    fingerprint: '',
  };
  const toTag: { userName: string; secretArn: string }[] = [];
  for (const u of users) {
    const tags: Record<string, string> = {};
    if (u.owner) tags.owner = u.owner;
    else stats.unownedUsers++;
    if (u.exempt) {
      tags[EXEMPT_TAG] = 'true';
      stats.exemptUsers++;
    }
    sim.addUser(u.name, { tags, createdDaysAgo: 500 });
    fp.add(`${u.name}|${u.owner ?? ''}|${u.exempt}|${u.keys.length}`);
    let activeKey: { accessKeyId: string; secretAccessKey: string } | undefined;
    for (const k of u.keys) {
      const key = sim.addKey(u.name, {
        ageDays: k.ageDays,
        status: k.active ? 'Active' : 'Inactive',
        lastUsedDaysAgo: k.lastUsedDaysAgo,
      });
      stats.keys++;
      if (k.active) {
        stats.activeKeys++;
        activeKey = key;
        if (!u.enrolled && !u.exempt && k.ageDays >= 100) stats.dueForDisable++;
      }
    }
    if (u.enrolled && activeKey) {
      stats.enrolledUsers++;
      if ((u.keys.at(-1)?.ageDays ?? 0) >= 82) stats.dueForRotation++;
      const secret = sim.addSecret({
        name: `${spec.secretPrefix}${u.name}`,
        value: {
          UserName: u.name,
          AccessKeyId: activeKey.accessKeyId,
          SecretAccessKey: activeKey.secretAccessKey,
        },
        tags: { [USER_TAG]: u.name },
        rotationLambdaArn: spec.rotationArn,
      });
      toTag.push({ userName: u.name, secretArn: secret.arn });
    }
  }
  const { iam } = clients();
  for (const t of toTag) {
    await withRetry(() =>
      iam.send(new TagUserCommand({ UserName: t.userName, Tags: [{ Key: SECRET_TAG, Value: t.secretArn }] })),
    );
  }
  for (const u of users) fp.add(u.keys.map((k) => `${k.ageDays}:${k.active}:${k.lastUsedDaysAgo}`).join(','));
  stats.fingerprint = fp.digest();
  return stats;
}

/** FNV-1a over the layout: enough to show that two builds of the same spec are identical. */
class Fingerprint {
  private h = 0x811c9dc5;
  add(s: string): void {
    for (let i = 0; i < s.length; i++) {
      this.h ^= s.charCodeAt(i);
      this.h = Math.imul(this.h, 0x01000193) >>> 0;
    }
    this.h = (this.h ^ 0x0a) >>> 0;
  }
  digest(): string {
    return this.h.toString(16).padStart(8, '0');
  }
}
