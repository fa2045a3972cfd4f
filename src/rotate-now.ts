import {
  InvalidRequestException,
  ResourceNotFoundException,
  RotateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { clients } from './aws/clients.js';
import { getUser, type IamUser } from './aws/iam.js';
import { withRetry } from './aws/retry.js';
import {
  AWSCURRENT,
  AWSPENDING,
  describeSecret,
  getSecretString,
  type SecretDescription,
} from './aws/secrets.js';
import { clock } from './clock.js';
import {
  BindingError,
  NotEnrolledError,
  RotationEventError,
  RotationInProgressError,
  RotatorError,
} from './errors.js';
import { logger } from './logger.js';
import { parseSecretValue } from './rotation/secret-value.js';
import { SECRET_TAG, USER_TAG } from './tags.js';

/**
 * "Rotate now": starts an immediate rotation of one enrolled user's secret through Secrets Manager
 * (RotateSecret with RotateImmediately), exactly as the console's "Rotate secret immediately" does,
 * so the same rotation function and its guards run. Every check happens before RotateSecret: on
 * any error nothing has changed.
 */

export class RotationNotEnabledError extends RotatorError {
  override name = 'RotationNotEnabledError';
}

export class NotAllowedError extends RotatorError {
  override name = 'NotAllowedError';
}

export class RotationTimeoutError extends RotatorError {
  override name = 'RotationTimeoutError';
}

const request = z
  .object({
    userName: z
      .string({ message: 'userName must be a string' })
      .regex(/^[\w+=,.@-]{1,64}$/, 'userName must be an IAM user name (1-64 of A-Z a-z 0-9 +=,.@_-)')
      .optional(),
    secretId: z
      .string({ message: 'secretId must be a string' })
      .min(1, 'secretId must not be empty')
      .max(2048, 'secretId is too long')
      .optional(),
    wait: z.boolean({ message: 'wait must be true or false' }).optional(),
    timeoutSeconds: z
      .number({ message: 'timeoutSeconds must be a number' })
      .int('timeoutSeconds must be a whole number')
      .min(1, 'timeoutSeconds must be at least 1')
      .max(840, 'timeoutSeconds must be at most 840')
      .optional(),
  })
  .strict()
  .refine((r) => (r.userName === undefined) !== (r.secretId === undefined), {
    message: 'give exactly one of userName or secretId',
  });

export type RotateNowRequest = z.infer<typeof request>;

export function parseRotateNowRequest(input: unknown): RotateNowRequest {
  const parsed = request.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.');
    const what =
      issue?.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue?.message;
    throw new RotationEventError(
      `invalid rotate-now request: ${field ? `${field}: ` : ''}${what ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

export interface RotateNowResult {
  userName: string;
  secretArn: string;
  /** The new version's id (the rotation's ClientRequestToken). */
  versionId: string;
  status: 'started' | 'completed';
  /** With wait: the key id now in AWSCURRENT (never the secret). */
  accessKeyId?: string | undefined;
  previousAccessKeyId?: string | undefined;
}

export interface BoundTarget {
  userName: string;
  userArn: string;
  secret: SecretDescription;
}

/** Finds the secret bound to the user (or the user bound to the secret) and checks the binding both ways. */
export async function resolveBoundTarget(req: {
  userName?: string;
  secretId?: string;
}): Promise<BoundTarget> {
  let secretId = req.secretId;
  let named: IamUser | undefined;
  if (req.userName !== undefined) {
    named = await getUser(req.userName);
    const user = named;
    if (!user) throw new NotEnrolledError(`IAM user ${req.userName} does not exist`);
    secretId = user.tags[SECRET_TAG];
    if (!secretId) {
      throw new NotEnrolledError(
        `user ${req.userName} is not enrolled: it has no ${SECRET_TAG} tag (enroll it with: iam-key-rotator enroll ${req.userName} --owner <email>)`,
      );
    }
  }
  let secret: SecretDescription;
  try {
    secret = await describeSecret(secretId as string);
  } catch (err) {
    if (err instanceof ResourceNotFoundException) {
      throw new NotEnrolledError(`secret ${secretId} does not exist`, { cause: err });
    }
    throw err;
  }
  if (secret.deletedDate) throw new NotEnrolledError(`secret ${secret.arn} is scheduled for deletion`);
  const taggedUser = secret.tags[USER_TAG];
  if (!taggedUser) {
    throw new NotEnrolledError(`secret ${secret.arn} is not bound to a user: it has no ${USER_TAG} tag`);
  }
  if (req.userName !== undefined && taggedUser !== req.userName) {
    throw new BindingError(
      `user ${req.userName} names secret ${secret.arn}, but that secret is bound to user ${taggedUser}`,
    );
  }
  const user = named ?? (await getUser(taggedUser));
  if (!user)
    throw new BindingError(`secret ${secret.arn} is bound to user ${taggedUser}, which does not exist`);
  if (user.tags[SECRET_TAG] !== secret.arn) {
    throw new BindingError(
      `secret ${secret.arn} names user ${taggedUser}, but the user's ${SECRET_TAG} tag is ${user.tags[SECRET_TAG] ? `"${user.tags[SECRET_TAG]}"` : 'missing'}`,
    );
  }
  return { userName: taggedUser, userArn: user.arn, secret };
}

const pendingVersion = (versions: Record<string, string[]>): string | undefined =>
  Object.entries(versions).find(([, s]) => s.includes(AWSPENDING) && !s.includes(AWSCURRENT))?.[0];

const keyIdAt = async (secretArn: string, selector: { versionId?: string; stage?: string }) => {
  const value = await getSecretString(secretArn, selector);
  if (value === undefined) return undefined;
  try {
    return parseSecretValue(value).accessKeyId;
  } catch {
    return undefined;
  }
};

const inProgress = (arn: string, versionId: string | undefined) =>
  new RotationInProgressError(
    `a previous rotation of ${arn}${versionId ? ` (version ${versionId})` : ''} is still in progress; wait for it to finish and try again. If it is stuck, the next audit clears it, or remove the label by hand: aws secretsmanager update-secret-version-stage --secret-id ${arn} --version-stage AWSPENDING --remove-from-version-id ${versionId ?? '<version>'}`,
  );

/** Starts the rotation; with `wait`, follows it until AWSCURRENT moves (or the time runs out). */
export async function rotateNow(input: unknown): Promise<RotateNowResult> {
  const req = parseRotateNowRequest(input);
  const target = await resolveBoundTarget(req);
  const { secret } = target;
  if (!secret.rotationEnabled || !secret.rotationLambdaArn) {
    throw new RotationNotEnabledError(
      `rotation is not enabled for secret ${secret.arn}; enroll user ${target.userName} again to attach the rotation function`,
    );
  }
  const pending = pendingVersion(secret.versions);
  if (pending) throw inProgress(secret.arn, pending);

  const previousAccessKeyId = req.wait ? await keyIdAt(secret.arn, { stage: AWSCURRENT }) : undefined;
  let versionId: string;
  try {
    const out = await withRetry(() =>
      clients().sm.send(new RotateSecretCommand({ SecretId: secret.arn, RotateImmediately: true })),
    );
    versionId = out.VersionId ?? '';
  } catch (err) {
    if (err instanceof InvalidRequestException && /previous rotation isn't complete/i.test(err.message)) {
      // Someone else started one between our check and the call.
      throw inProgress(secret.arn, undefined);
    }
    if (err instanceof Error && /AccessDenied/i.test(err.name)) {
      throw new NotAllowedError(`not allowed to rotate ${secret.arn}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  logger.info('Rotation started', { userName: target.userName, secretArn: secret.arn, versionId });
  const result: RotateNowResult = {
    userName: target.userName,
    secretArn: secret.arn,
    versionId,
    status: 'started',
  };
  if (!req.wait) return result;

  const deadline = clock().now().getTime() + (req.timeoutSeconds ?? 280) * 1000;
  for (;;) {
    const now = await describeSecret(secret.arn);
    if (now.versions[versionId]?.includes(AWSCURRENT)) {
      return {
        ...result,
        status: 'completed',
        accessKeyId: await keyIdAt(secret.arn, { versionId }),
        previousAccessKeyId,
      };
    }
    if (clock().now().getTime() >= deadline) {
      throw new RotationTimeoutError(
        `rotation ${versionId} of ${secret.arn} has not completed after ${req.timeoutSeconds ?? 280} s; Secrets Manager may still be retrying it: see the rotation function's logs`,
      );
    }
    await clock().sleep(2_000);
  }
}
