import { type Config, config as loadedConfig } from '../config.js';
import { messageOf, RotationEventError } from '../errors.js';
import { logger } from '../logger.js';
import { createSecret } from './create.js';
import { parseRotationEvent } from './event.js';
import { finishSecret } from './finish.js';
import { guard, type RotationContext } from './guard.js';
import { setSecret } from './set.js';
import { testSecret } from './test.js';

export type { RotationEvent, RotationStep } from './event.js';

export interface RotateOptions {
  /** Settings to use instead of the process's (tests, the CLI). */
  config?: Config;
}

function runStep(ctx: RotationContext): Promise<void> {
  switch (ctx.step) {
    case 'createSecret':
      return createSecret(ctx);
    case 'setSecret':
      return setSecret(ctx);
    case 'testSecret':
      return testSecret(ctx);
    case 'finishSecret':
      return finishSecret(ctx);
    default: {
      const unknown: never = ctx.step;
      throw new RotationEventError(`unknown rotation step ${String(unknown)}`);
    }
  }
}

/**
 * Runs one rotation step for Secrets Manager. Errors propagate: Secrets Manager must see the
 * failure to retry the rotation (and, after its last attempt, leave it visibly stuck).
 */
export async function rotate(event: unknown, options: RotateOptions = {}): Promise<void> {
  let keys: string[] = [];
  try {
    const parsed = parseRotationEvent(event);
    logger.appendKeys({ step: parsed.Step, secretId: parsed.SecretId });
    keys = ['step', 'secretId'];
    const ctx = await guard(parsed, options.config ?? loadedConfig());
    if (ctx === 'done') return;
    await runStep(ctx);
    logger.info('rotation step completed', { versionId: ctx.token });
  } catch (err) {
    // The message only: our errors never carry secrets, and the event (with its RotationToken) is not logged.
    logger.error('rotation step failed', { error: messageOf(err) });
    throw err;
  } finally {
    if (keys.length > 0) logger.removeKeys(keys);
  }
}
