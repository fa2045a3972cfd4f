import { IAMClient, TagUserCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { SECRET_TAG, USER_TAG } from '../../src/tags.js';
import type { RotationFunction, SimAccount } from '../sim/index.js';

/**
 * Fixtures for scenario tests on the simulated account: factories that build a user and secret
 * bound to each other the way enrollment does, and small readers that do not go through the code
 * under test (a test must not use the parser it is checking to check it).
 */

export type Shape = 'standard' | 'legacy';

export interface KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface EnrolledUserOptions {
  name: string;
  /** Field names of the secret value (DESIGN.md, "Secret value"); default 'standard'. */
  shape?: Shape;
  /** Email in the user's owner tag. */
  owner?: string;
  ownerTagKey?: string;
  /** Other fields stored in the secret next to the key pair (kept by every rotation). */
  extraFields?: Record<string, unknown>;
  /** The enrolled key (the one stored in AWSCURRENT). */
  key?: Parameters<SimAccount['addKey']>[1];
  /** Keys the user holds besides the enrolled one, which the secret knows nothing about. */
  otherKeys?: Parameters<SimAccount['addKey']>[1][];
  /** Registered at sim.rotationFunctionArn() and attached to the secret. */
  rotationFunction?: RotationFunction;
  rotationDays?: number;
}

export interface EnrolledUser {
  userName: string;
  userArn: string;
  secretArn: string;
  secretName: string;
  /** The version that holds AWSCURRENT after enrollment. */
  versionId: string;
  key: KeyPair;
  otherKeyIds: string[];
}

/** The secret value in the given shape (field order as hand-written Lambdas store it). */
export function secretValue(
  shape: Shape,
  userName: string,
  key: KeyPair,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return shape === 'standard'
    ? { UserName: userName, AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey, ...extra }
    : { username: userName, accesskey: key.accessKeyId, secretkey: key.secretAccessKey, ...extra };
}

/**
 * A user under management, built as `enroll` builds it: the secret `iam-key-rotator/<name>` holds
 * a key of the user and carries tag iam-key-rotator:user=<name>; the user carries tag
 * iam-key-rotator:secret=<secret ARN> (set through IAM TagUser, as enrollment does, because the
 * ARN exists only once the secret does); the rotation function is attached with a schedule.
 */
export async function enrolledUser(sim: SimAccount, o: EnrolledUserOptions): Promise<EnrolledUser> {
  const shape = o.shape ?? 'standard';
  const ownerTagKey = o.ownerTagKey ?? 'owner';
  const user = sim.addUser(o.name, o.owner === undefined ? {} : { tags: { [ownerTagKey]: o.owner } });
  const key = sim.addKey(o.name, o.key ?? { ageDays: 80, lastUsedDaysAgo: 1 });
  const otherKeyIds = (o.otherKeys ?? []).map((k) => sim.addKey(o.name, k).accessKeyId);
  const functionArn = sim.rotationFunctionArn();
  if (o.rotationFunction !== undefined) sim.registerRotationFunction(functionArn, o.rotationFunction);
  const secret = sim.addSecret({
    name: `iam-key-rotator/${o.name}`,
    value: secretValue(shape, o.name, key, o.extraFields),
    tags: { [USER_TAG]: o.name },
    rotationLambdaArn: functionArn,
    rotationDays: o.rotationDays ?? 82,
  });
  await new IAMClient({ region: sim.region }).send(
    new TagUserCommand({ UserName: o.name, Tags: [{ Key: SECRET_TAG, Value: secret.arn }] }),
  );
  const versionId = sim.versionWithStage(secret.arn, 'AWSCURRENT');
  if (versionId === undefined) throw new Error('enrolledUser: the new secret has no AWSCURRENT version');
  return {
    userName: user.name,
    userArn: user.arn,
    secretArn: secret.arn,
    secretName: secret.name,
    versionId,
    key,
    otherKeyIds,
  };
}

export interface StoredKeyPair extends KeyPair {
  shape: Shape;
  userName: string;
  fields: Record<string, unknown>;
}

/** Reads a stored secret value of either shape, independently of src/rotation/secret-value.ts. */
export function keyPairOf(value: string | undefined): StoredKeyPair {
  if (value === undefined) throw new Error('keyPairOf: no value');
  const fields = JSON.parse(value) as Record<string, unknown>;
  const shape: Shape = 'AccessKeyId' in fields ? 'standard' : 'legacy';
  const [user, id, secret] =
    shape === 'standard'
      ? ['UserName', 'AccessKeyId', 'SecretAccessKey']
      : ['username', 'accesskey', 'secretkey'];
  const read = (name: string) => {
    const v = fields[name];
    if (typeof v !== 'string') throw new Error(`keyPairOf: field ${name} is missing`);
    return v;
  };
  return { shape, userName: read(user), accessKeyId: read(id), secretAccessKey: read(secret), fields };
}

/** The key pair stored in the version that carries `stage`, if that version has a value. */
export function keyPairAt(sim: SimAccount, secretArn: string, stage: string): StoredKeyPair | undefined {
  const value = sim.valueAt(secretArn, stage);
  return value === undefined ? undefined : keyPairOf(value);
}

/**
 * Who STS says a key pair is: the caller ARN, or the error name STS answered with
 * (InvalidClientTokenId for a deleted, inactive, unknown or not yet propagated key).
 */
export async function whoAmI(sim: SimAccount, key: KeyPair): Promise<string> {
  const sts = new STSClient({ region: sim.region, credentials: key, maxAttempts: 1 });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn ?? 'no ARN';
  } catch (err) {
    return err instanceof Error ? err.name : String(err);
  }
}
