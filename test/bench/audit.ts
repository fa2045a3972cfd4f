import { runAudit } from '../../src/audit/run.js';
import { resetClients } from '../../src/aws/clients.js';
import { type Config, loadConfig } from '../../src/config.js';
import { rotate } from '../../src/rotation/index.js';
import { type CallEntry, SimAccount, type SimOptions } from '../sim/index.js';
import { type AccountStats, buildAccount, type Profile, seedMathRandom } from './account.js';
import { naiveScan } from './baseline.js';

/**
 * One account size. `measureSize` (one fresh process): the audit on the `mixed` account (calls,
 * simulated duration, CPU), the rotations it started, the baseline scan on a fresh build of the
 * same account, then the audit and the baseline on the `idle` account (nobody due).
 * `measureMemory` (another fresh process): the audit's memory on the `mixed` account.
 */

export interface Model {
  /** Virtual latency of every AWS call. */
  latencyMs: number;
  /** Account-wide IAM token bucket. */
  iamRatePerSecond: number;
  iamBurst: number;
  propagationDelayMs: number;
}

export const DEFAULT_MODEL: Model = {
  latencyMs: 40,
  iamRatePerSecond: 15,
  iamBurst: 15,
  propagationDelayMs: 8_000,
};

/** The audit runs at 06:00 UTC (serverless.yml's schedule); seeded ages are whole days before it. */
export const START = new Date('2026-06-01T06:00:00Z');

export interface CallCounts {
  /** Every request sent, throttled ones included (what the account's throttle sees). */
  iam: number;
  iamThrottled: number;
  sns: number;
  secretsManager: number;
  sts: number;
  byOperation: Record<string, number>;
}

export interface MemoryFigures {
  users: number;
  /** RSS and live JS memory of this process with every module loaded, before any account exists. */
  idleRssMb: number;
  idleJsMb: number;
  /** After the simulated account was built (the account is AWS's memory, not the Lambda's). */
  beforeAuditRssMb: number;
  beforeAuditJsMb: number;
  /**
   * Highest live JS memory (V8 heap used + external, right after a full GC) sampled while the
   * audit ran (about MEMORY_SAMPLES times, at AWS calls) and at its end. Garbage is left out: how
   * much piles up before V8 collects depends on the heap limit (a 256 MB Lambda collects sooner),
   * not on what the audit holds. What the simulator stores meanwhile (published mails, call log)
   * is counted in: the figure errs high.
   */
  peakJsMb: number;
  /** peakJs − beforeAuditJs: what the audit itself holds at its peak. */
  auditJsMb: number;
  /** Highest RSS sampled (with the GCs above), and the process's maxRSS (account building included). */
  peakRssMb: number;
  maxRssMb: number;
  samples: number;
}

export interface AuditFigures {
  calls: CallCounts;
  /** Calls beyond the scan: the IAM reads and changes made for users acted on. */
  scanIamCalls: number;
  actionIamCalls: number;
  /** Users on whom an IAM action (deactivate, disable, delete) was taken. */
  usersWithIamAction: number;
  /** Rotations started (RotateSecret): the rotation function's IAM calls are counted apart. */
  rotationsStarted: number;
  simulatedSeconds: number;
  cpuMs: number;
  ownersNotified: number;
  digests: number;
  actions: Record<string, number>;
  ok: boolean;
}

export interface RotationFollowUp {
  rotations: number;
  succeeded: number;
  /** Attempts Secrets Manager made in all (a failed attempt, e.g. throttled out, is retried). */
  attempts: number;
  /** Calls the rotation function made (another Lambda; run after the audit, all at once). */
  calls: CallCounts;
  iamCallsPerRotation: number;
  simulatedSeconds: number;
}

export interface BaselineFigures {
  calls: CallCounts;
  simulatedSeconds: number;
  cpuMs: number;
  usersSeen: number;
  keysSeen: number;
}

export interface SizeResult {
  users: number;
  seed: number;
  model: Model;
  account: AccountStats;
  audit: AuditFigures;
  rotations: RotationFollowUp;
  baseline: BaselineFigures;
  idle: { account: AccountStats; audit: AuditFigures; baseline: BaselineFigures };
}

/** A size with its memory figures (from the separate memory process). */
export type MeasuredSize = SizeResult & { memory: MemoryFigures };

export interface SizeOptions {
  users: number;
  seed: number;
  model?: Model;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

interface Gate {
  open(): void;
  wait: Promise<void>;
}

function gate(): Gate {
  let open = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, wait };
}

/**
 * A fresh simulated account with the model, the topic and the real rotation function registered.
 * Rotations are deferred (RotateSecret answers at once, as in AWS, where the rotation runs in its
 * own Lambda) and held behind a gate until the audit is over, so the audit's calls and the
 * rotation function's calls are counted apart; then they all run concurrently.
 */
async function account(
  users: number,
  seed: number,
  profile: Profile,
  model: Model,
  env: Record<string, string>,
): Promise<{ sim: SimAccount; cfg: Config; stats: AccountStats; release: () => void }> {
  resetClients();
  // Every phase (audit, baseline, each account) starts from its own random stream.
  seedMathRandom((seed * 31 + (profile === 'mixed' ? 1 : 2) + users) >>> 0);
  const options: SimOptions = {
    seed,
    start: START,
    latencyMs: model.latencyMs,
    throttle: { iam: { ratePerSecond: model.iamRatePerSecond, burst: model.iamBurst } },
    propagationDelayMs: model.propagationDelayMs,
    rotationMode: 'deferred',
  };
  const sim = new SimAccount(options).install();
  const topicArn = sim.addTopic('iam-key-rotator-alerts');
  sim.addSubscription(topicArn, 'email', 'security@example.com', {
    filterPolicy: { audience: ['security'] },
  });
  const cfg = loadConfig({ TOPIC_ARN: topicArn, ...env });
  const rotationArn = sim.rotationFunctionArn();
  const held = gate();
  sim.registerRotationFunction(rotationArn, async (event) => {
    // Waits for the audit to finish; then every rotation runs at once, as Secrets Manager starts
    // them (one Lambda invocation each), all against the same account-wide IAM limit.
    await held.wait;
    await rotate(event, { config: cfg });
  });
  const stats = await buildAccount(sim, {
    users,
    seed,
    profile,
    secretPrefix: cfg.secretPrefix,
    rotationArn,
  });
  // Seeding tagged the enrolled users through IAM: let the throttle's bucket refill, then count
  // from zero.
  sim.clock.advance(60_000);
  sim.calls.reset();
  return { sim, cfg, stats, release: held.open };
}

function counts(entries: readonly CallEntry[]): CallCounts {
  const c: CallCounts = { iam: 0, iamThrottled: 0, sns: 0, secretsManager: 0, sts: 0, byOperation: {} };
  for (const e of entries) {
    c[e.service]++;
    if (e.service === 'iam' && e.error === 'Throttling') c.iamThrottled++;
    c.byOperation[e.op] = (c.byOperation[e.op] ?? 0) + 1;
  }
  return c;
}

const SCAN_OPS = new Set([
  'GenerateCredentialReport',
  'GetCredentialReport',
  'GetAccountAuthorizationDetails',
  'ListAccountAliases',
]);

/** JS memory: the V8 heap in use plus what JS objects hold outside it (the report's bytes). */
const jsBytes = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;

/** About this many memory samples per audit run (each one a full GC, so they are not free). */
export const MEMORY_SAMPLES = 64;

/**
 * Samples live memory (a full GC, then the heap) every `every`-th AWS call the audit makes, and at
 * its start and end. Sampling by call, not by timer, puts the samples at the same points of the
 * run every time and spreads them over its phases (scan, acting, mailing). Needs --expose-gc.
 */
class LiveMemorySampler {
  peakRss = 0;
  peakJs = 0;
  samples = 0;
  private calls = 0;
  constructor(private readonly every: number) {}
  onCall(): void {
    if (++this.calls % this.every === 0) this.sample();
  }
  sample(): void {
    gc();
    const m = process.memoryUsage();
    this.samples++;
    if (m.rss > this.peakRss) this.peakRss = m.rss;
    if (jsBytes(m) > this.peakJs) this.peakJs = jsBytes(m);
  }
}

async function measureAudit(
  sim: SimAccount,
  cfg: Config,
): Promise<{ figures: AuditFigures; entries: CallEntry[] }> {
  const t0 = sim.clock.nowMs();
  const cpu = process.cpuUsage();
  const run = await runAudit({ cfg });
  const used = process.cpuUsage(cpu);
  const t1 = sim.clock.nowMs();
  const entries = sim.calls.entries();
  const calls = counts(entries);
  const scanIamCalls = entries.filter((e) => e.service === 'iam' && SCAN_OPS.has(e.op)).length;
  const actions: Record<string, number> = {};
  const iamUsers = new Set<string>();
  let rotationsStarted = 0;
  for (const r of run.summary.results) {
    actions[`${r.kind}:${r.outcome}`] = (actions[`${r.kind}:${r.outcome}`] ?? 0) + 1;
    if (r.outcome !== 'done') continue;
    if (r.kind === 'rotate') rotationsStarted++;
    if (r.kind === 'deactivate-previous' || r.kind === 'disable' || r.kind === 'delete')
      iamUsers.add(r.userName);
  }
  return {
    entries,
    figures: {
      calls,
      scanIamCalls,
      actionIamCalls: calls.iam - scanIamCalls,
      usersWithIamAction: iamUsers.size,
      rotationsStarted,
      simulatedSeconds: (t1 - t0) / 1000,
      cpuMs: Math.round((used.user + used.system) / 1000),
      ownersNotified: run.summary.ownersNotified,
      digests: run.messages.filter((m) => m.recipient !== 'security').length,
      actions,
      ok: run.summary.ok,
    },
  };
}

async function measureBaseline(sim: SimAccount): Promise<BaselineFigures> {
  const t0 = sim.clock.nowMs();
  const cpu = process.cpuUsage();
  const users = await naiveScan();
  const used = process.cpuUsage(cpu);
  return {
    calls: counts(sim.calls.entries()),
    simulatedSeconds: (sim.clock.nowMs() - t0) / 1000,
    cpuMs: Math.round((used.user + used.system) / 1000),
    usersSeen: users.length,
    keysSeen: users.reduce((n, u) => n + u.keys.length, 0),
  };
}

const MIXED_ENV = { ENFORCE: 'disable' };

/**
 * The audit's memory on the mixed account. Run it in a fresh process (with --expose-gc): the
 * samples force full GCs, so its CPU time is not measured here.
 */
export async function measureMemory(options: SizeOptions & { auditCalls: number }): Promise<MemoryFigures> {
  const model = options.model ?? DEFAULT_MODEL;
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function')
    throw new Error('measureMemory needs --expose-gc');
  gc();
  const idle = process.memoryUsage();
  const a = await account(options.users, options.seed, 'mixed', model, MIXED_ENV);
  gc();
  const before = process.memoryUsage();
  const sampler = new LiveMemorySampler(Math.max(1, Math.ceil(options.auditCalls / MEMORY_SAMPLES)));
  // The simulator's fault hook sees every call that reaches the service: a place to sample.
  const unhook = a.sim.failWhen(() => {
    sampler.onCall();
    return undefined;
  });
  sampler.sample();
  const run = await runAudit({ cfg: a.cfg });
  // The run's result (findings, mails, summary) is what the handler returns: still live here.
  sampler.sample();
  unhook();
  const figures: MemoryFigures = {
    users: options.users,
    idleRssMb: mb(idle.rss),
    idleJsMb: mb(jsBytes(idle)),
    beforeAuditRssMb: mb(before.rss),
    beforeAuditJsMb: mb(jsBytes(before)),
    peakJsMb: mb(sampler.peakJs),
    auditJsMb: mb(Math.max(0, sampler.peakJs - jsBytes(before))),
    peakRssMb: mb(sampler.peakRss),
    maxRssMb: mb(process.resourceUsage().maxRSS * 1024),
    samples: sampler.samples,
  };
  if (!run.summary.ok) throw new Error('the audit reported failures in the memory run');
  a.sim.restore();
  return figures;
}

/** The audit on the mixed account, then the rotations it started (run afterwards, all at once). */
async function auditAndRotations(
  users: number,
  seed: number,
  model: Model,
): Promise<{ stats: AccountStats; audit: AuditFigures; rotations: RotationFollowUp }> {
  const a = await account(users, seed, 'mixed', model, MIXED_ENV);
  try {
    const audit = await measureAudit(a.sim, a.cfg);
    const r0 = a.sim.clock.nowMs();
    a.release();
    await a.sim.runPendingRotations();
    const records = a.sim.rotations();
    const calls = counts(a.sim.calls.entries().slice(audit.entries.length));
    return {
      stats: a.stats,
      audit: audit.figures,
      rotations: {
        rotations: records.length,
        succeeded: records.filter((r) => r.outcome === 'succeeded').length,
        attempts: records.reduce((n, r) => n + r.attempts, 0),
        calls,
        iamCallsPerRotation: records.length === 0 ? 0 : round2(calls.iam / records.length),
        simulatedSeconds: (a.sim.clock.nowMs() - r0) / 1000,
      },
    };
  } finally {
    a.sim.restore();
  }
}

async function auditOnly(
  users: number,
  seed: number,
  model: Model,
  profile: Profile,
  env: Record<string, string>,
) {
  const a = await account(users, seed, profile, model, env);
  try {
    return { stats: a.stats, audit: (await measureAudit(a.sim, a.cfg)).figures };
  } finally {
    a.sim.restore();
  }
}

async function baselineOn(users: number, seed: number, model: Model, profile: Profile) {
  const a = await account(users, seed, profile, model, {});
  try {
    return { stats: a.stats, baseline: await measureBaseline(a.sim) };
  } finally {
    a.sim.restore();
  }
}

/** Every figure for one account size but memory (see measureMemory). Each account is a fresh build. */
export async function measureSize(options: SizeOptions): Promise<SizeResult> {
  const model = options.model ?? DEFAULT_MODEL;
  const { users, seed } = options;
  const mixed = await auditAndRotations(users, seed, model);
  const base = await baselineOn(users, seed, model, 'mixed');
  if (base.stats.fingerprint !== mixed.stats.fingerprint) throw new Error('two builds of the account differ');
  // Nobody due: the same users and key slots, young keys, nobody enrolled, ENFORCE=notify.
  const idle = await auditOnly(users, seed, model, 'idle', { ENFORCE: 'notify' });
  const idleBase = await baselineOn(users, seed, model, 'idle');
  if (idleBase.stats.fingerprint !== idle.stats.fingerprint)
    throw new Error('two builds of the account differ');
  return {
    users,
    seed,
    model,
    account: mixed.stats,
    audit: mixed.audit,
    rotations: mixed.rotations,
    baseline: base.baseline,
    idle: { account: idle.stats, audit: idle.audit, baseline: idleBase.baseline },
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
