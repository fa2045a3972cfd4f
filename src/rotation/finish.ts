import { listAccessKeys, setAccessKeyStatus } from '../aws/iam.js';
import { AWSCURRENT, AWSPREVIOUS, getSecretString, moveStage, versionWithStage } from '../aws/secrets.js';
import { messageOf } from '../errors.js';
import { logger } from '../logger.js';
import { type RotationContext, readTokenValue } from './guard.js';
import { parseSecretValue } from './secret-value.js';

/**
 * finishSecret: move AWSCURRENT to the verified version; Secrets Manager puts AWSPREVIOUS on the
 * version that held it. With ROTATION_GRACE_DAYS=0 the previous key is deactivated now; otherwise
 * it stays active for the grace period and the audit retires it.
 */
export async function finishSecret(ctx: RotationContext): Promise<void> {
  if (ctx.tokenIsCurrent) {
    // Retried after the label moved: the deactivation may not have happened yet.
    await retirePreviousAfterRetry(ctx);
    return;
  }
  // Read by version id: the value is there whatever labels it carries.
  const pending = await readTokenValue(ctx, undefined);
  await moveStage(ctx.secretArn, AWSCURRENT, { moveTo: ctx.token, removeFrom: ctx.currentVersionId });
  logger.info('AWSCURRENT moved to the new version', {
    versionId: ctx.token,
    previousVersionId: ctx.currentVersionId,
    accessKeyId: pending.accessKeyId,
    previousKeyId: ctx.current.accessKeyId,
  });
  if (ctx.config.rotationGraceDays === 0) {
    await deactivatePrevious(ctx, ctx.current.accessKeyId, pending.accessKeyId);
  } else {
    logger.info('previous key left active for the grace period', {
      previousKeyId: ctx.current.accessKeyId,
      graceDays: ctx.config.rotationGraceDays,
    });
  }
}

async function retirePreviousAfterRetry(ctx: RotationContext): Promise<void> {
  const previousVersionId = versionWithStage(ctx.versions, AWSPREVIOUS);
  if (previousVersionId === undefined) return;
  const value = await getSecretString(ctx.secretArn, { versionId: previousVersionId, stage: AWSPREVIOUS });
  if (value === undefined) return;
  let previousKeyId: string;
  try {
    previousKeyId = parseSecretValue(value).accessKeyId;
  } catch (err) {
    logger.warn('AWSPREVIOUS value does not parse; no key to deactivate', { error: messageOf(err) });
    return;
  }
  await deactivatePrevious(ctx, previousKeyId, ctx.current.accessKeyId);
}

/** Deactivates the previous key, never the key that is now AWSCURRENT (invariant 2). */
async function deactivatePrevious(ctx: RotationContext, previousKeyId: string, currentKeyId: string) {
  if (previousKeyId === currentKeyId) return;
  const key = (await listAccessKeys(ctx.userName)).find((k) => k.accessKeyId === previousKeyId);
  if (key === undefined) {
    logger.info('previous key already deleted', { previousKeyId });
    return;
  }
  if (key.status === 'Inactive') {
    logger.info('previous key already inactive', { previousKeyId });
    return;
  }
  const done = await setAccessKeyStatus(ctx.userName, previousKeyId, 'Inactive');
  logger.info(done ? 'previous key deactivated (no grace period)' : 'previous key already deleted', {
    previousKeyId,
  });
}
