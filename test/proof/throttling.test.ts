import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditRun, runAudit } from '../../src/audit/run.js';
import { rotateNow } from '../../src/rotate-now.js';
import type { Service, SimAccount } from '../sim/index.js';
import {
  type Binding,
  daysLater,
  enrollUser,
  figure,
  keyShape,
  type ProofAccount,
  proofAccount,
  restingProblems,
} from './harness.js';
import { collectAccount, LeakWatch } from './leaks.js';
import { accountShape, auditWorld } from './worlds.js';

/**
 * 30% of IAM, STS, Secrets Manager and SNS calls throttled at random (seeded, account-wide, as
 * IAM's "Rate exceeded"): rotations and the audit finish with the same outcome as without
 * throttling. Compared: key counts, statuses and roles, staging labels, the audit's actions and
 * mails, never ids (the simulator draws ids from its own stream, but the order of rotations
 * could differ).
 */

const THROTTLE = { probability: 0.3 };

const watch = new LeakWatch();
beforeAll(() => {
  watch.start();
});
afterAll(() => {
  watch.stop();
});

const THROTTLE_ERRORS = new Set(['Throttling', 'ThrottlingException', 'Throttled', 'ThrottledException']);

/** Throttled calls per service, from the call log. */
function throttled(sim: SimAccount): Record<Service, number> {
  const out: Record<Service, number> = { iam: 0, sts: 0, secretsManager: 0, sns: 0 };
  for (const e of sim.calls.failures()) if (THROTTLE_ERRORS.has(e.error ?? '')) out[e.service]++;
  return out;
}

/** Each bound secret's versions as their staging labels, ids left out. */
function stages(p: ProofAccount): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const b of p.bindings) {
    out[b.userName] = (p.sim.secret(b.secretArn)?.versions ?? [])
      .map((v) => [...v.stages].sort().join('+'))
      .filter((x) => x !== '')
      .sort();
  }
  return out;
}

interface RotationOutcome {
  shapes: Record<string, string[]>;
  stages: Record<string, string[]>;
  rotations: string[];
  results: string[];
  resting: string[];
  calls: number;
  throttled: Record<Service, number>;
}

const USERS = ['api-gateway', 'etl.nightly', 'ci+deploy', 'mobile_backend', 'reports@finance'];

async function rotations(throttle: boolean): Promise<RotationOutcome> {
  const p = proofAccount({ sim: throttle ? { throttle: THROTTLE, seed: 11 } : { seed: 11 } });
  try {
    const bindings: Binding[] = [];
    for (const [i, name] of USERS.entries()) {
      bindings.push(
        await enrollUser(p, name, { owner: `${i}@example.com`, ageDays: 80, legacy: i % 2 === 1 }),
      );
    }
    // Two rounds: the second deletes each previous key to make room.
    const results: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (const name of USERS) {
        const r = await rotateNow({ userName: name, wait: true });
        watch.add('throttling.rotateNow', r);
        results.push(`${r.userName}:${r.status}:${r.accessKeyId === r.previousAccessKeyId ? 'same' : 'new'}`);
      }
      daysLater(p, 1);
    }
    const resting: string[] = [];
    for (const b of bindings)
      resting.push(...(await restingProblems(p, b)).map((x) => `${b.userName}: ${x}`));
    const out: RotationOutcome = {
      shapes: Object.fromEntries(bindings.map((b) => [b.userName, keyShape(p, b)])),
      stages: stages(p),
      rotations: p.sim.rotations().map((r) => r.outcome),
      results,
      resting: [...resting, ...p.violations],
      calls: p.sim.calls.count(),
      throttled: throttled(p.sim),
    };
    collectAccount(watch, p);
    return out;
  } finally {
    p.sim.restore();
  }
}

interface AuditOutcome {
  days: {
    results: string[];
    notifications: string[];
    keysByStatus: AuditRun['summary']['keysByStatus'];
    ok: boolean;
    failures: string[];
  }[];
  shape: Record<string, string[]>;
  stages: Record<string, string[]>;
  violations: string[];
  calls: number;
  throttled: Record<Service, number>;
}

async function audits(throttle: boolean): Promise<AuditOutcome> {
  const p = await auditWorld(throttle ? { throttle: THROTTLE, seed: 5 } : { seed: 5 });
  try {
    const days: AuditOutcome['days'] = [];
    for (let day = 0; day < 2; day++) {
      const { summary } = await runAudit({ cfg: p.cfg });
      watch.add('throttling.audit', summary);
      days.push({
        results: summary.results.map((r) => `${r.userName}:${r.kind}:${r.outcome}`).sort(),
        notifications: summary.notifications.map((n) => `${n.recipient}:${n.severity}:${n.outcome}`).sort(),
        keysByStatus: summary.keysByStatus,
        ok: summary.ok,
        failures: summary.failures.map((f) => `${f.subject}: ${f.message}`),
      });
      daysLater(p, 1);
    }
    const out: AuditOutcome = {
      days,
      shape: accountShape(p),
      stages: stages(p),
      violations: p.violations,
      calls: p.sim.calls.count(),
      throttled: throttled(p.sim),
    };
    collectAccount(watch, p);
    return out;
  } finally {
    p.sim.restore();
  }
}

const total = (t: Record<Service, number>) => Object.values(t).reduce((a, b) => a + b, 0);
const line = (t: Record<Service, number>) =>
  `iam ${t.iam}, sts ${t.sts}, secretsmanager ${t.secretsManager}, sns ${t.sns}`;

describe("30% of every service's calls throttled", () => {
  it('rotations end exactly as without throttling', async () => {
    const calm = await rotations(false);
    const busy = await rotations(true);
    expect(calm.resting).toEqual([]);
    expect(calm.rotations.every((o) => o === 'succeeded')).toBe(true);
    expect(busy.shapes).toEqual(calm.shapes);
    expect(busy.stages).toEqual(calm.stages);
    expect(busy.rotations).toEqual(calm.rotations);
    expect(busy.results).toEqual(calm.results);
    expect(busy.resting).toEqual([]);
    // Throttling really happened, on every service.
    for (const s of ['iam', 'sts', 'secretsManager'] as const) expect(busy.throttled[s]).toBeGreaterThan(0);
    figure(
      `throttling: ${USERS.length * 2} rotations with ${total(busy.throttled)} of ${busy.calls} calls throttled (${line(busy.throttled)}): same keys, stages and results as without`,
    );
  });

  it('two daily audits end exactly as without throttling', async () => {
    const calm = await audits(false);
    const busy = await audits(true);
    expect(calm.days.every((d) => d.ok)).toBe(true);
    expect(busy.days).toEqual(calm.days);
    expect(busy.shape).toEqual(calm.shape);
    expect(busy.stages).toEqual(calm.stages);
    expect(busy.violations).toEqual([]);
    for (const s of ['iam', 'sts', 'secretsManager', 'sns'] as const)
      expect(busy.throttled[s]).toBeGreaterThan(0);
    figure(
      `throttling: 2 audits with ${total(busy.throttled)} of ${busy.calls} calls throttled (${line(busy.throttled)}): same actions, mails, key states and stages as without`,
    );
  });

  it('lets no secret out', () => {
    figure(watch.summary('throttling'));
    expect(watch.scan()).toEqual([]);
  });
});
