import { InvalidRequestException, RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rotateAtAge } from '../../src/audit/plan.js';
import { type AuditRun, runAudit } from '../../src/audit/run.js';
import { clients } from '../../src/aws/clients.js';
import { RotationInProgressError } from '../../src/errors.js';
import { rotateNow } from '../../src/rotate-now.js';
import {
  type Binding,
  daysLater,
  enrollUser,
  figure,
  keyAt,
  orphanKeys,
  type ProofAccount,
  type ProofOptions,
  proofAccount,
  restingProblems,
} from './harness.js';
import { collectAccount, LeakWatch, recorded } from './leaks.js';

/**
 * Races: two "rotate now" for one user at the same moment, and the audit running while a
 * rotation is under way. The invariant watch (harness.ts) fails the run if any call deactivates or
 * deletes the AWSCURRENT key or the key an unfinished rotation is verifying (AWSPENDING).
 */

const watch = new LeakWatch();
beforeAll(() => {
  watch.start();
});
afterAll(() => {
  watch.stop();
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let a: ProofAccount | undefined;
afterEach(() => {
  if (a) {
    collectAccount(watch, a);
    a.sim.restore();
  }
  a = undefined;
});

function account(o: ProofOptions): ProofAccount {
  a = proofAccount(o);
  return a;
}

describe('two "rotate now" for the same user at the same moment', () => {
  for (const mode of ['sync', 'deferred'] as const) {
    for (const wait of [false, true]) {
      it(`one rotation, the other a clear "in progress" answer (${mode} rotation, wait=${wait})`, async () => {
        const p = account({ sim: { rotationMode: mode, latencyMs: 20 } });
        const b = await enrollUser(p, 'deploy-bot', { owner: 'deploy@example.com', ageDays: 40 });
        const before = keyAt(p, b.secretArn)?.accessKeyId;

        const outcomes = await Promise.all([
          recorded(watch, 'rotateNow', () => rotateNow({ userName: 'deploy-bot', wait })),
          recorded(watch, 'rotateNow', () => rotateNow({ userName: 'deploy-bot', wait })),
        ]);
        await p.sim.runPendingRotations();
        const ok = outcomes.filter((o) => o.error === undefined);
        const refused = outcomes.filter((o) => o.error !== undefined);
        expect(ok).toHaveLength(1);
        expect(refused).toHaveLength(1);
        const err = refused[0]?.error as Error;
        expect(err).toBeInstanceOf(RotationInProgressError);
        expect(err.message).toMatch(
          new RegExp(
            `^a previous rotation of ${escapeRegExp(b.secretArn)}.* is still in progress; wait for it to finish and try again`,
          ),
        );

        expect(p.sim.rotations()).toHaveLength(1);
        expect(p.sim.rotations()[0]?.outcome).toBe('succeeded');
        expect(p.sim.calls.count('CreateAccessKey')).toBe(1);
        const after = keyAt(p, b.secretArn)?.accessKeyId;
        expect(after).not.toBe(before);
        if (wait) {
          expect(ok[0]?.value).toMatchObject({
            status: 'completed',
            accessKeyId: after,
            previousAccessKeyId: before,
          });
        }
        expect(await restingProblems(p, b)).toEqual([]);
        expect(p.violations).toEqual([]);
      });
    }
  }

  it('many at once: still exactly one rotation, every other caller told it is in progress', async () => {
    const p = account({ sim: { rotationMode: 'deferred', latencyMs: 5 } });
    const b = await enrollUser(p, 'fan-out', { ageDays: 10 });
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        recorded(watch, 'rotateNow', () => rotateNow({ secretId: b.secretArn })),
      ),
    );
    await p.sim.runPendingRotations();
    expect(results.filter((r) => r.error === undefined)).toHaveLength(1);
    for (const r of results.filter((x) => x.error !== undefined)) {
      expect(r.error).toBeInstanceOf(RotationInProgressError);
    }
    expect(p.sim.rotations()).toHaveLength(1);
    expect(p.sim.keys('fan-out')).toHaveLength(2);
    expect(p.violations).toEqual([]);
  });
});

interface Interleaving {
  actions: string[];
  rotations: number;
}

/**
 * An enrolled user mid-life: AWSCURRENT due for rotation, AWSPREVIOUS past its grace (with a grace
 * period it is still active and the audit wants to deactivate it); and an unenrolled user whose key is long
 * overdue (ENFORCE=disable acts on it), so every audit run has something to do.
 */
async function tempting(p: ProofAccount): Promise<Binding> {
  const b = await enrollUser(p, 'payments-api', { owner: 'payments@example.com', ageDays: 95 });
  await clients().sm.send(new RotateSecretCommand({ SecretId: b.secretArn, RotateImmediately: true }));
  await p.sim.runPendingRotations();
  // Three days past the age at which the audit starts a rotation (day 82 with grace 7, 89 with 0).
  daysLater(p, rotateAtAge(p.cfg) + 3);
  p.sim.addUser('legacy-batch', { tags: { owner: 'batch@example.com' } });
  p.sim.addKey('legacy-batch', { ageDays: 150, lastUsedDaysAgo: 2 });
  return b;
}

/** When the rotation starts relative to the audit. */
type Trigger = { offsetMs: number } | { atAuditCall: number };

async function auditDuringRotation(trigger: Trigger, env: Record<string, string>): Promise<Interleaving> {
  const p = account({
    env: { ENFORCE: 'disable', ...env },
    sim: { rotationMode: 'deferred', latencyMs: 40 },
  });
  const b = await tempting(p);
  const previous = keyAt(p, b.secretArn, 'AWSPREVIOUS')?.accessKeyId;
  const rotationsBefore = p.sim.rotations().length;

  const rotateSecret = async () => {
    try {
      await clients().sm.send(new RotateSecretCommand({ SecretId: b.secretArn, RotateImmediately: true }));
    } catch (err) {
      // The audit started one first: Secrets Manager refuses a second, as it should.
      if (!(err instanceof InvalidRequestException)) throw err;
    }
  };
  let started: Promise<void> | undefined;
  let auditCalls = 0;
  if ('atAuditCall' in trigger) {
    // Start the rotation just before the audit's nth AWS call (the rotation's own calls come later).
    p.sim.failWhen(() => {
      if (started === undefined && ++auditCalls === trigger.atAuditCall) started = rotateSecret();
      return undefined;
    });
  } else {
    started = p.sim.clock.sleep(Math.max(0, -trigger.offsetMs)).then(rotateSecret);
  }
  await p.sim.clock.sleep('offsetMs' in trigger ? Math.max(0, trigger.offsetMs) : 0);
  const r = await recorded(watch, 'audit', () => runAudit({ cfg: p.cfg }));
  if (r.error) throw r.error;
  if (started === undefined) started = rotateSecret();
  await started;
  await p.sim.runPendingRotations();

  const rotations = p.sim.rotations().slice(rotationsBefore);
  expect(rotations.length).toBeGreaterThan(0);
  for (const x of rotations) expect(x.outcome).toBe('succeeded');
  expect(p.sim.calls.count('CreateAccessKey')).toBe(rotations.length + 1);
  expect(await restingProblems(p, b)).toEqual([]);
  expect(orphanKeys(p, b)).toEqual([]);
  expect(p.violations).toEqual([]);
  // The unenrolled user's overdue key was disabled: the audit did act in this run.
  expect(p.sim.keys('legacy-batch')[0]?.status).toBe('Inactive');
  // The old previous key is gone (the rotation deleted it to make room) or was deactivated.
  const old = previous === undefined ? undefined : p.sim.key(previous);
  expect(old === undefined || old.status === 'Inactive').toBe(true);

  return {
    actions: (r.value?.summary.results ?? [])
      .filter((x) => x.userName === b.userName)
      .map((x) => `${x.kind}:${x.outcome}`),
    rotations: rotations.length,
  };
}

/** How many AWS calls one audit of the tempting account makes. */
async function auditCallCount(env: Record<string, string>): Promise<number> {
  const p = account({
    env: { ENFORCE: 'disable', ...env },
    sim: { rotationMode: 'deferred', latencyMs: 40 },
  });
  await tempting(p);
  const before = p.sim.calls.count();
  await runAudit({ cfg: p.cfg });
  const n = p.sim.calls.count() - before;
  collectAccount(watch, p);
  p.sim.restore();
  a = undefined;
  return n;
}

describe('the audit running during a rotation', () => {
  for (const [name, env] of [
    ['grace 7 days', {}],
    ['grace 0 days', { ROTATION_GRACE_DAYS: '0' }],
  ] as const) {
    it(`never deactivates or deletes the key being verified or promoted, whatever the interleaving (${name})`, async () => {
      const triggers: Trigger[] = [];
      // The rotation starts just before each of the audit's AWS calls in turn ...
      const calls = await auditCallCount(env);
      for (let k = 1; k <= calls; k++) triggers.push({ atAuditCall: k });
      // ... and the audit starts at every second from 8 s before the rotation to 12 s after (the
      // rotation takes about 9 s: 1 s before Secrets Manager invokes it, 8 s of key propagation).
      for (let offsetMs = -8_000; offsetMs <= 12_000; offsetMs += 1_000) triggers.push({ offsetMs });
      const seen: Interleaving[] = [];
      for (const t of triggers) {
        seen.push(await auditDuringRotation(t, env));
        if (a) {
          collectAccount(watch, a);
          a.sim.restore();
          a = undefined;
        }
      }
      const kinds = [...new Set(seen.flatMap((s) => s.actions))].sort();
      const acted = seen.filter((s) => s.actions.some((x) => x.endsWith(':done')));
      const heldOff = seen.filter((s) => !s.actions.some((x) => x.endsWith(':done')));
      figure(
        `race audit-during-rotation (${name}): ${seen.length} interleavings, audit acted on the rotating user in ${acted.length}, held off in ${heldOff.length} (outcomes seen: ${kinds.join(', ')}), invariant violations 0`,
      );
      // Both kinds of interleaving happened: the sweep is not trivially one-sided.
      expect(acted.length).toBeGreaterThan(0);
      expect(heldOff.length).toBeGreaterThan(0);
    });
  }

  it('at every rotation step: an audit run from inside the step never touches the AWSCURRENT or AWSPENDING key', async () => {
    const steps: string[] = [];
    const audits: AuditRun[] = [];
    let inside = false;
    const p = account({
      env: { ENFORCE: 'delete', ROTATION_GRACE_DAYS: '0' },
      beforeStep: async (event) => {
        if (inside) return;
        inside = true;
        try {
          steps.push(event.Step);
          const r = await recorded(watch, 'audit', () => runAudit({ cfg: p.cfg }));
          if (r.error) throw r.error;
          if (r.value) audits.push(r.value);
        } finally {
          inside = false;
        }
      },
    });
    const b = await tempting(p);
    // A stale credential report from before the rotation: the audit plans from old facts.
    await runAudit({ cfg: p.cfg, dryRun: true });
    steps.length = 0;
    audits.length = 0;
    await clients().sm.send(new RotateSecretCommand({ SecretId: b.secretArn, RotateImmediately: true }));
    expect(steps).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    expect(audits).toHaveLength(4);
    for (const run of audits) {
      const rotate = run.summary.results.find((r) => r.userName === b.userName && r.kind === 'rotate');
      expect(rotate?.outcome ?? 'held').not.toBe('done');
    }
    expect(p.sim.rotations().at(-1)?.outcome).toBe('succeeded');
    expect(await restingProblems(p, b)).toEqual([]);
    expect(p.violations).toEqual([]);
  });
});

describe('secrets', () => {
  it('none leaked in the races', () => {
    figure(watch.summary('races'));
    expect(watch.scan()).toEqual([]);
    expect(watch.secretCount).toBeGreaterThan(0);
  });
});
