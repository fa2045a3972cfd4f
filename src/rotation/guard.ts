import { getUser } from '../aws/iam.js';
import { AWSCURRENT, AWSPENDING, describeSecret, getSecretString, versionWithStage } from '../aws/secrets.js';
import type { Config } from '../config.js';
import { BindingError, RotatorError, SecretFormatError } from '../errors.js';
import { logger } from '../logger.js';
import { SECRET_TAG, USER_TAG } from '../tags.js';
import type { RotationEvent, RotationStep } from './event.js';
import { type ParsedSecret, parseSecretValue } from './secret-value.js';

/**
 * What every step knows once the guard has passed. Holds the AWSCURRENT key pair (`current`):
 * never log this object whole (ParsedSecret redacts itself, but the RotationToken is here too).
 */
export interface RotationContext {
  step: RotationStep;
  secretArn: string;
  secretName: string;
  /** The rotation's ClientRequestToken: the id of the version being rotated in. */
  token: string;
  /** Opaque, sensitive: handed back to PutSecretValue, never logged. */
  rotationToken: string | undefined;
  userName: string;
  userArn: string;
  accountId: string;
  /** The AWSCURRENT value (key pair of the key in use). */
  current: ParsedSecret;
  currentVersionId: string;
  /** Version id → staging labels, read at the start of this invocation. */
  versions: Record<string, string[]>;
  /**
   * True only for a finishSecret retried after AWSCURRENT already moved to the token, with
   * ROTATION_GRACE_DAYS=0: the previous key may still have to be deactivated.
   */
  tokenIsCurrent: boolean;
  config: Config;
  /** Lower-cased owner email from the user's owner tag, if any. */
  ownerEmail: string | undefined;
}

/** The account id in an ARN (arn:partition:service:region:account:resource). */
function accountOf(arn: string): string {
  return arn.split(':')[4] ?? '';
}

/**
 * Checks everything that must hold before any step acts, as the rotation template does, plus the
 * binding of DESIGN.md. Returns 'done' when the token is already AWSCURRENT (a retried step after
 * finishSecret succeeded: nothing left to do). Every refusal is an error that names both sides and
 * happens before anything changes.
 */
export async function guard(event: RotationEvent, config: Config): Promise<RotationContext | 'done'> {
  const token = event.ClientRequestToken;
  const secret = await describeSecret(event.SecretId);
  const arn = secret.arn;
  if (!secret.rotationEnabled) {
    throw new RotatorError(`rotation is not enabled for secret ${arn}`);
  }
  const stages = secret.versions[token];
  if (stages === undefined) {
    throw new RotatorError(`version ${token} is not staged for rotation of secret ${arn}`);
  }
  const tokenIsCurrent = stages.includes(AWSCURRENT);
  if (tokenIsCurrent) {
    if (event.Step !== 'finishSecret' || config.rotationGraceDays > 0) {
      logger.info('version is already AWSCURRENT; nothing to do', { versionId: token });
      return 'done';
    }
    // A finishSecret retried after the label moved but before the old key was deactivated: go on.
  } else if (!stages.includes(AWSPENDING)) {
    throw new RotatorError(
      `version ${token} of secret ${arn} is not AWSPENDING (stages: ${stages.join(', ') || 'none'}); ` +
        'it is not the version being rotated in',
    );
  }

  const currentVersionId = versionWithStage(secret.versions, AWSCURRENT);
  const currentString =
    currentVersionId === undefined
      ? undefined
      : await getSecretString(arn, { versionId: currentVersionId, stage: AWSCURRENT });
  if (currentVersionId === undefined || currentString === undefined) {
    throw new RotatorError(`secret ${arn} has no AWSCURRENT value to rotate`);
  }
  const current = parseVersion(currentString, `AWSCURRENT value of secret ${arn}`);
  const userName = current.userName;

  const taggedUser = secret.tags[USER_TAG];
  if (taggedUser === undefined) {
    throw new BindingError(
      `secret ${arn} has no tag ${USER_TAG}, so it is not bound to user ${userName} named in its value; ` +
        'nothing was changed',
    );
  }
  if (taggedUser !== userName) {
    throw new BindingError(
      `secret ${arn} is tagged ${USER_TAG}=${taggedUser} but its value is for user ${userName}; ` +
        'nothing was changed',
    );
  }
  const user = await getUser(userName);
  if (user === undefined) {
    throw new BindingError(`user ${userName} does not exist (named by secret ${arn}); nothing was changed`);
  }
  const taggedSecret = user.tags[SECRET_TAG];
  if (taggedSecret === undefined) {
    throw new BindingError(
      `user ${userName} has no tag ${SECRET_TAG}, so it is not bound to secret ${arn}; nothing was changed`,
    );
  }
  if (taggedSecret !== arn) {
    throw new BindingError(
      `user ${userName} is tagged ${SECRET_TAG}=${taggedSecret}, not secret ${arn}; nothing was changed`,
    );
  }

  const owner = user.tags[config.ownerTagKey]?.trim().toLowerCase();
  logger.info('rotation guard passed', {
    versionId: token,
    userName,
    currentKeyId: current.accessKeyId,
    currentVersionId,
  });
  return {
    step: event.Step,
    secretArn: arn,
    secretName: secret.name,
    token,
    rotationToken: event.RotationToken,
    userName,
    userArn: user.arn,
    accountId: accountOf(arn),
    current,
    currentVersionId,
    versions: secret.versions,
    tokenIsCurrent,
    config,
    ownerEmail: owner === undefined || owner === '' ? undefined : owner,
  };
}

/** Parses a stored value, saying which version was bad (the parser never quotes secret material). */
export function parseVersion(secretString: string, what: string): ParsedSecret {
  try {
    return parseSecretValue(secretString);
  } catch (err) {
    if (err instanceof SecretFormatError) throw new SecretFormatError(`${what}: ${err.message}`);
    throw err;
  }
}

/**
 * The value of the version being rotated in, checked to belong to the bound user. Undefined
 * `stage` reads by version id alone (finishSecret, where AWSPENDING may already be gone).
 */
export async function readTokenValue(
  ctx: RotationContext,
  stage: string | undefined = AWSPENDING,
): Promise<ParsedSecret> {
  const value = await getSecretString(ctx.secretArn, { versionId: ctx.token, stage });
  if (value === undefined) {
    throw new RotatorError(
      `version ${ctx.token} of secret ${ctx.secretArn} has no value; createSecret has not stored the new key`,
    );
  }
  const parsed = parseVersion(value, `value of version ${ctx.token} of secret ${ctx.secretArn}`);
  if (parsed.userName !== ctx.userName) {
    throw new BindingError(
      `version ${ctx.token} of secret ${ctx.secretArn} is for user ${parsed.userName}, ` +
        `but the secret is bound to user ${ctx.userName}; nothing was changed`,
    );
  }
  return parsed;
}
