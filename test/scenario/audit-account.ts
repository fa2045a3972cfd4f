import { TagUserCommand } from '@aws-sdk/client-iam';
import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { clients } from '../../src/aws/clients.js';
import { withRetry } from '../../src/aws/retry.js';
import { type Config, loadConfig } from '../../src/config.js';
import { logger } from '../../src/logger.js';
import { rotate } from '../../src/rotation/index.js';
import { SECRET_TAG, USER_TAG } from '../../src/tags.js';
import { SimAccount, type SimOptions } from '../sim/index.js';

/**
 * A simulated account set up for audit scenarios: a topic, the real rotation function registered
 * with Secrets Manager, and helpers that enroll users the way `enroll` leaves them (a secret
 * holding the key, both binding tags, rotation on).
 */
export interface AuditAccount {
  sim: SimAccount;
  cfg: Config;
  topicArn: string;
  rotationArn: string;
  /** Secret ARNs whose rotation fails at testSecret on purpose (a stuck rotation). */
  broken: Set<string>;
}

export const ACCOUNT_ID = '123456789012';
export const START = new Date('2026-06-01T06:00:00Z');

export function auditAccount(env: Record<string, string> = {}, options: SimOptions = {}): AuditAccount {
  const sim = new SimAccount({ start: START, ...options }).install();
  const topicArn = sim.addTopic('iam-key-rotator-alerts');
  const cfg = loadConfig({ TOPIC_ARN: topicArn, ...env });
  const rotationArn = sim.rotationFunctionArn();
  const broken = new Set<string>();
  sim.registerRotationFunction(rotationArn, async (event) => {
    // A broken rotation creates and stores its key, then never verifies it: AWSPENDING stays.
    if (broken.has(event.SecretId) && event.Step === 'testSecret') {
      throw new Error(`testSecret of ${event.SecretId} fails on purpose`);
    }
    await rotate(event, { config: cfg });
  });
  return { sim, cfg, topicArn, rotationArn, broken };
}

export interface EnrollOptions {
  /** Rotation enabled on the secret (default true). */
  rotationEnabled?: boolean;
  /** Tag the user with the secret's ARN (default true): without it the binding is one-sided. */
  userTag?: boolean;
  /** Secrets Manager rotation schedule in days. */
  rotationDays?: number;
}

/**
 * Binds `userName` to a new secret `iam-key-rotator/<userName>` whose AWSCURRENT holds `key`.
 * Costs one TagUser call (the user's tag needs the secret's ARN, known only once it exists).
 */
export async function enroll(
  a: AuditAccount,
  userName: string,
  key: { accessKeyId: string; secretAccessKey: string },
  o: EnrollOptions = {},
): Promise<string> {
  const secret = a.sim.addSecret({
    name: `${a.cfg.secretPrefix}${userName}`,
    value: { UserName: userName, AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey },
    tags: { [USER_TAG]: userName },
    rotationLambdaArn: a.rotationArn,
    rotationEnabled: o.rotationEnabled ?? true,
    ...(o.rotationDays !== undefined && { rotationDays: o.rotationDays }),
  });
  if (o.userTag ?? true) {
    await withRetry(() =>
      clients().iam.send(
        new TagUserCommand({ UserName: userName, Tags: [{ Key: SECRET_TAG, Value: secret.arn }] }),
      ),
    );
  }
  return secret.arn;
}

/** Starts a rotation the way Secrets Manager's "rotate immediately" does (runs synchronously in the sim). */
export async function rotateNow(secretArn: string): Promise<void> {
  await withRetry(() =>
    clients().sm.send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true })),
  );
}

/** The key id in a secret's AWSCURRENT (or another stage). */
export function keyIdAt(a: AuditAccount, secretArn: string, stage = 'AWSCURRENT'): string | undefined {
  const value = a.sim.valueAt(secretArn, stage);
  return value === undefined ? undefined : (JSON.parse(value) as { AccessKeyId: string }).AccessKeyId;
}

/** Users named in an owner digest body ("IAM user <name>" headers). */
export function usersInBody(body: string): string[] {
  return [...body.matchAll(/^IAM user (\S+)$/gm)].map((m) => m[1] ?? '');
}

/** Captures every log line (Powertools writes through console in dev mode) at DEBUG level. */
export function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const methods = ['debug', 'info', 'warn', 'error', 'log', 'trace'] as const;
  const originals = methods.map((m) => [m, console[m]] as const);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    };
  }
  logger.setLogLevel('DEBUG');
  return {
    lines,
    restore() {
      logger.setLogLevel('WARN');
      for (const [m, fn] of originals) console[m] = fn;
    },
  };
}

export const DAY_MS = 86_400_000;
