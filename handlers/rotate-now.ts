import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { config } from '../src/config.js';
import { logger } from '../src/logger.js';
import { type RotateNowResult, rotateNow } from '../src/rotate-now.js';

/** Settings are validated at cold start: a bad variable fails init with an error naming it. */
config();

/**
 * Direct invoke: `{ "userName": "ci-deployer" }` or `{ "secretId": "iam-key-rotator/ci-deployer" }`,
 * optionally `"wait": true` to return only once the new key is AWSCURRENT (its id, never its secret).
 */
export async function rotateNowHandler(event: unknown): Promise<RotateNowResult> {
  return rotateNow(event);
}

export const handler = middy(rotateNowHandler).use(injectLambdaContext(logger, { resetKeys: true }));
