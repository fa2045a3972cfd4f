import { afterEach, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/run.js';
import type { ActionKind, ActionOutcome, KeyCategory } from '../../src/audit/types.js';
import { ACCOUNT_ID, keyIdAt, usersInBody } from './audit-account.js';
import {
  expectedDigests,
  NEW_OWNER,
  OWNERS,
  PROFILES,
  SECURITY_EMAIL,
  seedTable,
  T1,
  type Table,
} from './audit-table.js';

let t: Table | undefined;
afterEach(() => {
  t?.account.sim.restore();
  t = undefined;
});

const KINDS: ActionKind[] = ['rotate', 'deactivate-previous', 'clear-stuck', 'disable', 'delete'];

function expectedCounts(table: Table, outcome: (o: ActionOutcome) => ActionOutcome) {
  const keysByStatus: Record<KeyCategory, number> = { ok: 0, warning: 0, expired: 0, unused: 0, inactive: 0 };
  const actions = Object.fromEntries(KINDS.map((k) => [k, {}])) as Record<
    ActionKind,
    Partial<Record<ActionOutcome, number>>
  >;
  let keys = 0;
  for (const u of table.users) {
    for (const s of u.profile.statuses) keysByStatus[s]++;
    keys += u.profile.statuses.filter((s) => s !== 'unused').length;
    for (const [kind, o] of u.profile.actions) {
      const out = outcome(o);
      actions[kind][out] = (actions[kind][out] ?? 0) + 1;
    }
  }
  return { keysByStatus, actions, keys };
}

describe('audit of a 560-user account with a known outcome per user', () => {
  it('reports exactly the expected findings and takes exactly the expected actions', async () => {
    t = await seedTable();
    const { sim, cfg } = t.account;
    expect(sim.clock.now()).toEqual(T1);
    expect(t.users.length).toBeGreaterThanOrEqual(500);

    const { summary, findings } = await runAudit({ cfg });

    // Totals.
    const expected = expectedCounts(t, (o) => o);
    expect(summary.users).toBe(t.users.length);
    expect(summary.keysByStatus).toEqual(expected.keysByStatus);
    expect(summary.keys).toBe(expected.keys);
    expect(summary.actions).toEqual(expected.actions);
    expect(summary.failures).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.unownedKeys).toBe(15);

    // Each user: exactly its profile's actions, in order, and its held changes.
    for (const u of t.users) {
      const results = summary.results.filter((r) => r.userName === u.name).map((r) => [r.kind, r.outcome]);
      expect(results, u.name).toEqual(u.profile.actions);
      const held = summary.held.filter((h) => h.userName === u.name).map((h) => h.kind);
      expect(held, u.name).toEqual(u.profile.held ?? []);
    }
    expect(summary.results).toHaveLength(t.users.reduce((n, u) => n + u.profile.actions.length, 0));

    // Per-user findings the policy reports.
    const finding = (name: string) => findings.find((f) => f.userName === name);
    for (const u of t.users) {
      const f = finding(u.name);
      expect(f, u.name).toBeDefined();
      expect(f?.keys.flatMap((k) => k.statuses).sort(), u.name).toEqual([...u.profile.statuses].sort());
      expect(f?.enrolled, u.name).toBe(u.profile.enroll === 'yes');
      expect(f?.exempt, u.name).toBe(u.profile.exempt !== undefined);
      expect(f?.consoleWithoutMfa, u.name).toBe(u.profile.consoleWithoutMfa === true);
      expect(f?.owner, u.name).toBe(u.owner);
    }
    expect(t.ofProfile('n-two-keys').every((u) => finding(u.name)?.twoActiveKeys)).toBe(true);
    expect(t.ofProfile('e-stuck').every((u) => finding(u.name)?.stuckRotation)).toBe(true);
    expect(t.ofProfile('e-pending').some((u) => finding(u.name)?.stuckRotation)).toBe(false);
    expect(
      t.ofProfile('u-invalid-owner').every((u) => finding(u.name)?.ownerInvalid === 'not-an-email'),
    ).toBe(true);

    // The account afterwards.
    const status = (id: string | undefined) => (id ? sim.key(id)?.status : undefined);
    for (const u of [...t.ofProfile('n-disable'), ...t.ofProfile('u-disable')]) {
      expect(status(u.keyIds[0]), u.name).toBe('Inactive');
    }
    for (const u of t.ofProfile('n-delete')) expect(sim.keys(u.name), u.name).toEqual([]);
    for (const u of [...t.ofProfile('x-tag-old'), ...t.ofProfile('x-group'), ...t.ofProfile('n-expired')]) {
      expect(status(u.keyIds[0]), u.name).toBe('Active');
    }
    for (const u of [...t.ofProfile('e-rotation-off'), ...t.ofProfile('e-one-sided')]) {
      // Enforcement would disable a 104-day key, but it is the AWSCURRENT of a secret tagged for the user.
      expect(keyIdAt(t.account, u.secretArn as string), u.name).toBe(u.keyIds[0]);
      expect(status(u.keyIds[0]), u.name).toBe('Active');
    }
    for (const u of [...t.ofProfile('e-rotate'), ...t.ofProfile('e-rotate-late')]) {
      // The rotation really ran: a new, verified key is AWSCURRENT; the old one stays for the grace.
      const current = keyIdAt(t.account, u.secretArn as string);
      expect(current, u.name).not.toBe(u.keyIds[0]);
      expect(status(current), u.name).toBe('Active');
      expect(status(u.keyIds[0]), u.name).toBe('Active');
      expect(keyIdAt(t.account, u.secretArn as string, 'AWSPREVIOUS'), u.name).toBe(u.keyIds[0]);
    }
    for (const u of t.ofProfile('e-grace-over')) {
      const [old, current] = sim.keys(u.name);
      expect(old?.accessKeyId, u.name).toBe(u.keyIds[0]);
      expect(old?.status, u.name).toBe('Inactive');
      expect(current?.accessKeyId, u.name).toBe(keyIdAt(t.account, u.secretArn as string));
      expect(current?.status, u.name).toBe('Active');
    }
    for (const u of t.ofProfile('e-grace')) {
      expect(
        sim.keys(u.name).map((k) => k.status),
        u.name,
      ).toEqual(['Active', 'Active']);
    }
    for (const u of t.ofProfile('e-stuck')) {
      // Cleared: no AWSPENDING left, AWSCURRENT untouched, so the next rotation can start.
      expect(sim.versionWithStage(u.secretArn as string, 'AWSPENDING'), u.name).toBeUndefined();
      expect(keyIdAt(t.account, u.secretArn as string), u.name).toBe(u.keyIds[0]);
    }
    for (const u of t.ofProfile('e-stuck-due')) {
      // Cleared, then rotated in the same run: the stuck rotation's never-used key made room.
      const current = keyIdAt(t.account, u.secretArn as string);
      expect(current, u.name).not.toBe(u.keyIds[0]);
      expect(
        sim.keys(u.name).map((k) => k.accessKeyId),
        u.name,
      ).toEqual([u.keyIds[0], current]);
    }
    for (const u of t.ofProfile('e-pending')) {
      expect(sim.versionWithStage(u.secretArn as string, 'AWSPENDING'), u.name).toBeDefined();
    }
    const failedRotations = sim.rotations().filter((r) => r.outcome !== 'succeeded');
    // Only the seeded stuck and pending rotations failed; every rotation the audit started worked.
    const seededToFail = t.users.filter(
      (u) => u.profile.phase1 === 'stuck' || u.profile.phase1 === 'pending-2h',
    );
    expect(failedRotations.map((r) => r.secretArn).sort()).toEqual(
      seededToFail.map((u) => u.secretArn).sort(),
    );
  });

  it('sends each owner one digest about their users only, and one summary to security', async () => {
    t = await seedTable();
    const { sim, cfg, topicArn } = t.account;

    const { summary } = await runAudit({ cfg });

    const expected = expectedDigests(t);
    expect(expected.size).toBeGreaterThan(10);
    for (const owner of OWNERS) {
      const deliveries = sim.deliveries(owner);
      const want = expected.get(owner);
      if (!want || owner === NEW_OWNER) {
        expect(deliveries, owner).toEqual([]);
        continue;
      }
      expect(deliveries, owner).toHaveLength(1);
      const [d] = deliveries;
      expect(d?.attributes, owner).toEqual({ owner, severity: want.severity, account: ACCOUNT_ID });
      expect(usersInBody(d?.message ?? '').sort(), owner).toEqual([...want.users].sort());
    }
    // The owner without a subscription was subscribed (with the owner filter) and asked to confirm.
    expect(summary.subscriptionsCreated).toEqual([NEW_OWNER]);
    const sub = sim.subscriptions(topicArn).find((s) => s.endpoint === NEW_OWNER);
    expect(sub).toMatchObject({ protocol: 'email', confirmed: false });
    expect(JSON.parse(sub?.filterPolicy ?? '{}')).toEqual({ owner: [NEW_OWNER] });
    expect(sim.confirmationRequests().map((c) => c.endpoint)).toContain(NEW_OWNER);

    // Security: exactly one summary, nothing else.
    const security = sim.deliveries(SECURITY_EMAIL);
    expect(security).toHaveLength(1);
    expect(security[0]?.attributes).toEqual({ audience: 'security', account: ACCOUNT_ID });
    const body = security[0]?.message ?? '';
    expect(body).toContain(`IAM users: ${t.users.length}`);
    expect(body).toContain('Unowned keys (no valid owner tag) (15)');
    // Every message published was either a digest for an owner who has digest items, or the summary.
    const published = sim.published();
    expect(published.filter((p) => p.attributes.audience === 'security')).toHaveLength(1);
    expect(new Set(published.flatMap((p) => (p.attributes.owner ? [p.attributes.owner] : [])))).toEqual(
      new Set(expected.keys()),
    );
    expect(summary.ownersNotified).toBe(expected.size);
  });

  it('dry run: changes nothing and lists exactly what it would have done', async () => {
    t = await seedTable();
    const { sim, cfg } = t.account;
    const before = sim.snapshot();

    const { summary, messages } = await runAudit({ cfg, dryRun: true });

    expect(sim.snapshot()).toEqual(before);
    expect(summary.dryRun).toBe(true);
    const expected = expectedCounts(t, () => 'dry-run');
    expect(summary.actions).toEqual(expected.actions);
    expect(summary.keysByStatus).toEqual(expected.keysByStatus);
    for (const u of t.users) {
      const results = summary.results.filter((r) => r.userName === u.name).map((r) => [r.kind, r.outcome]);
      expect(results, u.name).toEqual(u.profile.actions.map(([kind]) => [kind, 'dry-run']));
    }
    // The mails it would have sent, marked as a dry run; none was published.
    expect(messages.length).toBeGreaterThan(1);
    expect(messages.every((m) => m.subject.startsWith('[DRY RUN]'))).toBe(true);
    expect(summary.notifications.every((n) => n.outcome === 'dry-run')).toBe(true);
    expect(sim.published()).toEqual([]);
    expect(summary.subscriptionsCreated).toEqual([]);
    expect(summary.ownersNotified).toBe(0);
  });
});

it('every profile of the table is exercised', () => {
  expect(PROFILES.reduce((n, p) => n + p.count, 0)).toBe(560);
});
