import type { ActionKind, ActionOutcome, KeyCategory } from '../../src/audit/types.js';
import type { Severity } from '../../src/notify/format.js';
import { ensureOwnerSubscriptions } from '../../src/notify/send.js';
import { EXEMPT_TAG } from '../../src/tags.js';
import type { SimOptions } from '../sim/index.js';
import { type AuditAccount, auditAccount, DAY_MS, enroll, rotateNow, START } from './audit-account.js';

/**
 * The seeded account of the 500-user scenario. Every user belongs to a profile whose outcome is
 * known in advance: the categories of its keys, the actions the audit takes, the changes it holds
 * back, and whether (and how urgently) the owner hears about it today.
 *
 * Timeline: phase-1 users are created at T0 = START and given a rotation history (a rotation 7 or
 * 3 days before the audit, a stuck rotation, a rotation in progress); the clock then moves 7 days
 * to T1, where every other user is created and the audit runs. Key ages below are ages at T1.
 * Settings: defaults (MAX 90, WARN 14, GRACE 7, UNUSED 45), ENFORCE=delete, EXEMPT_GROUP=break-glass.
 */

/** When the audit runs: seven days after START. */
export const T1 = new Date(START.getTime() + 7 * DAY_MS);

export type Phase1 = 'rotated-7d' | 'rotated-3d' | 'stuck' | 'pending-2h';

export interface KeySpec {
  age: number;
  status?: 'Inactive';
  /** Days since last use at T1; null = never used. Default 1. */
  lastUsed?: number | null;
}

export interface Profile {
  name: string;
  count: number;
  owner?: 'none' | 'invalid';
  exempt?: 'tag' | 'group';
  consoleWithoutMfa?: boolean;
  keys: KeySpec[];
  enroll?: 'yes' | 'rotation-off' | 'one-sided';
  phase1?: Phase1;
  /** Expected categories of the user's keys, as counted in summary.keysByStatus. */
  statuses: KeyCategory[];
  actions: [ActionKind, ActionOutcome][];
  held?: ActionKind[];
  /** Severity of the owner's digest item, or undefined when the owner hears nothing today. */
  digest?: Severity;
}

const used = (age: number, lastUsed: number | null = 1): KeySpec => ({ age, lastUsed });

export const PROFILES: Profile[] = [
  // Not enrolled.
  { name: 'n-ok', count: 150, keys: [used(10)], statuses: ['ok'], actions: [] },
  {
    name: 'n-warn-start',
    count: 40,
    keys: [used(76)],
    statuses: ['warning'],
    actions: [],
    digest: 'warning',
  },
  { name: 'n-warn', count: 40, keys: [used(80)], statuses: ['warning'], actions: [] },
  { name: 'n-7left', count: 10, keys: [used(83)], statuses: ['warning'], actions: [], digest: 'warning' },
  {
    name: 'n-expired-today',
    count: 20,
    keys: [used(90)],
    statuses: ['expired'],
    actions: [],
    digest: 'expired',
  },
  { name: 'n-expired', count: 20, keys: [used(95)], statuses: ['expired'], actions: [] },
  {
    name: 'n-disable',
    count: 30,
    keys: [used(100)],
    statuses: ['expired'],
    actions: [['disable', 'done']],
    digest: 'action',
  },
  { name: 'n-overdue', count: 10, keys: [used(97)], statuses: ['expired'], actions: [], digest: 'expired' },
  {
    name: 'n-unused',
    count: 20,
    keys: [used(60, 45)],
    statuses: ['ok', 'unused'],
    actions: [],
    digest: 'warning',
  },
  { name: 'n-never-used', count: 10, keys: [used(50, null)], statuses: ['ok', 'unused'], actions: [] },
  {
    name: 'n-delete',
    count: 20,
    keys: [{ age: 115, status: 'Inactive', lastUsed: 20 }],
    statuses: ['inactive'],
    actions: [['delete', 'done']],
    digest: 'action',
  },
  {
    name: 'n-inactive-young',
    count: 10,
    keys: [{ age: 100, status: 'Inactive', lastUsed: 5 }],
    statuses: ['inactive'],
    actions: [],
  },
  { name: 'n-two-keys', count: 10, keys: [used(30), used(5)], statuses: ['ok', 'ok'], actions: [] },
  { name: 'n-console', count: 10, consoleWithoutMfa: true, keys: [used(10)], statuses: ['ok'], actions: [] },
  { name: 'n-nokeys', count: 10, keys: [], statuses: [], actions: [] },
  // Exempt: reported, never changed.
  { name: 'x-tag-old', count: 10, exempt: 'tag', keys: [used(200)], statuses: ['expired'], actions: [] },
  {
    name: 'x-tag-overdue',
    count: 5,
    exempt: 'tag',
    keys: [used(97)],
    statuses: ['expired'],
    actions: [],
    digest: 'expired',
  },
  { name: 'x-group', count: 10, exempt: 'group', keys: [used(150)], statuses: ['expired'], actions: [] },
  // Unowned: the security summary lists them.
  {
    name: 'u-disable',
    count: 10,
    owner: 'none',
    keys: [used(100)],
    statuses: ['expired'],
    actions: [['disable', 'done']],
  },
  {
    name: 'u-invalid-owner',
    count: 5,
    owner: 'invalid',
    keys: [used(76)],
    statuses: ['warning'],
    actions: [],
  },
  // Enrolled (a bound secret with rotation on), and users that only look enrolled.
  { name: 'e-ok', count: 40, enroll: 'yes', keys: [used(30)], statuses: ['ok'], actions: [] },
  {
    name: 'e-rotate',
    count: 20,
    enroll: 'yes',
    keys: [used(82)],
    statuses: ['warning'],
    actions: [['rotate', 'done']],
    digest: 'action',
  },
  {
    name: 'e-rotate-late',
    count: 5,
    enroll: 'yes',
    keys: [used(100)],
    statuses: ['expired'],
    actions: [['rotate', 'done']],
    digest: 'action',
  },
  {
    name: 'e-grace-over',
    count: 10,
    enroll: 'yes',
    phase1: 'rotated-7d',
    keys: [used(89, 8)],
    statuses: ['warning', 'ok'],
    actions: [['deactivate-previous', 'done']],
    digest: 'action',
  },
  {
    name: 'e-grace',
    count: 10,
    enroll: 'yes',
    phase1: 'rotated-3d',
    keys: [used(85, 4)],
    statuses: ['warning', 'ok'],
    actions: [],
  },
  {
    name: 'e-stuck-due',
    count: 5,
    enroll: 'yes',
    phase1: 'stuck',
    keys: [used(85)],
    statuses: ['warning', 'ok'],
    actions: [
      ['clear-stuck', 'done'],
      ['rotate', 'done'],
    ],
    digest: 'action',
  },
  {
    name: 'e-stuck',
    count: 5,
    enroll: 'yes',
    phase1: 'stuck',
    keys: [used(20)],
    statuses: ['ok', 'ok'],
    actions: [['clear-stuck', 'done']],
    digest: 'action',
  },
  {
    name: 'e-pending',
    count: 5,
    enroll: 'yes',
    phase1: 'pending-2h',
    keys: [used(84)],
    statuses: ['warning', 'ok'],
    actions: [],
    held: ['rotate'],
  },
  {
    name: 'e-rotation-off',
    count: 5,
    enroll: 'rotation-off',
    keys: [used(104)],
    statuses: ['expired'],
    actions: [],
    held: ['disable'],
    digest: 'expired',
  },
  {
    name: 'e-one-sided',
    count: 5,
    enroll: 'one-sided',
    keys: [used(105)],
    statuses: ['expired'],
    actions: [],
    held: ['disable'],
  },
];

export const OWNERS = Array.from({ length: 20 }, (_, i) => `owner${String(i).padStart(2, '0')}@example.com`);
/** The owner who has no subscription yet: the audit subscribes them (CREATE_OWNER_SUBSCRIPTIONS). */
export const NEW_OWNER = OWNERS[19] as string;
export const SECURITY_EMAIL = 'security@example.com';

export interface SeededUser {
  name: string;
  profile: Profile;
  owner: string | undefined;
  secretArn?: string;
  /** Key ids, oldest first, as seeded (phase-1 rotations add keys after these). */
  keyIds: string[];
}

export interface Table {
  account: AuditAccount;
  users: SeededUser[];
  byName: Map<string, SeededUser>;
  ofProfile(name: string): SeededUser[];
}

const SEVERITY_RANK: Record<Severity, number> = { warning: 0, expired: 1, action: 2 };

/** The owners' expected digests: which users each one hears about and the digest's severity. */
export function expectedDigests(t: Table): Map<string, { users: string[]; severity: Severity }> {
  const out = new Map<string, { users: string[]; severity: Severity }>();
  for (const u of t.users) {
    const d = u.profile.digest;
    if (!d || !u.owner) continue;
    const entry = out.get(u.owner) ?? { users: [], severity: 'warning' as Severity };
    entry.users.push(u.name);
    if (SEVERITY_RANK[d] > SEVERITY_RANK[entry.severity]) entry.severity = d;
    out.set(u.owner, entry);
  }
  return out;
}

/** Builds the 560-user account of the scenario (see the header). */
export async function seedTable(env: Record<string, string> = {}, options: SimOptions = {}): Promise<Table> {
  const account = auditAccount(
    {
      ENFORCE: 'delete',
      EXEMPT_GROUP: 'break-glass',
      CREATE_OWNER_SUBSCRIPTIONS: 'true',
      ...env,
    },
    options,
  );
  const { sim } = account;
  const users: SeededUser[] = [];
  let index = 0;

  const create = async (profile: Profile, shift: number) => {
    for (let n = 0; n < profile.count; n++, index++) {
      // Names use the characters IAM allows beyond letters and digits.
      const name = `${profile.name}.${String(n).padStart(3, '0')}${n % 7 === 0 ? '+ci@x_y=z,w' : ''}`;
      const owner =
        profile.owner === 'none' || profile.owner === 'invalid'
          ? undefined
          : (OWNERS[index % OWNERS.length] as string);
      const tags: Record<string, string> = {};
      if (owner) tags.owner = n % 2 === 0 ? owner.toUpperCase() : owner;
      if (profile.owner === 'invalid') tags.owner = 'not-an-email';
      if (profile.exempt === 'tag') tags[EXEMPT_TAG] = 'true';
      sim.addUser(name, {
        tags,
        ...(profile.exempt === 'group' && { groups: ['break-glass'] }),
        ...(profile.consoleWithoutMfa && { password: { mfa: false, lastUsedDaysAgo: 3 } }),
      });
      const keyIds: string[] = [];
      const keys: { accessKeyId: string; secretAccessKey: string }[] = [];
      for (const k of profile.keys) {
        const lastUsed = k.lastUsed === undefined ? 1 : k.lastUsed;
        const key = sim.addKey(name, {
          ageDays: k.age - shift,
          ...(k.status && { status: k.status }),
          lastUsedDaysAgo: lastUsed === null ? null : Math.max(0, lastUsed - shift),
        });
        keyIds.push(key.accessKeyId);
        keys.push(key);
      }
      const user: SeededUser = { name, profile, owner, keyIds };
      const first = keys[0];
      if (profile.enroll && first) {
        user.secretArn = await enroll(account, name, first, {
          rotationEnabled: profile.enroll !== 'rotation-off',
          userTag: profile.enroll !== 'one-sided',
        });
      }
      users.push(user);
    }
  };

  // Phase 1, at T0: users with a rotation history.
  const history = PROFILES.filter((p) => p.phase1);
  for (const p of history) await create(p, 7);
  const of = (kind: Phase1) => users.filter((u) => u.profile.phase1 === kind);
  for (const u of of('rotated-7d')) await rotateNow(u.secretArn as string);
  for (const u of of('stuck')) account.broken.add(u.secretArn as string);
  for (const u of of('stuck')) await rotateNow(u.secretArn as string);
  sim.clock.advance(4 * DAY_MS);
  for (const u of of('rotated-3d')) await rotateNow(u.secretArn as string);
  sim.clock.advance(3 * DAY_MS - 2 * 3_600_000);
  for (const u of of('pending-2h')) account.broken.add(u.secretArn as string);
  for (const u of of('pending-2h')) await rotateNow(u.secretArn as string);
  if (sim.clock.nowMs() >= T1.getTime()) throw new Error('phase 1 ran past T1');
  sim.clock.advanceTo(T1);
  // The stuck rotations would fail again: let the next one work.
  account.broken.clear();
  // Applications read the rotated secrets and use the new keys.
  for (const u of [...of('rotated-7d'), ...of('rotated-3d')]) {
    const current = sim.keys(u.name).at(-1);
    if (current) sim.useKey(current.accessKeyId, { daysAgo: 1 });
  }

  // Phase 2, at T1.
  for (const p of PROFILES.filter((q) => !q.phase1)) await create(p, 0);

  // Owners confirmed their subscriptions long ago, except NEW_OWNER; security has its own.
  await ensureOwnerSubscriptions(
    account.topicArn,
    OWNERS.filter((o) => o !== NEW_OWNER),
  );
  for (const s of sim.subscriptions(account.topicArn)) sim.confirmSubscription(s.arn);
  sim.addSubscription(account.topicArn, 'email', SECURITY_EMAIL, {
    filterPolicy: { audience: ['security'] },
  });

  const byName = new Map(users.map((u) => [u.name, u]));
  return {
    account,
    users,
    byName,
    ofProfile: (name) => users.filter((u) => u.profile.name === name),
  };
}
