import {
  type AccessKeyInfo,
  AccessKeyLimitError,
  createAccessKey,
  deleteAccessKey,
  listAccessKeys,
} from '../aws/iam.js';
import {
  AWSPENDING,
  AWSPREVIOUS,
  getSecretString,
  putSecretValue,
  versionWithStage,
} from '../aws/secrets.js';
import { publish } from '../aws/sns.js';
import { KeyInUseError, messageOf } from '../errors.js';
import { logger } from '../logger.js';
import type { RotationContext } from './guard.js';
import { type Blocker, roomForNewKey } from './room.js';
import { parseSecretValue, withKey } from './secret-value.js';

/**
 * createSecret: store a new key pair as AWSPENDING under the rotation's token.
 *
 * Secrets Manager retries whole rotations with the same token, so this step starts by looking for
 * its own earlier result. A crash after CreateAccessKey and before PutSecretValue leaves a key
 * that nothing refers to; the retry finds it next to the AWSCURRENT key, never used, and deletes
 * it before creating the replacement, so no orphan survives.
 */
export async function createSecret(ctx: RotationContext): Promise<void> {
  const existing = await getSecretString(ctx.secretArn, { versionId: ctx.token, stage: AWSPENDING });
  if (existing !== undefined) {
    logger.info('pending value already stored', { versionId: ctx.token });
    return;
  }

  const keys = await listAccessKeys(ctx.userName);
  const currentId = ctx.current.accessKeyId;
  if (!keys.some((k) => k.accessKeyId === currentId)) {
    logger.warn('AWSCURRENT key is not among the user\u2019s access keys', {
      userName: ctx.userName,
      currentKeyId: currentId,
      keyIds: keys.map((k) => k.accessKeyId),
    });
  }
  await makeRoom(ctx, keys);

  let created: Awaited<ReturnType<typeof createAccessKey>>;
  try {
    created = await createAccessKey(ctx.userName);
  } catch (err) {
    if (err instanceof AccessKeyLimitError) {
      throw new AccessKeyLimitError(
        `cannot create a new access key for user ${ctx.userName}: IAM says the user already has two ` +
          '(a key was added after this step made room); nothing was deleted and the call was not ' +
          'retried. Secrets Manager will retry the rotation.',
        { cause: err },
      );
    }
    throw err;
  }
  logger.info('access key created', { userName: ctx.userName, accessKeyId: created.accessKeyId });

  // No clean-up if this fails: PutSecretValue may have succeeded with its answer lost, and deleting
  // the key would leave AWSPENDING pointing at nothing. The retry removes the key if it is unused.
  await putSecretValue(ctx.secretArn, {
    token: ctx.token,
    secretString: withKey(ctx.current, created.accessKeyId, created.secretAccessKey),
    stages: [AWSPENDING],
    rotationToken: ctx.rotationToken,
  });
  logger.info('pending value stored', { versionId: ctx.token, accessKeyId: created.accessKeyId });
}

/**
 * Leaves the user at most one key so that a new one fits under IAM's limit of two (invariant 1).
 * Never touches the AWSCURRENT key (invariant 2). Decides everything first and deletes only when
 * enough keys may go, so a refusal changes nothing.
 */
async function makeRoom(ctx: RotationContext, keys: AccessKeyInfo[]): Promise<void> {
  const currentId = ctx.current.accessKeyId;
  const { removable, blocker } = await roomForNewKey(keys, currentId, () => previousKeyId(ctx));
  if (blocker !== undefined) {
    await tellOwnerBlocked(ctx, blocker);
    throw new KeyInUseError(blockedMessage(ctx, blocker));
  }

  for (const { key, reason } of removable) {
    // Belt and braces for invariant 2: `others` already excludes it.
    if (key.accessKeyId === currentId) continue;
    const deleted = await deleteAccessKey(ctx.userName, key.accessKeyId);
    logger.info(deleted ? 'access key deleted to make room' : 'access key to delete was already gone', {
      userName: ctx.userName,
      accessKeyId: key.accessKeyId,
      reason,
    });
  }
}

/** The key id in the AWSPREVIOUS version, if one exists and parses (anything else is tolerated). */
async function previousKeyId(ctx: RotationContext): Promise<string | undefined> {
  const versionId = versionWithStage(ctx.versions, AWSPREVIOUS);
  if (versionId === undefined) return undefined;
  const value = await getSecretString(ctx.secretArn, { versionId, stage: AWSPREVIOUS });
  if (value === undefined) return undefined;
  try {
    return parseSecretValue(value).accessKeyId;
  } catch (err) {
    logger.warn('AWSPREVIOUS value does not parse; its key is treated as unmanaged', {
      previousVersionId: versionId,
      error: messageOf(err),
    });
    return undefined;
  }
}

function blockedMessage(ctx: RotationContext, b: Blocker): string {
  return (
    `user ${ctx.userName} has a second active key ${b.key.accessKeyId} last used ${b.lastUsed.toISOString()} ` +
    `that is not managed by secret ${ctx.secretArn}; delete or deactivate it, then remove AWSPENDING from ` +
    `version ${ctx.token} (the audit does so after STUCK_ROTATION_HOURS) and rotate again`
  );
}

/** One SNS message to the owner (or the security audience when the user has no owner). */
async function tellOwnerBlocked(ctx: RotationContext, b: Blocker): Promise<void> {
  const topicArn = ctx.config.topicArn;
  if (topicArn === undefined) return;
  const attributes: Record<string, string> =
    ctx.ownerEmail === undefined
      ? { audience: 'security', severity: 'action', account: ctx.accountId }
      : { owner: ctx.ownerEmail, severity: 'action', account: ctx.accountId };
  const via = b.service !== undefined && b.service !== 'N/A' ? ` (${b.service})` : '';
  const message = [
    `Rotation of the access key of IAM user ${ctx.userName} in account ${ctx.accountId} is blocked.`,
    '',
    `User:          ${ctx.userName}`,
    `Secret:        ${ctx.secretArn}`,
    `Current key:   ${ctx.current.accessKeyId} (kept, still active)`,
    `Blocking key:  ${b.key.accessKeyId}, ${b.key.status}, last used ${b.lastUsed.toISOString()}${via}`,
    '',
    'IAM allows two access keys per user and a rotation needs room for a new one. The rotator only',
    'removes a key it manages (the secret\u2019s previous key), an inactive key or a key that has never',
    'been used. The key above is active, in use and not managed by the secret, so nothing was',
    'deleted and no new key was created.',
    '',
    'What to do: if the key above is no longer needed, deactivate or delete it:',
    `  aws iam update-access-key --user-name ${ctx.userName} --access-key-id ${b.key.accessKeyId} --status Inactive`,
    // Secrets Manager refuses every new rotation while the refused one still holds AWSPENDING.
    'then clear the refused rotation: Secrets Manager keeps it pending and refuses new rotations until its',
    `AWSPENDING label is removed (the daily audit removes it after ${ctx.config.stuckRotationHours} hours):`,
    `  aws secretsmanager update-secret-version-stage --secret-id ${ctx.secretArn} --version-stage AWSPENDING --remove-from-version-id ${ctx.token}`,
    'and rotate again:',
    `  aws secretsmanager rotate-secret --secret-id ${ctx.secretArn}`,
    ctx.ownerEmail === undefined
      ? '\nThis user has no owner tag, so this message goes to the security team.'
      : '',
  ].join('\n');
  try {
    await publish(topicArn, {
      subject: `Access key rotation blocked for IAM user ${ctx.userName}`,
      message,
      attributes,
    });
    logger.info('owner told that rotation is blocked', { blockingKeyId: b.key.accessKeyId });
  } catch (err) {
    // The rotation fails either way; a lost notification must not hide why.
    logger.warn('could not publish the blocked-rotation notice', { error: messageOf(err) });
  }
}
