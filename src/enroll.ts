import { TagUserCommand, UntagUserCommand } from '@aws-sdk/client-iam';
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  ResourceNotFoundException,
  RotateSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import { isValidEmail } from './audit/classify.js';
import { clients } from './aws/clients.js';
import { createAccessKey, deleteAccessKey, getUser, listAccessKeys } from './aws/iam.js';
import { withRetry } from './aws/retry.js';
import { AWSCURRENT, describeSecret, getSecretString, type SecretDescription } from './aws/secrets.js';
import type { Config } from './config.js';
import { BindingError, messageOf, NotEnrolledError, RotatorError } from './errors.js';
import { logger } from './logger.js';
import { UnknownUserError } from './rotate-now.js';
import { parseSecretValue, type SecretShape } from './rotation/secret-value.js';
import { IAM_USER_NAME, IAM_USER_NAME_RULE, SECRET_TAG, USER_TAG } from './tags.js';

/**
 * Enrollment puts one IAM user under management: a secret `<prefix><UserName>` holding a key pair
 * of the user, both binding tags (DESIGN.md, "Binding"), and the rotation function attached with a
 * schedule. Every check runs before the first change, so a refusal changes nothing. If a call fails
 * after the first change: before the secret exists, the new key is deleted again; once the secret
 * holds the new key, nothing is undone (deleting a secret blocks its name for the recovery window)
 * and the error says to run enroll again, which adopts the secret and finishes the binding. Until
 * then the binding is incomplete, so the rotation function refuses to touch the user.
 */

export class EnrollmentError extends RotatorError {
  override name = 'EnrollmentError';
}

/** The request itself is wrong (user name, owner, function ARN, schedule): nothing was looked up. */
export class EnrollInputError extends EnrollmentError {
  override name = 'EnrollInputError';
}

const userName = z
  .string('user name must be a string')
  .check(z.regex(IAM_USER_NAME, `user name must be ${IAM_USER_NAME_RULE}`));

export interface EnrollRequest {
  userName: string;
  /** Owner email, stored in the owner tag (cfg.ownerTagKey). Optional when the user already has one. */
  owner?: string | undefined;
  /** ARN of the deployed rotation function. */
  rotationLambdaArn: string;
  /** Rotation schedule in days (default cfg.rotationScheduleDays). */
  scheduleDays?: number | undefined;
}

export interface EnrollResult {
  userName: string;
  secretArn: string;
  secretName: string;
  /** 'created': a new secret with a fresh key; 'adopted': an existing secret already holding a key of the user. */
  mode: 'created' | 'adopted';
  /** The key id now in AWSCURRENT (never the secret). */
  accessKeyId: string;
  /** The user's other keys, which consumers must stop using. */
  otherKeyIds: string[];
  /** Field names of the key pair in the secret's value ('legacy': username/accesskey/secretkey). */
  shape: SecretShape;
  /** Adopt: the rotation function the secret had before, when it was another one. */
  replacedRotationLambdaArn?: string | undefined;
  owner: string | undefined;
  scheduleDays: number;
  /** What the people who use this user's key must do now. */
  consumers: string;
}

function validate(req: EnrollRequest, cfg: Config): { scheduleDays: number; owner: string | undefined } {
  const parsed = userName.safeParse(req.userName);
  if (!parsed.success) throw new EnrollInputError(parsed.error.issues[0]?.message ?? 'invalid user name');
  const owner = req.owner?.trim().toLowerCase();
  if (owner !== undefined && !isValidEmail(owner)) {
    throw new EnrollInputError(`owner must be an email address (got "${req.owner}")`);
  }
  if (!/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[\w-]{1,64}$/.test(req.rotationLambdaArn)) {
    throw new EnrollInputError(
      `rotation function must be a Lambda function ARN (got "${req.rotationLambdaArn}")`,
    );
  }
  const scheduleDays = req.scheduleDays ?? cfg.rotationScheduleDays;
  if (!Number.isInteger(scheduleDays) || scheduleDays < 1 || scheduleDays > 1000) {
    throw new EnrollInputError(
      `schedule must be a whole number of days from 1 to 1000 (got ${scheduleDays})`,
    );
  }
  return { scheduleDays, owner };
}

async function findSecret(secretId: string): Promise<SecretDescription | undefined> {
  try {
    return await describeSecret(secretId);
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

export async function enroll(req: EnrollRequest, cfg: Config): Promise<EnrollResult> {
  const { scheduleDays, owner: requestedOwner } = validate(req, cfg);
  const { sm } = clients();
  const user = await getUser(req.userName);
  if (!user) throw new UnknownUserError(`IAM user ${req.userName} does not exist`);
  if (!user.path.startsWith(cfg.managedUserPath)) {
    throw new EnrollmentError(
      `user ${user.userName} has path ${user.path}, outside MANAGED_USER_PATH (${cfg.managedUserPath}): the rotation function's role may not change its keys`,
    );
  }
  const owner = requestedOwner ?? user.tags[cfg.ownerTagKey]?.toLowerCase();
  if (owner === undefined) {
    throw new EnrollmentError(
      `user ${user.userName} has no ${cfg.ownerTagKey} tag: give --owner <email> so someone hears about its keys`,
    );
  }
  const secretName = `${cfg.secretPrefix}${user.userName}`;
  const existing = await findSecret(secretName);
  const keys = await listAccessKeys(user.userName);

  const boundTo = user.tags[SECRET_TAG];
  if (boundTo && boundTo !== existing?.arn) {
    throw new BindingError(`user ${user.userName} is already bound to another secret: ${boundTo}`);
  }
  if (existing?.deletedDate) {
    throw new EnrollmentError(
      `secret ${existing.arn} is scheduled for deletion; restore it (aws secretsmanager restore-secret) or wait for the deletion`,
    );
  }
  if (existing && existing.tags[USER_TAG] !== undefined && existing.tags[USER_TAG] !== user.userName) {
    throw new BindingError(`secret ${existing.arn} is bound to another user: ${existing.tags[USER_TAG]}`);
  }

  // Adopt: the secret exists and holds a key of this user; keep the key, add binding and schedule.
  if (existing) {
    const value = await getSecretString(existing.arn, { stage: AWSCURRENT });
    if (value === undefined)
      throw new EnrollmentError(`secret ${existing.arn} has no AWSCURRENT value to adopt`);
    const parsed = parseSecretValue(value);
    if (parsed.userName !== user.userName) {
      throw new BindingError(
        `secret ${existing.arn} holds a key of user ${parsed.userName}, not ${user.userName}`,
      );
    }
    if (!keys.some((k) => k.accessKeyId === parsed.accessKeyId)) {
      throw new EnrollmentError(
        `secret ${existing.arn} holds key ${parsed.accessKeyId}, which user ${user.userName} no longer has; delete the secret or store a current key in it first`,
      );
    }
    await bind(
      user.userName,
      existing.arn,
      owner,
      user.tags[cfg.ownerTagKey],
      cfg,
      req.rotationLambdaArn,
      scheduleDays,
    );
    const replaced =
      existing.rotationLambdaArn !== undefined && existing.rotationLambdaArn !== req.rotationLambdaArn
        ? existing.rotationLambdaArn
        : undefined;
    return {
      ...report(
        'adopted',
        user.userName,
        existing,
        parsed.accessKeyId,
        keys,
        owner,
        scheduleDays,
        parsed.shape,
      ),
      ...(replaced ? { replacedRotationLambdaArn: replaced } : {}),
    };
  }

  // Create: room for one new key is needed (DESIGN.md invariant 1: never a third key).
  if (keys.length >= 2) {
    throw new EnrollmentError(
      `user ${user.userName} already has two access keys (${keys.map((k) => k.accessKeyId).join(', ')}); delete the one no longer used, then enroll again`,
    );
  }
  const key = await createAccessKey(user.userName);
  let secretArn: string;
  try {
    const out = await withRetry(() =>
      sm.send(
        new CreateSecretCommand({
          Name: secretName,
          Description: `Access key of IAM user ${user.userName}, rotated by iam-key-rotator`,
          SecretString: JSON.stringify({
            UserName: user.userName,
            AccessKeyId: key.accessKeyId,
            SecretAccessKey: key.secretAccessKey,
          }),
          Tags: [{ Key: USER_TAG, Value: user.userName }],
        }),
      ),
    );
    secretArn = out.ARN ?? '';
  } catch (err) {
    // Without the secret nobody can use the new key: remove it so nothing changed.
    await deleteAccessKey(user.userName, key.accessKeyId).catch((cleanup) =>
      logger.error('Could not remove the key created for a failed enrollment', {
        userName: user.userName,
        accessKeyId: key.accessKeyId,
        error: messageOf(cleanup),
      }),
    );
    throw err;
  }
  try {
    await bind(
      user.userName,
      secretArn,
      owner,
      user.tags[cfg.ownerTagKey],
      cfg,
      req.rotationLambdaArn,
      scheduleDays,
    );
  } catch (err) {
    logger.error('Enrollment failed after the secret was created; the secret keeps the new key', {
      userName: user.userName,
      secretArn,
      error: messageOf(err),
    });
    throw new EnrollmentError(
      `enrollment of ${user.userName} stopped after creating secret ${secretArn}: ${messageOf(err)}; run enroll again to finish (it adopts the secret)`,
      { cause: err },
    );
  }
  const created = await describeSecret(secretArn);
  return report('created', user.userName, created, key.accessKeyId, keys, owner, scheduleDays, 'standard');
}

async function bind(
  userName: string,
  secretArn: string,
  owner: string,
  currentOwnerTag: string | undefined,
  cfg: Config,
  rotationLambdaArn: string,
  scheduleDays: number,
): Promise<void> {
  const { iam, sm } = clients();
  await withRetry(() =>
    sm.send(new TagResourceCommand({ SecretId: secretArn, Tags: [{ Key: USER_TAG, Value: userName }] })),
  );
  const tags = [{ Key: SECRET_TAG, Value: secretArn }];
  if (currentOwnerTag?.toLowerCase() !== owner) tags.push({ Key: cfg.ownerTagKey, Value: owner });
  await withRetry(() => iam.send(new TagUserCommand({ UserName: userName, Tags: tags })));
  // Attaches the function and schedule without rotating now: the key was just created.
  await withRetry(() =>
    sm.send(
      new RotateSecretCommand({
        SecretId: secretArn,
        RotationLambdaARN: rotationLambdaArn,
        RotationRules: { AutomaticallyAfterDays: scheduleDays },
        RotateImmediately: false,
      }),
    ),
  );
  logger.info('User enrolled', { userName, secretArn, scheduleDays });
}

function report(
  mode: EnrollResult['mode'],
  userName: string,
  secret: SecretDescription,
  accessKeyId: string,
  keys: readonly { accessKeyId: string }[],
  owner: string,
  scheduleDays: number,
  shape: SecretShape,
): EnrollResult {
  const fields = shape === 'legacy' ? 'accesskey and secretkey' : 'AccessKeyId and SecretAccessKey';
  const otherKeyIds = keys.map((k) => k.accessKeyId).filter((id) => id !== accessKeyId);
  const others = otherKeyIds.length
    ? ` Stop using ${otherKeyIds.join(' and ')}: the audit deactivates ${otherKeyIds.length === 1 ? 'it' : 'them'} once the grace period after this key's creation has passed.`
    : '';
  return {
    userName,
    secretArn: secret.arn,
    secretName: secret.name,
    mode,
    accessKeyId,
    otherKeyIds,
    shape,
    owner,
    scheduleDays,
    consumers: `Consumers of user ${userName} must read the key from secret ${secret.name} (fields ${fields}, stage AWSCURRENT) on every start or credential refresh, never copy it.${others}`,
  };
}

export interface UnenrollResult {
  userName: string;
  secretArn: string;
  /** Key ids left in place (unenroll never touches keys). */
  keptKeyIds: string[];
}

/** Removes the binding and the schedule; keeps the secret and every key. */
export async function unenroll(name: string, cfg: Config): Promise<UnenrollResult> {
  const parsed = userName.safeParse(name);
  if (!parsed.success) throw new EnrollInputError(parsed.error.issues[0]?.message ?? 'invalid user name');
  const { iam, sm } = clients();
  const user = await getUser(name);
  if (!user) throw new UnknownUserError(`IAM user ${name} does not exist`);
  const secretArn = user.tags[SECRET_TAG] ?? (await findSecret(`${cfg.secretPrefix}${name}`))?.arn;
  if (!secretArn)
    throw new NotEnrolledError(
      `user ${name} is not enrolled: no ${SECRET_TAG} tag and no secret ${cfg.secretPrefix}${name}`,
    );
  const secret = await findSecret(secretArn);
  const keys = await listAccessKeys(name);
  if (secret) {
    if (secret.tags[USER_TAG] !== undefined && secret.tags[USER_TAG] !== name) {
      throw new BindingError(
        `secret ${secret.arn} is bound to user ${secret.tags[USER_TAG]}, not ${name}; nothing changed`,
      );
    }
    if (secret.rotationEnabled) {
      await withRetry(() => sm.send(new CancelRotateSecretCommand({ SecretId: secret.arn })));
    }
    if (secret.tags[USER_TAG] !== undefined) {
      await withRetry(() => sm.send(new UntagResourceCommand({ SecretId: secret.arn, TagKeys: [USER_TAG] })));
    }
  }
  if (user.tags[SECRET_TAG] !== undefined) {
    await withRetry(() => iam.send(new UntagUserCommand({ UserName: name, TagKeys: [SECRET_TAG] })));
  }
  logger.info('User unenrolled', { userName: name, secretArn });
  return { userName: name, secretArn: secret?.arn ?? secretArn, keptKeyIds: keys.map((k) => k.accessKeyId) };
}
