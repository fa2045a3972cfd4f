import { MEMORY_SAMPLES, type MeasuredSize, type Model } from './audit.js';
import type { ColdStartResult } from './cold-start.js';
import type { RotationResult } from './rotation.js';

/**
 * The targets of issue 5, checked against the figures, and the table printed on stdout (Markdown,
 * so the README can carry it as printed).
 */

export interface Check {
  id: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchFigures {
  seed: number;
  model: Model;
  sizes: MeasuredSize[];
  rotation: RotationResult;
  /** Totals with no call latency, to tell waiting for propagation from call latency. */
  rotationNoLatency: RotationResult;
  coldStart: ColdStartResult | undefined;
}

/** Lambda's limit on one invocation. */
export const LAMBDA_LIMIT_SECONDS = 900;
export const LAMBDA_MEMORY_MB = 256;
export const BUNDLE_LIMIT_BYTES = 500 * 1024;
/** Growth exponent log(m2/m1)/log(n2/n1) accepted as linear: GC timing moves peaks by some percent. */
export const LINEAR_EXPONENT = 1.1;

export const ratio = (a: number, b: number): number => (b === 0 ? Number.POSITIVE_INFINITY : a / b);

/** log(y2/y1) / log(x2/x1): 1 is linear, below 1 better than linear. */
export function growthExponent(x1: number, y1: number, x2: number, y2: number): number {
  if (x1 <= 0 || x2 <= x1 || y1 <= 0 || y2 <= 0) return Number.NaN;
  return Math.log(y2 / y1) / Math.log(x2 / x1);
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '∞';
const secs = (s: number) => (s >= 120 ? `${fmt(s / 60, 1)} min` : `${fmt(s, 1)} s`);
/** KB = 1,024 bytes. */
const kb = (b: number) => `${fmt(b / 1024, 0)} KB`;

/** The size the per-account targets are judged at: 5,000 users, or the closest measured. */
export function referenceSize(sizes: readonly MeasuredSize[]): MeasuredSize | undefined {
  return [...sizes].sort((a, b) => Math.abs(a.users - 5000) - Math.abs(b.users - 5000))[0];
}

/** Estimated peak of the audit Lambda: the bundle's RSS once imported plus what the audit needed. */
export function lambdaPeakMb(size: MeasuredSize, cold: ColdStartResult | undefined): number | undefined {
  const audit = cold?.handlers.find((h) => h.name === 'audit');
  return audit ? Math.round((audit.bundledRssMb + size.memory.auditJsMb) * 10) / 10 : undefined;
}

export function checks(f: BenchFigures): Check[] {
  const out: Check[] = [];
  const ref = referenceSize(f.sizes);
  if (ref) {
    const at = `at ${fmt(ref.users)} users`;
    const a = ref.audit;
    out.push({
      id: 'scan-calls',
      target: `scan ≤ 10 IAM calls ${at}`,
      measured: `${a.scanIamCalls} (${scanBreakdown(ref)})`,
      met: a.scanIamCalls <= 10,
    });
    const perUser = a.usersWithIamAction === 0 ? 0 : a.actionIamCalls / a.usersWithIamAction;
    out.push({
      id: 'per-user-calls',
      target: `≤ 1 IAM call per user acted on ${at}`,
      measured: `${fmt(perUser, 2)} (${a.actionIamCalls} calls for ${a.usersWithIamAction} users: ${actionBreakdown(ref)})`,
      met: perUser <= 1,
    });
    const r = ratio(ref.baseline.calls.iam, a.calls.iam);
    out.push({
      id: 'call-ratio',
      target: `≥ 100× fewer IAM calls than the baseline ${at}`,
      measured: `${fmt(r, 0)}× (${fmt(ref.baseline.calls.iam)} / ${fmt(a.calls.iam)})`,
      met: r >= 100,
    });
    const ri = ratio(ref.idle.baseline.calls.iam, ref.idle.audit.calls.iam);
    out.push({
      id: 'call-ratio-nobody-due',
      target: `≥ 100× fewer IAM calls, nobody due, ${at}`,
      measured: `${fmt(ri, 0)}× (${fmt(ref.idle.baseline.calls.iam)} / ${fmt(ref.idle.audit.calls.iam)})`,
      met: ri >= 100,
    });
    out.push({
      id: 'duration',
      target: `audit well inside Lambda's 15 min (≤ 5 min), baseline over 15 min, ${at}`,
      measured: `audit ${secs(a.simulatedSeconds)}, baseline ${secs(ref.baseline.simulatedSeconds)}`,
      met:
        a.simulatedSeconds <= LAMBDA_LIMIT_SECONDS / 3 &&
        ref.baseline.simulatedSeconds > LAMBDA_LIMIT_SECONDS,
    });
    const peak = lambdaPeakMb(ref, f.coldStart);
    out.push({
      id: 'memory-256',
      target: `audit fits a ${LAMBDA_MEMORY_MB} MB Lambda ${at}`,
      measured:
        peak === undefined
          ? `audit needed ${fmt(ref.memory.auditJsMb, 1)} MB (no bundle measured)`
          : `${fmt(peak, 1)} MB = audit bundle loaded ${fmt(peak - ref.memory.auditJsMb, 1)} MB + audit ${fmt(ref.memory.auditJsMb, 1)} MB`,
      met: (peak ?? ref.memory.auditJsMb) <= LAMBDA_MEMORY_MB,
    });
  }
  const sorted = [...f.sizes].sort((x, y) => x.users - y.users);
  for (let i = 1; i < sorted.length; i++) {
    const s1 = sorted[i - 1] as MeasuredSize;
    const s2 = sorted[i] as MeasuredSize;
    const span = `${fmt(s1.users)} → ${fmt(s2.users)} users`;
    const cpu = growthExponent(s1.users, s1.audit.cpuMs, s2.users, s2.audit.cpuMs);
    out.push({
      id: `cpu-growth-${s2.users}`,
      target: `CPU grows no faster than linearly, ${span}`,
      measured: `exponent ${fmt(cpu, 2)} (${fmt(s1.audit.cpuMs)} → ${fmt(s2.audit.cpuMs)} ms)`,
      met: cpu <= LINEAR_EXPONENT,
    });
    const mem = growthExponent(s1.users, s1.memory.auditJsMb, s2.users, s2.memory.auditJsMb);
    out.push({
      id: `memory-growth-${s2.users}`,
      target: `peak memory grows no faster than linearly, ${span}`,
      measured: `exponent ${fmt(mem, 2)} (${fmt(s1.memory.auditJsMb, 1)} → ${fmt(s2.memory.auditJsMb, 1)} MB)`,
      met: mem <= LINEAR_EXPONENT,
    });
  }
  for (const r of f.rotation.runs) {
    out.push({
      id: `rotation-${r.delaySeconds}s`,
      target: `rotation with ${r.delaySeconds} s propagation ≤ 1.2 × delay + 1 s = ${fmt(r.targetSeconds, 1)} s`,
      measured: `${fmt(r.totalSeconds, 2)} s, ${r.stsAttempts} STS attempts${r.succeeded ? '' : ', FAILED'}`,
      met: r.met,
    });
  }
  const fail = f.rotation.failure;
  out.push({
    id: 'rotation-never-valid',
    target: 'a key never valid within the budget fails cleanly (nothing promoted)',
    measured: `${fail.outcome} after ${secs(fail.totalSeconds)} (${fail.rotationAttempts} attempts, ${fail.stsAttempts} STS calls); AWSCURRENT ${fail.currentVersionUnchanged && fail.currentKeyUnchanged ? 'unchanged' : 'CHANGED'}, old key ${fail.currentKeyStillActive ? 'active' : 'NOT active'}, new version ${fail.pendingNotPromoted ? 'still AWSPENDING' : 'PROMOTED'}`,
    met: fail.clean,
  });
  for (const h of f.coldStart?.handlers ?? []) {
    out.push({
      id: `bundle-${h.name}`,
      target: `${h.name} bundle < 500 KB (${fmt(BUNDLE_LIMIT_BYTES)} bytes)`,
      measured: `${fmt(h.bundleBytes)} bytes (largest: ${h.largestInputs
        .slice(0, 4)
        .map((i) => `${i.input} ${kb(i.bytes)}`)
        .join(', ')})`,
      met: h.bundleBytes < BUNDLE_LIMIT_BYTES,
    });
    out.push({
      id: `import-${h.name}`,
      target: `${h.name} bundle imports ≥ 2× faster than unbundled`,
      measured: `${fmt(h.speedup, 1)}× (${fmt(h.bundledMedianMs, 1)} vs ${fmt(h.unbundledMedianMs, 1)} ms)`,
      met: h.speedup >= 2,
    });
  }
  return out;
}

function scanBreakdown(s: MeasuredSize): string {
  const op = s.audit.calls.byOperation;
  return [
    'GenerateCredentialReport',
    'GetCredentialReport',
    'GetAccountAuthorizationDetails',
    'ListAccountAliases',
  ]
    .map((o) => `${op[o] ?? 0} ${o}`)
    .join(', ');
}

function actionBreakdown(s: MeasuredSize): string {
  const op = s.audit.calls.byOperation;
  return ['ListAccessKeys', 'UpdateAccessKey', 'DeleteAccessKey']
    .filter((o) => (op[o] ?? 0) > 0)
    .map((o) => `${op[o]} ${o}`)
    .join(' + ');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  // The separator row as Biome formats Markdown tables, so the output pastes into the README as is.
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** The whole report as printed by `npm run bench`. */
export function renderReport(
  f: BenchFigures,
  list: Check[],
  meta: { jsonPath?: string; wallSeconds?: number },
): string {
  const m = f.model;
  const parts: string[] = [];
  parts.push(
    `Model: every AWS call takes ${m.latencyMs} ms (virtual); IAM is throttled account-wide by a token bucket of ` +
      `${m.iamRatePerSecond} calls/s (burst ${m.iamBurst}); throttled calls are retried by src/aws/retry.ts on the ` +
      `virtual clock; a new key is accepted by STS ${m.propagationDelayMs / 1000} s after it is created ` +
      '(audit accounts). Simulated time ' +
      'is the virtual clock; CPU, memory and import times are real. Seed ' +
      `${f.seed}; accounts are built from the seed.`,
  );

  if (f.sizes.length > 0) {
    parts.push(
      '### Audit against the baseline scan (same account, same run)\n\n' +
        'Account: ~10% of users enrolled, ENFORCE=disable, ~20% of owners with a reminder or action today; ' +
        'baseline = ListUsers pages, then ListAccessKeys + ListUserTags per user and GetAccessKeyLastUsed per key.\n\n' +
        table(
          [
            'users',
            'keys',
            'owners mailed',
            'IAM calls: audit (scan + actions)',
            'baseline (throttled)',
            'ratio',
            'SNS',
            'Secrets Mgr',
            'simulated: audit',
            'baseline',
            'CPU: audit',
            'baseline',
          ],
          f.sizes.map((s) => [
            fmt(s.users),
            fmt(s.account.keys),
            `${fmt(s.audit.ownersNotified)} / ${fmt(s.account.owners)} (${fmt((100 * s.audit.ownersNotified) / Math.max(1, s.account.owners), 0)}%)`,
            `${fmt(s.audit.calls.iam)} (${s.audit.scanIamCalls} + ${fmt(s.audit.actionIamCalls)})`,
            `${fmt(s.baseline.calls.iam)} (${fmt(s.baseline.calls.iamThrottled)})`,
            `${fmt(ratio(s.baseline.calls.iam, s.audit.calls.iam), 0)}×`,
            fmt(s.audit.calls.sns),
            fmt(s.audit.calls.secretsManager),
            secs(s.audit.simulatedSeconds),
            secs(s.baseline.simulatedSeconds),
            `${fmt(s.audit.cpuMs)} ms`,
            `${fmt(s.baseline.cpuMs)} ms`,
          ]),
        ),
    );
    parts.push(
      '### Nobody due (same users and keys, all young; nobody enrolled; ENFORCE=notify: the audit acts on nobody)\n\n' +
        table(
          [
            'users',
            'IAM calls: audit',
            'baseline (throttled)',
            'ratio',
            'simulated: audit',
            'baseline',
            'CPU: audit',
          ],
          f.sizes.map((s) => [
            fmt(s.users),
            fmt(s.idle.audit.calls.iam),
            `${fmt(s.idle.baseline.calls.iam)} (${fmt(s.idle.baseline.calls.iamThrottled)})`,
            `${fmt(ratio(s.idle.baseline.calls.iam, s.idle.audit.calls.iam), 0)}×`,
            secs(s.idle.audit.simulatedSeconds),
            secs(s.idle.baseline.simulatedSeconds),
            `${fmt(s.idle.audit.cpuMs)} ms`,
          ]),
        ),
    );
    parts.push(
      '### Audit memory (mixed account; each size in its own fresh process)\n\n' +
        "JS = V8 heap used + external (the report's bytes), live: sampled right after a full GC about " +
        `${MEMORY_SAMPLES} times during the audit (at AWS calls) and at its end; it includes what the simulator ` +
        'stores meanwhile (published mails, call log), so it errs high. idle = node + tsx + every module ' +
        "loaded; before = the simulated account built (AWS's state, not the Lambda's); audit = peak − before; " +
        'Lambda estimate = the audit bundle imported in plain node (cold start section) + audit. RSS ' +
        'peaks with the GCs; maxRSS includes building the account.\n\n' +
        table(
          [
            'users',
            'idle: RSS',
            'JS',
            'before: RSS',
            'JS',
            'peak JS',
            'audit',
            'per user',
            'peak RSS',
            'maxRSS',
            'Lambda estimate',
          ],
          f.sizes.map((s) => {
            const est = lambdaPeakMb(s, f.coldStart);
            return [
              fmt(s.users),
              `${fmt(s.memory.idleRssMb, 1)} MB`,
              `${fmt(s.memory.idleJsMb, 1)} MB`,
              `${fmt(s.memory.beforeAuditRssMb, 1)} MB`,
              `${fmt(s.memory.beforeAuditJsMb, 1)} MB`,
              `${fmt(s.memory.peakJsMb, 1)} MB`,
              `${fmt(s.memory.auditJsMb, 1)} MB`,
              `${fmt((s.memory.auditJsMb * 1024) / s.users, 1)} KB`,
              `${fmt(s.memory.peakRssMb, 1)} MB`,
              `${fmt(s.memory.maxRssMb, 1)} MB`,
              est === undefined ? 'n/a' : `${fmt(est, 1)} MB of ${LAMBDA_MEMORY_MB}`,
            ];
          }),
        ),
    );
    parts.push(
      '### Rotations the audit started (run by the rotation function after the audit, all at once, as Secrets ' +
        'Manager starts them; a rotation throttled out of its retries fails and Secrets Manager retries it)\n\n' +
        table(
          [
            'users',
            'rotations',
            'succeeded',
            'attempts',
            'IAM calls / rotation',
            'IAM throttled',
            'simulated',
          ],
          f.sizes.map((s) => [
            fmt(s.users),
            fmt(s.rotations.rotations),
            fmt(s.rotations.succeeded),
            fmt(s.rotations.attempts),
            fmt(s.rotations.iamCallsPerRotation, 1),
            `${fmt(s.rotations.calls.iamThrottled)} of ${fmt(s.rotations.calls.iam)}`,
            secs(s.rotations.simulatedSeconds),
          ]),
        ),
    );
  }

  const noLat = new Map(f.rotationNoLatency.runs.map((r) => [r.delaySeconds, r]));
  parts.push(
    '### Rotation latency (RotateSecret → finishSecret done, virtual clock)\n\n' +
      table(
        [
          'propagation delay',
          'total',
          'STS attempts',
          'overshoot',
          'target 1.2·d + 1 s',
          'met',
          'total at 0 ms/call',
        ],
        f.rotation.runs.map((r) => [
          `${r.delaySeconds} s`,
          `${fmt(r.totalSeconds, 2)} s`,
          String(r.stsAttempts),
          `${fmt(r.overshootSeconds, 2)} s`,
          `${fmt(r.targetSeconds, 1)} s`,
          r.met ? 'yes' : 'NO',
          `${fmt(noLat.get(r.delaySeconds)?.totalSeconds ?? Number.NaN, 2)} s`,
        ]),
      ) +
      `\n\nNever valid (propagation ${f.rotation.failure.delaySeconds} s > ${f.rotation.failure.rotationAttempts} attempts × ` +
      `VERIFY_BUDGET_SECONDS=${f.rotation.failure.verifyBudgetSeconds}): ${f.rotation.failure.outcome} after ` +
      `${secs(f.rotation.failure.totalSeconds)}, ${f.rotation.failure.stsAttempts} STS attempts; AWSCURRENT ` +
      `${f.rotation.failure.currentVersionUnchanged && f.rotation.failure.currentKeyUnchanged ? 'unchanged' : 'CHANGED'}, ` +
      `old key ${f.rotation.failure.currentKeyStillActive ? 'still active' : 'NOT active'}, new version ` +
      `${f.rotation.failure.pendingNotPromoted ? 'left AWSPENDING (never promoted)' : 'PROMOTED'}, ` +
      `${f.rotation.failure.keysOfUser} keys; errors ${f.rotation.failure.errorsClean ? 'hold no secret' : 'LEAK A SECRET'}.`,
  );

  if (f.coldStart) {
    const c = f.coldStart;
    parts.push(
      `### Cold start (serverless.yml's esbuild options; median of ${c.runs} fresh \`node\` processes, ${c.nodeVersion})\n\n` +
        table(
          [
            'handler',
            'bundle',
            'gzip',
            'import: bundled',
            'unbundled',
            'speedup',
            'RSS after import: bundled',
            'unbundled',
          ],
          c.handlers.map((h) => [
            h.name,
            kb(h.bundleBytes),
            kb(h.bundleGzipBytes),
            `${fmt(h.bundledMedianMs, 1)} ms`,
            `${fmt(h.unbundledMedianMs, 1)} ms`,
            `${fmt(h.speedup, 1)}×`,
            `${fmt(h.bundledRssMb, 1)} MB`,
            `${fmt(h.unbundledRssMb, 1)} MB`,
          ]),
        ),
    );
  }

  parts.push(
    '### Targets\n\n' +
      table(
        ['', 'target', 'measured'],
        list.map((c) => [c.met ? 'met' : 'NOT MET', c.target, c.measured]),
      ),
  );
  const tail: string[] = [];
  if (meta.wallSeconds !== undefined) tail.push(`Benchmark wall time: ${fmt(meta.wallSeconds, 1)} s.`);
  if (meta.jsonPath) tail.push(`Figures as JSON: ${meta.jsonPath}`);
  if (tail.length > 0) parts.push(tail.join(' '));
  return `${parts.join('\n\n')}\n`;
}
