import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { config } from '../src/config.js';
import { logger } from '../src/logger.js';
import { rotate } from '../src/rotation/index.js';

/**
 * The Secrets Manager rotation function. Settings are validated at cold start, so a bad variable
 * fails the Lambda's init with an error naming it instead of failing every rotation later.
 */
config();

export { rotate };

/** Undecorated handler: one rotation step; resolves to nothing (the result is ignored by Secrets Manager). */
export async function rotationHandler(event: unknown): Promise<void> {
  await rotate(event);
}

export const handler = middy(rotationHandler).use(injectLambdaContext(logger, { resetKeys: true }));
