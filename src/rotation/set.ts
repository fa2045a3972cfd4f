import { listAccessKeys } from '../aws/iam.js';
import { RotatorError } from '../errors.js';
import { logger } from '../logger.js';
import { type RotationContext, readTokenValue } from './guard.js';

/**
 * setSecret: for an IAM key there is nothing to set in a downstream system (IAM created the key
 * in createSecret), so this step confirms the pending key still exists and is active. It never
 * reactivates a key: someone deactivated it on purpose.
 */
export async function setSecret(ctx: RotationContext): Promise<void> {
  const pending = await readTokenValue(ctx);
  const keys = await listAccessKeys(ctx.userName);
  const key = keys.find((k) => k.accessKeyId === pending.accessKeyId);
  if (key === undefined) {
    throw new RotatorError(
      `pending key ${pending.accessKeyId} in version ${ctx.token} of secret ${ctx.secretArn} does not exist ` +
        `for user ${ctx.userName}; remove the AWSPENDING label from that version and rotate again`,
    );
  }
  if (key.status !== 'Active') {
    throw new RotatorError(
      `pending key ${pending.accessKeyId} of user ${ctx.userName} is ${key.status}; the rotator does not ` +
        'reactivate keys: remove the AWSPENDING label from that version and rotate again',
    );
  }
  logger.info('pending key exists and is active', { accessKeyId: pending.accessKeyId });
}
