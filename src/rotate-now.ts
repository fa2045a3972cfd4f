import {
  InvalidRequestException,
  ResourceNotFoundException,
  RotateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import { clients } from './aws/clients.js';
import { getUser, type IamUser, listAccessKeys } from './aws/iam.js';
import { withRetry } from './aws/retry.js';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  describeSecret,
  getSecretString,
  type SecretDescription,
  versionWithStage,
} from './aws/secrets.js';
import { clock } from './clock.js';
import {
  BindingError,
  KeyInUseError,
  messageOf,
  NotEnrolledError,
  RotationEventError,
  RotationInProgressError,
  RotatorError,
} from './errors.js';
import { logger } from './logger.js';
import { type Blocker, roomForNewKey } from './rotation/room.js';
import { parseSecretValue } from './rotation/secret-value.js';
import { IAM_USER_NAME, IAM_USER_NAME_RULE, SECRET_TAG, USER_TAG } from './tags.js';

/**
 * "Rotate now": starts an immediate rotation of one enrolled user's secret through Secrets Manager
 * (RotateSecret with RotateImmediately), exactly as the console's "Rotate secret immediately" and
 * `aws secretsmanager rotate-secret` do, so the same rotation function and its guards run.
 *
 * Every check happens before RotateSecret, so on any error nothing has changed. That includes the
 * checks the rotation function would fail on (the binding, the secret's value, room for a new key):
 * a rotation that fails inside Secrets Manager leaves AWSPENDING behind, which blocks every later
 * rotation until it is cleared.
 */

/** The IAM user named by the caller does not exist. */
export class UnknownUserError extends NotEnrolledError {
  override name = 'UnknownUserError';
}

export class RotationNotEnabledError extends RotatorError {
  override name = 'RotationNotEnabledError';
}

/** AWS refused one of the calls (AccessDenied): the caller's role lacks a permission. */
export class NotAllowedError extends RotatorError {
  override name = 'NotAllowedError';
}

/** `wait`: AWSCURRENT did not move within the time allowed. The rotation may still finish. */
export class RotationTimeoutError extends RotatorError {
  override name = 'RotationTimeoutError';
}

/** `wait`: the rotation's version stopped being AWSPENDING without becoming AWSCURRENT. */
export class RotationFailedError extends RotatorError {
  override name = 'RotationFailedError';
}

/** Default `wait` budget: below the rotate-now Lambda's 300 s timeout. */
export const DEFAULT_WAIT_SECONDS = 280;
const POLL_MS = 2_000;

const request = z
  .strictObject({
    userName: z.optional(
      z
        .string('userName must be a string')
        .check(z.regex(IAM_USER_NAME, `userName must be ${IAM_USER_NAME_RULE}`)),
    ),
    secretId: z.optional(
      z
        .string('secretId must be a string')
        .check(z.minLength(1, 'secretId must not be empty'), z.maxLength(2048, 'secretId is too long')),
    ),
    wait: z.optional(z.boolean('wait must be true or false')),
    timeoutSeconds: z.optional(
      z
        .number('timeoutSeconds must be a number')
        .check(
          z.refine(Number.isInteger, 'timeoutSeconds must be a whole number'),
          z.minimum(1, 'timeoutSeconds must be at least 1'),
          z.maximum(840, 'timeoutSeconds must be at most 840'),
        ),
    ),
  })
  .check(
    z.refine(
      (r) => (r.userName === undefined) !== (r.secretId === undefined),
      'give exactly one of userName or secretId',
    ),
  );

export type RotateNowRequest = z.infer<typeof request>;

/** Validates a direct invoke's event; a bad one is a RotationEventError naming the field. */
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
  /** 'started': Secrets Manager accepted the rotation; 'completed' (wait): AWSCURRENT moved to it. */
  status: 'started' | 'completed';
  /** With wait: the key id now in AWSCURRENT (never the secret). */
  accessKeyId?: string | undefined;
  /** The key id that was AWSCURRENT before (now AWSPREVIOUS, active for the grace period). */
  previousAccessKeyId?: string | undefined;
}

export interface BoundTarget {
  userName: string;
  userArn: string;
  secret: SecretDescription;
}

const isAccessDenied = (err: unknown): err is Error =>
  err instanceof Error && /^AccessDenied(Exception)?$|^UnauthorizedOperation$/.test(err.name);

/** Runs an AWS call; an AccessDenied answer becomes a NotAllowedError saying what was refused. */
async function allowed<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isAccessDenied(err)) {
      throw new NotAllowedError(`not allowed to ${what}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Finds the secret bound to the user (or the user bound to the secret) and checks the binding both ways. */
export async function resolveBoundTarget(req: {
  userName?: string | undefined;
  secretId?: string | undefined;
}): Promise<BoundTarget> {
  let secretId = req.secretId;
  let named: IamUser | undefined;
  if (req.userName !== undefined) {
    const name = req.userName;
    named = await allowed(`read IAM user ${name}`, () => getUser(name));
    if (!named) throw new UnknownUserError(`IAM user ${name} does not exist`);
    secretId = named.tags[SECRET_TAG];
    if (!secretId) {
      throw new NotEnrolledError(
        `user ${name} is not enrolled: it has no ${SECRET_TAG} tag (enroll it with: iam-key-rotator enroll ${name} --owner <email>)`,
      );
    }
  }
  const id = secretId as string;
  let secret: SecretDescription;
  try {
    secret = await allowed(`describe secret ${id}`, () => describeSecret(id));
  } catch (err) {
    if (err instanceof ResourceNotFoundException) {
      throw new NotEnrolledError(
        req.userName === undefined
          ? `secret ${id} does not exist`
          : `user ${req.userName} is not enrolled: its ${SECRET_TAG} tag names secret ${id}, which does not exist (enroll it again)`,
        { cause: err },
      );
    }
    throw err;
  }
  if (secret.deletedDate) {
    throw new NotEnrolledError(
      `secret ${secret.arn} is scheduled for deletion; restore it (aws secretsmanager restore-secret) or enroll the user again`,
    );
  }
  const taggedUser = secret.tags[USER_TAG];
  if (!taggedUser) {
    throw new NotEnrolledError(`secret ${secret.arn} is not bound to a user: it has no ${USER_TAG} tag`);
  }
  if (req.userName !== undefined && taggedUser !== req.userName) {
    throw new BindingError(
      `user ${req.userName} names secret ${secret.arn}, but that secret is bound to user ${taggedUser}`,
    );
  }
  const user = named ?? (await allowed(`read IAM user ${taggedUser}`, () => getUser(taggedUser)));
  if (!user) {
    throw new BindingError(`secret ${secret.arn} is bound to user ${taggedUser}, which does not exist`);
  }
  if (user.tags[SECRET_TAG] !== secret.arn) {
    const tag = user.tags[SECRET_TAG];
    throw new BindingError(
      `secret ${secret.arn} names user ${taggedUser}, but the user's ${SECRET_TAG} tag is ${tag ? `"${tag}"` : 'missing'}`,
    );
  }
  return { userName: taggedUser, userArn: user.arn, secret };
}

const pendingVersion = (versions: Record<string, string[]>): string | undefined =>
  Object.entries(versions).find(([, s]) => s.includes(AWSPENDING) && !s.includes(AWSCURRENT))?.[0];

/** The key id in one version, or undefined when it has no value or does not parse. */
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

/**
 * What the rotation function's guard and createSecret would refuse, checked before anything starts:
 * the AWSCURRENT value must be a key pair of the bound user, and the user must have room for a new
 * key (a second key may only be replaced when it is inactive, the secret's AWSPREVIOUS, or never
 * used: DESIGN.md invariant 5). Returns the AWSCURRENT key id.
 */
async function preflight(target: BoundTarget): Promise<string> {
  const { secret, userName } = target;
  const currentString = await allowed(`read secret ${secret.arn}`, () =>
    getSecretString(secret.arn, { stage: AWSCURRENT }),
  );
  if (currentString === undefined) {
    throw new RotatorError(
      `secret ${secret.arn} has no AWSCURRENT value to rotate; enroll ${userName} again`,
    );
  }
  const current = parseSecretValue(currentString);
  if (current.userName !== userName) {
    throw new BindingError(
      `secret ${secret.arn} is bound to user ${userName} but its value holds a key of user ${current.userName}`,
    );
  }

  let keys: Awaited<ReturnType<typeof listAccessKeys>>;
  try {
    keys = await listAccessKeys(userName);
  } catch (err) {
    // A role without iam:ListAccessKeys still rotates; the rotation function then does this check.
    if (isAccessDenied(err)) {
      logger.warn('Cannot list access keys; room for a new key is left to the rotation function', {
        userName,
        error: messageOf(err),
      });
      return current.accessKeyId;
    }
    throw err;
  }
  let blocker: Blocker | undefined;
  try {
    ({ blocker } = await roomForNewKey(keys, current.accessKeyId, async () => {
      const version = versionWithStage(secret.versions, AWSPREVIOUS);
      return version ? keyIdAt(secret.arn, { versionId: version, stage: AWSPREVIOUS }) : undefined;
    }));
  } catch (err) {
    // A role without iam:GetAccessKeyLastUsed still rotates; the rotation function then decides.
    if (isAccessDenied(err)) return current.accessKeyId;
    throw err;
  }
  if (blocker) {
    throw new KeyInUseError(
      `user ${userName} has a second active key ${blocker.key.accessKeyId}, last used ${blocker.lastUsed.toISOString()}, that secret ${secret.arn} does not manage; a rotation would have to delete it to make room, and the rotator never deletes a key in use. Nothing changed. Move its users to the secret, deactivate it (aws iam update-access-key --user-name ${userName} --access-key-id ${blocker.key.accessKeyId} --status Inactive; the audit does this once the grace period after enrollment has passed), then rotate again`,
    );
  }
  return current.accessKeyId;
}

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
  const previousAccessKeyId = await preflight(target);

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
    if (isAccessDenied(err)) {
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
    previousAccessKeyId,
  };
  if (!req.wait) return result;

  const budget = req.timeoutSeconds ?? DEFAULT_WAIT_SECONDS;
  const deadline = clock().now().getTime() + budget * 1000;
  for (;;) {
    const now = await describeSecret(secret.arn);
    const stages = now.versions[versionId] ?? [];
    if (stages.includes(AWSCURRENT)) {
      return {
        ...result,
        status: 'completed',
        accessKeyId: await keyIdAt(secret.arn, { versionId }),
      };
    }
    if (!stages.includes(AWSPENDING)) {
      throw new RotationFailedError(
        `rotation ${versionId} of ${secret.arn} ended without making the new version AWSCURRENT (its AWSPENDING label was removed); see the rotation function's logs`,
      );
    }
    if (clock().now().getTime() >= deadline) {
      throw new RotationTimeoutError(
        `rotation ${versionId} of ${secret.arn} has not completed after ${budget} s; Secrets Manager may still be retrying it. See the rotation function's logs; if it stays stuck, the next audit clears it`,
      );
    }
    await clock().sleep(POLL_MS);
  }
}
