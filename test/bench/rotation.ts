import { TagUserCommand } from '@aws-sdk/client-iam';
import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { clients, resetClients } from '../../src/aws/clients.js';
import { loadConfig } from '../../src/config.js';
import { rotate } from '../../src/rotation/index.js';
import { SECRET_TAG, USER_TAG } from '../../src/tags.js';
import { SimAccount } from '../sim/index.js';
import { Random } from './account.js';
import { START } from './audit.js';

/**
 * Rotation latency: one enrolled user, Secrets Manager's RotateSecret running the real rotation
 * function's four steps (the simulator's `sync` mode: RotateSecret answers when the rotation is
 * over), a new key that STS rejects until `delay` has passed since CreateAccessKey. Measured on
 * the virtual clock from RotateSecret to its answer.
 */

export interface RotationRun {
  delaySeconds: number;
  latencyMs: number;
  /** RotateSecret to the end of finishSecret (virtual seconds). */
  totalSeconds: number;
  /** GetCallerIdentity calls signed with the new key (testSecret's attempts). */
  stsAttempts: number;
  /** total − delay. */
  overshootSeconds: number;
  /** 1.2 × delay + 1 s. */
  targetSeconds: number;
  met: boolean;
  succeeded: boolean;
  calls: number;
  iamCalls: number;
}

export interface FailureRun {
  delaySeconds: number;
  verifyBudgetSeconds: number;
  rotationAttempts: number;
  /** Until Secrets Manager gave up (all attempts, its waits between them included). */
  totalSeconds: number;
  stsAttempts: number;
  outcome: string;
  currentVersionUnchanged: boolean;
  currentKeyUnchanged: boolean;
  currentKeyStillActive: boolean;
  /** The version created for the rotation still carries AWSPENDING only (never promoted). */
  pendingNotPromoted: boolean;
  keysOfUser: number;
  /** No secret access key or RotationToken in the recorded errors. */
  errorsClean: boolean;
  clean: boolean;
}

export interface RotationResult {
  runs: RotationRun[];
  failure: FailureRun;
}

interface Setup {
  sim: SimAccount;
  secretArn: string;
  keyId: string;
  userName: string;
}

/** One enrolled user (key 85 days old, in use) bound to its secret, the real rotation function registered. */
async function setup(
  delayMs: number,
  latencyMs: number,
  seed: number,
  env: Record<string, string>,
): Promise<Setup> {
  resetClients();
  const sim = new SimAccount({
    seed,
    start: START,
    latencyMs,
    propagationDelayMs: delayMs,
    rotationMode: 'sync',
  }).install();
  const topicArn = sim.addTopic('iam-key-rotator-alerts');
  const cfg = loadConfig({ TOPIC_ARN: topicArn, ...env });
  const rotationArn = sim.rotationFunctionArn();
  sim.registerRotationFunction(rotationArn, (event) => rotate(event, { config: cfg }));
  const userName = `ci-deployer-${new Random(seed).int(100, 999)}`;
  sim.addUser(userName, { tags: { owner: 'platform@example.com' } });
  const key = sim.addKey(userName, { ageDays: 85, lastUsedDaysAgo: 0 });
  const secret = sim.addSecret({
    name: `${cfg.secretPrefix}${userName}`,
    value: { UserName: userName, AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey },
    tags: { [USER_TAG]: userName },
    rotationLambdaArn: rotationArn,
  });
  // The user's half of the binding needs the secret's ARN, known only now: one TagUser call.
  await clients().iam.send(
    new TagUserCommand({ UserName: userName, Tags: [{ Key: SECRET_TAG, Value: secret.arn }] }),
  );
  sim.calls.reset();
  return { sim, secretArn: secret.arn, keyId: key.accessKeyId, userName };
}

const currentKeyId = (sim: SimAccount, secretArn: string) => {
  const value = sim.valueAt(secretArn);
  return value === undefined ? undefined : (JSON.parse(value) as { AccessKeyId?: string }).AccessKeyId;
};

/** One rotation with the given propagation delay. */
export async function measureRotation(
  delaySeconds: number,
  latencyMs: number,
  seed: number,
): Promise<RotationRun> {
  const { sim, secretArn, keyId } = await setup(delaySeconds * 1000, latencyMs, seed, {});
  try {
    const t0 = sim.clock.nowMs();
    await clients().sm.send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true }));
    const total = (sim.clock.nowMs() - t0) / 1000;
    const record = sim.rotations().at(-1);
    const newKey = currentKeyId(sim, secretArn);
    const succeeded = record?.outcome === 'succeeded' && newKey !== undefined && newKey !== keyId;
    const target = 1.2 * delaySeconds + 1;
    return {
      delaySeconds,
      latencyMs,
      totalSeconds: round3(total),
      stsAttempts: sim.calls.count('GetCallerIdentity', 'sts'),
      overshootSeconds: round3(total - delaySeconds),
      targetSeconds: round3(target),
      met: succeeded && total <= target,
      succeeded,
      calls: sim.calls.count(),
      iamCalls: sim.calls.byService().iam,
    };
  } finally {
    sim.restore();
  }
}

/**
 * A key that never becomes valid in time: the propagation delay exceeds what Secrets Manager's
 * attempts (each with VERIFY_BUDGET_SECONDS of verification) can wait. The rotation must fail
 * with AWSCURRENT where it was, the old key active and the new version never promoted.
 */
export async function measureFailure(latencyMs: number, seed: number): Promise<FailureRun> {
  const verifyBudgetSeconds = 120;
  // Three attempts of 120 s plus Secrets Manager's waits (30 s, 60 s) end before 500 s.
  const delaySeconds = 900;
  const { sim, secretArn, keyId, userName } = await setup(delaySeconds * 1000, latencyMs, seed, {
    VERIFY_BUDGET_SECONDS: String(verifyBudgetSeconds),
  });
  try {
    const versionBefore = sim.versionWithStage(secretArn, 'AWSCURRENT');
    const t0 = sim.clock.nowMs();
    await clients().sm.send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true }));
    const total = (sim.clock.nowMs() - t0) / 1000;
    const record = sim.rotations().at(-1);
    const token = record?.token;
    const view = sim.secret(secretArn);
    const tokenVersion = view?.versions.find((v) => v.versionId === token);
    const keys = sim.keys(userName);
    const secrets = sim.issuedSecrets();
    const errors = record?.errors ?? [];
    const errorsClean = !errors.some((e) => secrets.some((s) => e.includes(s)));
    const failure: FailureRun = {
      delaySeconds,
      verifyBudgetSeconds,
      rotationAttempts: record?.attempts ?? 0,
      totalSeconds: round3(total),
      stsAttempts: sim.calls.count('GetCallerIdentity', 'sts'),
      outcome: record?.outcome ?? 'none',
      currentVersionUnchanged: sim.versionWithStage(secretArn, 'AWSCURRENT') === versionBefore,
      currentKeyUnchanged: currentKeyId(sim, secretArn) === keyId,
      currentKeyStillActive: sim.key(keyId)?.status === 'Active',
      pendingNotPromoted:
        tokenVersion !== undefined &&
        !tokenVersion.stages.includes('AWSCURRENT') &&
        tokenVersion.stages.includes('AWSPENDING'),
      keysOfUser: keys.length,
      errorsClean,
      clean: false,
    };
    failure.clean =
      failure.outcome === 'failed' &&
      failure.currentVersionUnchanged &&
      failure.currentKeyUnchanged &&
      failure.currentKeyStillActive &&
      failure.pendingNotPromoted &&
      failure.keysOfUser <= 2 &&
      errorsClean;
    return failure;
  } finally {
    sim.restore();
  }
}

export async function measureRotations(o: {
  delaysSeconds: readonly number[];
  latencyMs: number;
  seed: number;
}): Promise<RotationResult> {
  const runs: RotationRun[] = [];
  for (const d of o.delaysSeconds) runs.push(await measureRotation(d, o.latencyMs, o.seed));
  return { runs, failure: await measureFailure(o.latencyMs, o.seed) };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
