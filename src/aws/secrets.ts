import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { SecretFormatError } from '../errors.js';
import { clients } from './clients.js';
import { withRetry } from './retry.js';

/**
 * Small functions over Secrets Manager for the rotation function, the audit and enrollment.
 * Every call goes through withRetry. Nothing here logs; getSecretString returns secret material
 * that callers must not log.
 */

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export interface SecretDescription {
  arn: string;
  name: string;
  rotationEnabled: boolean;
  rotationLambdaArn: string | undefined;
  rotationDays: number | undefined;
  lastRotatedDate: Date | undefined;
  nextRotationDate: Date | undefined;
  lastChangedDate: Date | undefined;
  createdDate: Date | undefined;
  /** Set when the secret is scheduled for deletion. */
  deletedDate: Date | undefined;
  tags: Record<string, string>;
  /** Version id → staging labels, as DescribeSecret's VersionIdsToStages. */
  versions: Record<string, string[]>;
}

/** DescribeSecret, normalised. `secretId` may be the name or the ARN. Throws ResourceNotFoundException. */
export async function describeSecret(
  secretId: string,
  sm: SecretsManagerClient = clients().sm,
): Promise<SecretDescription> {
  const out = await withRetry(() => sm.send(new DescribeSecretCommand({ SecretId: secretId })));
  const tags: Record<string, string> = {};
  for (const tag of out.Tags ?? []) {
    if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  }
  const versions: Record<string, string[]> = {};
  for (const [id, stages] of Object.entries(out.VersionIdsToStages ?? {})) versions[id] = [...(stages ?? [])];
  return {
    arn: out.ARN ?? secretId,
    name: out.Name ?? secretId,
    rotationEnabled: out.RotationEnabled === true,
    rotationLambdaArn: out.RotationLambdaARN,
    rotationDays: out.RotationRules?.AutomaticallyAfterDays,
    lastRotatedDate: out.LastRotatedDate,
    nextRotationDate: out.NextRotationDate,
    lastChangedDate: out.LastChangedDate,
    createdDate: out.CreatedDate,
    deletedDate: out.DeletedDate,
    tags,
    versions,
  };
}

/** The version id that carries `stage`, if any (a staging label is on at most one version). */
export function versionWithStage(
  versions: Record<string, readonly string[]>,
  stage: string,
): string | undefined {
  for (const [id, stages] of Object.entries(versions)) {
    if (stages.includes(stage)) return id;
  }
  return undefined;
}

export interface VersionSelector {
  versionId?: string | undefined;
  /** Defaults to AWSCURRENT on Secrets Manager's side when neither field is given. */
  stage?: string | undefined;
}

/**
 * The SecretString of one version, or undefined when Secrets Manager has no such value
 * (ResourceNotFoundException: unknown secret, or a version such as a fresh AWSPENDING that has no
 * value yet). A binary-only secret is a SecretFormatError.
 */
export async function getSecretString(
  secretId: string,
  selector: VersionSelector = {},
  sm: SecretsManagerClient = clients().sm,
): Promise<string | undefined> {
  try {
    const out = await withRetry(() =>
      sm.send(
        new GetSecretValueCommand({
          SecretId: secretId,
          ...(selector.versionId === undefined ? {} : { VersionId: selector.versionId }),
          ...(selector.stage === undefined ? {} : { VersionStage: selector.stage }),
        }),
      ),
    );
    if (out.SecretString === undefined) {
      throw new SecretFormatError(`secret ${out.ARN ?? secretId} holds binary data, not a JSON string`);
    }
    return out.SecretString;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

export interface PutSecretValueInput {
  /** ClientRequestToken: the new version's id (the rotation's token). */
  token: string;
  secretString: string;
  /** Defaults to AWSCURRENT on Secrets Manager's side. */
  stages?: string[];
  /** The RotationToken of the rotation event (cross-account or assumed-role rotation). Never logged. */
  rotationToken?: string | undefined;
}

/**
 * PutSecretValue. Idempotent as Secrets Manager makes it: the same token and the same value again
 * is a no-op; the same token with another value fails with ResourceExistsException.
 */
export async function putSecretValue(
  secretId: string,
  input: PutSecretValueInput,
  sm: SecretsManagerClient = clients().sm,
): Promise<{ versionId: string }> {
  const out = await withRetry(() =>
    sm.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: input.token,
        SecretString: input.secretString,
        ...(input.stages === undefined ? {} : { VersionStages: input.stages }),
        ...(input.rotationToken === undefined ? {} : { RotationToken: input.rotationToken }),
      }),
    ),
  );
  return { versionId: out.VersionId ?? input.token };
}

/**
 * Moves a staging label to `moveTo`, removing it from `removeFrom` (required by Secrets Manager
 * when the label is on another version). Moving AWSCURRENT makes the old version AWSPREVIOUS.
 */
export async function moveStage(
  secretId: string,
  stage: string,
  versions: { moveTo: string; removeFrom?: string | undefined },
  sm: SecretsManagerClient = clients().sm,
): Promise<void> {
  await withRetry(() =>
    sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: stage,
        MoveToVersionId: versions.moveTo,
        ...(versions.removeFrom === undefined ? {} : { RemoveFromVersionId: versions.removeFrom }),
      }),
    ),
  );
}
