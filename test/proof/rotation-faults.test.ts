import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients } from '../../src/aws/clients.js';
import {
  type Binding,
  clearStuck,
  crashAfter,
  enrollUser,
  figure,
  keyAt,
  keyShape,
  orphanKeys,
  type ProofAccount,
  proofAccount,
  restingProblems,
} from './harness.js';
import { collectAccount, LeakWatch } from './leaks.js';

/**
 * Every AWS call a rotation makes, one at a time: (a) the call fails before taking effect, (b) it
 * takes effect and the function dies right after. Secrets Manager then retries the whole rotation
 * as AWS does (same token, from createSecret). If the rotation still ends failed, what an operator
 * or the audit does runs (AWSPENDING cleared, RotateSecret again). After each: invariants 1, 2, 3
 * and 5 held before every call, nothing is left pending, the AWSCURRENT key authenticates, the keys
 * have the same shape as after a clean rotation, and after the next rotation no orphan key is left.
 */

interface Scenario {
  name: string;
  env?: Record<string, string>;
  /** Seeds the account; returns the binding whose rotation is swept. */
  setup(a: ProofAccount): Promise<Binding>;
}

const rotateSecret = (secretArn: string) =>
  clients().sm.send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true }));

const SCENARIOS: Scenario[] = [
  {
    name: 'first rotation, one key in use (grace 7 days)',
    setup: (a) => enrollUser(a, 'app-deployer', { owner: 'owner@example.com', ageDays: 80 }),
  },
  {
    name: 'second rotation, previous key still active (grace 7 days): AWSPREVIOUS deleted to make room',
    async setup(a) {
      const b = await enrollUser(a, 'ci.bot+build@example', { owner: 'ci@example.com', ageDays: 80 });
      await rotateSecret(b.secretArn);
      return b;
    },
  },
  {
    name: 'second rotation with ROTATION_GRACE_DAYS=0: inactive previous deleted, new previous deactivated',
    env: { ROTATION_GRACE_DAYS: '0' },
    async setup(a) {
      const b = await enrollUser(a, 'reporting', { ageDays: 85 });
      await rotateSecret(b.secretArn);
      return b;
    },
  },
  {
    name: 'legacy-shape secret and a stray never-used key: stray deleted to make room',
    async setup(a) {
      const b = await enrollUser(a, 'legacy_svc', { owner: 'legacy@example.com', legacy: true, ageDays: 60 });
      a.sim.addKey('legacy_svc', { ageDays: 3, lastUsedDaysAgo: null });
      return b;
    },
  },
];

interface InjectionPoint {
  op: string;
  nth: number;
}

interface Outcome {
  converged: boolean;
  recovered: boolean;
  problems: string[];
}

const watch = new LeakWatch();
beforeAll(() => {
  watch.start();
});
afterAll(() => {
  watch.stop();
});

/** A clean rotation of the scenario: its AWS calls in order (op and nth) and the resulting key shape. */
async function cleanRun(s: Scenario): Promise<{ points: InjectionPoint[]; shape: string[] }> {
  const a = proofAccount(s.env ? { env: s.env } : {});
  try {
    const b = await s.setup(a);
    a.sim.calls.reset();
    await rotateSecret(b.secretArn);
    const seen = new Map<string, number>();
    const points: InjectionPoint[] = [];
    for (const e of a.sim.calls.entries()) {
      if (e.op === 'RotateSecret') continue;
      const nth = (seen.get(e.op) ?? 0) + 1;
      seen.set(e.op, nth);
      points.push({ op: e.op, nth });
    }
    expect(a.sim.rotations().at(-1)?.outcome).toBe('succeeded');
    expect(await restingProblems(a, b)).toEqual([]);
    expect(a.violations).toEqual([]);
    const shape = keyShape(a, b);
    collectAccount(watch, a);
    return { points, shape };
  } finally {
    a.sim.restore();
  }
}

async function injected(
  s: Scenario,
  p: InjectionPoint,
  kind: 'fail' | 'crash',
  shape: string[],
): Promise<Outcome> {
  const a = proofAccount(s.env ? { env: s.env } : {});
  const problems: string[] = [];
  let recovered = false;
  try {
    const b = await s.setup(a);
    const original = keyAt(a, b.secretArn)?.accessKeyId;
    const failuresBefore = a.sim.calls.failures().length;
    if (kind === 'fail') a.sim.failCall(p.op, { nth: p.nth });
    else crashAfter(a, p.op, p.nth);
    await rotateSecret(b.secretArn);

    const fired =
      kind === 'fail'
        ? a.sim.calls
            .failures()
            .slice(failuresBefore)
            .some((e) => e.op === p.op && e.error === 'SimulatedFault')
        : a.crash?.fired === true && a.deaths > 0;
    if (!fired) problems.push('the fault never fired');

    if (a.sim.rotations().at(-1)?.outcome !== 'succeeded') {
      // Secrets Manager gave up: the operator (or the audit's clear-stuck) clears AWSPENDING and rotates again.
      recovered = true;
      await clearStuck(a, b);
      await rotateSecret(b.secretArn);
      if (a.sim.rotations().at(-1)?.outcome !== 'succeeded')
        problems.push('rotation failed again after recovery');
    }
    problems.push(...(await restingProblems(a, b)));
    if (keyAt(a, b.secretArn)?.accessKeyId === original)
      problems.push('AWSCURRENT did not move to a new key');
    const now = keyShape(a, b);
    if (JSON.stringify(now) !== JSON.stringify(shape)) {
      problems.push(`keys ${now.join(', ')} differ from a clean rotation's ${shape.join(', ')}`);
    }

    // The next rotation leaves no orphan: every key is the secret's AWSCURRENT or AWSPREVIOUS.
    await rotateSecret(b.secretArn);
    if (a.sim.rotations().at(-1)?.outcome !== 'succeeded') problems.push('the next rotation failed');
    problems.push(...(await restingProblems(a, b)).map((x) => `after the next rotation: ${x}`));
    const orphans = orphanKeys(a, b);
    if (orphans.length > 0) problems.push(`orphan keys after the next rotation: ${orphans.join(', ')}`);
    problems.push(...a.violations);
    collectAccount(watch, a);
  } catch (err) {
    problems.push(`the run threw: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  } finally {
    a.sim.restore();
  }
  return { converged: problems.length === 0, recovered, problems };
}

const totals = { tried: 0, converged: 0, recovered: 0, sites: 0 };

describe('rotation under a fault at every AWS call', () => {
  for (const s of SCENARIOS) {
    it(`converges: ${s.name}`, async () => {
      const { points, shape } = await cleanRun(s);
      expect(points.length).toBeGreaterThan(15);
      const failed: string[] = [];
      let converged = 0;
      let recovered = 0;
      for (const p of points) {
        for (const kind of ['fail', 'crash'] as const) {
          const o = await injected(s, p, kind, shape);
          if (o.converged) converged++;
          else failed.push(`${kind} ${p.op}#${p.nth}: ${o.problems.join('; ')}`);
          if (o.recovered) recovered++;
        }
      }
      totals.sites += points.length;
      totals.tried += points.length * 2;
      totals.converged += converged;
      totals.recovered += recovered;
      figure(
        `rotation faults [${s.name}]: ${points.length} calls x 2 fault kinds, injection points tried ${points.length * 2}, converged ${converged} (${recovered} after operator recovery)`,
      );
      expect(failed).toEqual([]);
      expect(converged).toBe(points.length * 2);
    });
  }

  it('covers every kind of call a rotation makes', () => {
    expect(totals.tried).toBe(totals.sites * 2);
    figure(
      `rotation faults total: injection points tried ${totals.tried}, converged ${totals.converged} (${totals.recovered} needed the operator's clear-and-rotate)`,
    );
    expect(totals.converged).toBe(totals.tried);
  });

  it('lets no secret out in logs, errors or SNS messages across all the runs', () => {
    const line = watch.summary('rotation-faults');
    figure(line);
    expect(watch.scan()).toEqual([]);
    expect(watch.secretCount).toBeGreaterThan(0);
  });
});
