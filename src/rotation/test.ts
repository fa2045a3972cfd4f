import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { stsWithKey } from '../aws/clients.js';
import { isThrottling } from '../aws/retry.js';
import { clock } from '../clock.js';
import { VerificationError } from '../errors.js';
import { logger } from '../logger.js';
import { type RotationContext, readTokenValue } from './guard.js';

const FIRST_WAIT_MS = 500;
const MAX_WAIT_MS = 3_000;
/** Each wait grows with the time already spent, so a late success is found soon after it happens. */
const WAIT_GROWTH = 0.15;

/**
 * The wait before the next attempt. A new key becomes valid after a propagation delay D that no
 * API reports. Waiting at most 500 ms + 15 % of the time already spent means the attempt that
 * succeeds comes at most about 0.15·D + 0.5 s after the key became valid (capped at 3 s), which
 * keeps verification within 1.2·D + 1 s, while the number of calls stays small (about 18 for 30 s).
 */
export function nextWaitMs(elapsedMs: number): number {
  return Math.min(MAX_WAIT_MS, Math.round(FIRST_WAIT_MS + WAIT_GROWTH * elapsedMs));
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** Errors that mean "not yet": the key has not propagated (STS has no class for it) or STS is busy. */
function isRetryable(err: unknown): boolean {
  if (errorName(err) === 'InvalidClientTokenId') return true;
  if (isThrottling(err)) return true;
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

/**
 * testSecret: prove the pending key works before it becomes AWSCURRENT (invariant 3). STS
 * GetCallerIdentity signed with the pending key must answer with the bound user's ARN. STS rejects
 * a new key with InvalidClientTokenId for a while after CreateAccessKey, so that is retried with
 * backoff on the service clock until VERIFY_BUDGET_SECONDS have passed. SignatureDoesNotMatch
 * means the stored secret is not the key's: waiting cannot fix that.
 */
export async function testSecret(ctx: RotationContext): Promise<void> {
  const pending = await readTokenValue(ctx);
  const keyId = pending.accessKeyId;
  const sts = stsWithKey(keyId, pending.secretAccessKey);
  const budgetMs = ctx.config.verifyBudgetSeconds * 1000;
  const started = clock().now().getTime();
  const elapsed = () => clock().now().getTime() - started;

  for (let attempts = 1; ; attempts++) {
    let arn: string | undefined;
    try {
      arn = (await sts.send(new GetCallerIdentityCommand({}))).Arn;
    } catch (err) {
      const name = errorName(err);
      if (name === 'SignatureDoesNotMatch') {
        throw new VerificationError(
          `pending key ${keyId} was rejected with SignatureDoesNotMatch: the secret access key stored in ` +
            `version ${ctx.token} of secret ${ctx.secretArn} does not belong to it; not retrying`,
          { cause: err },
        );
      }
      if (!isRetryable(err)) throw err;
      const spent = elapsed();
      if (spent >= budgetMs) {
        logger.warn('pending key verification gave up', { accessKeyId: keyId, attempts, elapsedMs: spent });
        throw new VerificationError(
          `pending key ${keyId} of user ${ctx.userName} did not authenticate within ` +
            `${ctx.config.verifyBudgetSeconds} s (${attempts} attempts, last error ${name}); ` +
            'AWSCURRENT was not moved',
          { cause: err },
        );
      }
      const wait = Math.min(nextWaitMs(spent), budgetMs - spent);
      logger.debug('pending key not accepted yet; retrying', {
        accessKeyId: keyId,
        attempts,
        elapsedMs: spent,
        waitMs: wait,
        error: name,
      });
      await clock().sleep(wait);
      continue;
    }
    if (arn !== ctx.userArn) {
      throw new VerificationError(
        `pending key ${keyId} authenticated as ${arn ?? 'an unknown identity'}, not as the bound user ` +
          `${ctx.userArn}; AWSCURRENT was not moved`,
      );
    }
    logger.info('pending key verified', { accessKeyId: keyId, attempts, elapsedMs: elapsed() });
    return;
  }
}
