import { inspect } from 'node:util';
import { logger } from '../../src/logger.js';
import type { SimAccount } from '../sim/index.js';
import type { ProofAccount } from './harness.js';

/**
 * Invariant 6, checked by search: every secret access key the simulator ever issued (and every
 * RotationToken the rotation function received) is looked for in everything the code let out:
 * log lines (Powertools writes through the global console when POWERTOOLS_DEV=true), SNS
 * messages, handler results, error messages and CLI output. One watch per proof file; each file
 * adds what its runs produced and scans at the end.
 */

export interface LeakHit {
  /** Where it was found (log, sns, result, error, cli...). */
  where: string;
  /** The first 6 characters of the leaked value only: enough to tell which, not enough to use. */
  secretPrefix: string;
}

const METHODS = ['debug', 'info', 'warn', 'error', 'log', 'trace'] as const;
type Method = (typeof METHODS)[number];

export class LeakWatch {
  /** Captured since the last flush; flushed texts are only counted (runs can be many). */
  private texts: { where: string; text: string }[] = [];
  private readonly secrets = new Set<string>();
  private readonly hits: LeakHit[] = [];
  private readonly originals = new Map<Method, (...args: unknown[]) => void>();
  /** How many secrets and texts the scans compared. */
  scannedSecrets = 0;
  scannedTexts = 0;
  logLines = 0;

  /** Starts capturing the console (and so every log line) at DEBUG level. */
  start(): this {
    for (const m of METHODS) {
      const original = console[m];
      this.originals.set(m, original);
      console[m] = (...args: unknown[]) => {
        this.logLines++;
        this.texts.push({
          where: `log.${m}`,
          text: args.map((x) => (typeof x === 'string' ? x : inspect(x))).join(' '),
        });
      };
    }
    logger.setLogLevel('DEBUG');
    return this;
  }

  stop(): void {
    logger.setLogLevel('WARN');
    for (const [m, fn] of this.originals) console[m] = fn;
    this.originals.clear();
  }

  /** Adds anything the code returned or threw; errors are taken whole (message, stack, cause chain). */
  add(where: string, value: unknown): void {
    if (value === undefined) return;
    const text =
      typeof value === 'string'
        ? value
        : `${safeJson(value)}\n${inspect(value, { depth: 8, showHidden: false, getters: true })}`;
    this.texts.push({ where, text });
  }

  /** Records what a simulated account issued and what it published and delivered. */
  collect(sim: SimAccount, extraSecrets: readonly string[] = []): void {
    for (const s of sim.issuedSecrets()) this.secrets.add(s);
    for (const s of extraSecrets) this.secrets.add(s);
    for (const p of sim.published()) this.add('sns.published', p);
    for (const d of sim.deliveries()) this.add('sns.delivery', d);
    for (const c of sim.confirmationRequests()) this.add('sns.confirmation', c);
    for (const r of sim.rotations()) this.add('secretsmanager.rotation-errors', r.errors);
  }

  /**
   * Searches the texts captured since the last flush for every secret known so far, then forgets
   * them. Call it after each run's `collect` (the simulator is seeded, so runs reissue the same
   * secrets and the set stays small).
   */
  flush(): void {
    for (const t of this.texts) {
      for (const secret of this.secrets) {
        if (t.text.includes(secret)) this.hits.push({ where: t.where, secretPrefix: secret.slice(0, 6) });
      }
    }
    this.scannedTexts += this.texts.length;
    this.texts = [];
  }

  /** Every secret found in any captured text, across all flushes. */
  scan(): LeakHit[] {
    this.flush();
    this.scannedSecrets = this.secrets.size;
    return [...this.hits];
  }

  get secretCount(): number {
    return this.secrets.size;
  }

  /** One line for the proof's figures. */
  summary(name: string): string {
    const hits = this.scan();
    return `leak scan ${name}: ${this.scannedSecrets} issued secrets and RotationTokens searched in ${this.scannedTexts} captured texts (${this.logLines} log lines, SNS messages, results, errors): ${hits.length} hits`;
  }
}

/** Collects a proof account: what the simulator issued and sent, the RotationTokens and the rotation function's errors. */
export function collectAccount(watch: LeakWatch, a: ProofAccount): void {
  watch.collect(a.sim, a.rotationTokens);
  for (const e of a.errors) watch.add('rotation.error', e);
  watch.flush();
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** Runs `fn` and records its result or the error it threw; returns the error (or undefined). */
export async function recorded<T>(
  watch: LeakWatch,
  where: string,
  fn: () => Promise<T>,
): Promise<{ value?: T; error?: unknown }> {
  try {
    const value = await fn();
    watch.add(`${where}.result`, value);
    return { value };
  } catch (error) {
    watch.add(`${where}.error`, error);
    return { error };
  }
}
