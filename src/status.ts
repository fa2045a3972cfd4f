import { ListSecretVersionIdsCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { addDays, ageInDays, ageStatus, isStuck, isValidEmail, tagValue, utcDay } from './audit/classify.js';
import { rotateAtAge } from './audit/plan.js';
import { listBoundSecrets } from './audit/scan.js';
import { clients } from './aws/clients.js';
import { getAccessKeyLastUsed, getUser, listAccessKeys } from './aws/iam.js';
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
import type { Config } from './config.js';
import { UnknownUserError } from './rotate-now.js';
import { parseSecretValue } from './rotation/secret-value.js';
import { EXEMPT_TAG, SECRET_TAG, USER_TAG } from './tags.js';

/**
 * What the operator CLI's `status` shows: for one user, its keys (age, last use, which staging
 * label of the bound secret holds each) and the secret's rotation (last, next, pending); for the
 * account, every enrolled secret. Plain JSON-safe data (ISO strings, no Dates) and never a secret:
 * values are read only to learn which key id each version holds.
 */

const STAGES = [AWSCURRENT, AWSPREVIOUS, AWSPENDING] as const;
type Stage = (typeof STAGES)[number];

export interface KeyStatus {
  accessKeyId: string;
  status: 'Active' | 'Inactive';
  createdAt: string | null;
  /** Whole UTC calendar days, as the audit counts them. */
  ageDays: number | null;
  lastUsedAt: string | null;
  lastUsedService: string | null;
  /** Staging labels of the bound secret whose version holds this key. */
  stages: Stage[];
  /** The audit's view: age category of an active key, or 'inactive'. */
  policy: 'ok' | 'warning' | 'expired' | 'inactive';
  /** Active and not used for UNUSED_KEY_DAYS (or never used and at least that old). */
  unused: boolean;
}

export interface SecretStatus {
  arn: string;
  name: string;
  rotationEnabled: boolean;
  rotationLambdaArn: string | null;
  scheduleDays: number | null;
  lastRotatedAt: string | null;
  /** Secrets Manager's next scheduled rotation. */
  nextRotationAt: string | null;
  /** A version carrying AWSPENDING but not AWSCURRENT: a rotation under way (or stuck). */
  pendingVersionId: string | null;
  /** Key ids per staging label (AWSPENDING has none while createSecret has not stored it). */
  keyIds: Partial<Record<Stage, string>>;
}

export interface UserStatus {
  userName: string;
  arn: string;
  owner: string | null;
  exempt: boolean;
  /** Bound both ways and rotation enabled: the rotator manages this user. */
  enrolled: boolean;
  secret: SecretStatus | null;
  keys: KeyStatus[];
  /** The day the audit starts a rotation (the AWSCURRENT key reaches MAX - GRACE - 1 days). */
  auditRotatesOn: string | null;
  /** The earlier of Secrets Manager's schedule and the audit's date. */
  nextRotationAt: string | null;
  /** What is wrong, in words (binding, stuck rotation, two keys, unused key, ...). */
  problems: string[];
  /** What is expected to happen next and is not a problem (a previous key in its grace period). */
  notes: string[];
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

async function findSecret(id: string): Promise<SecretDescription | undefined> {
  try {
    return await describeSecret(id);
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

async function keyIdsByStage(secret: SecretDescription): Promise<Partial<Record<Stage, string>>> {
  const out: Partial<Record<Stage, string>> = {};
  for (const stage of STAGES) {
    const versionId = versionWithStage(secret.versions, stage);
    if (versionId === undefined) continue;
    // AWSPENDING may also sit on the AWSCURRENT version after a rotation: same key, no second read.
    if (stage !== AWSCURRENT && secret.versions[versionId]?.includes(AWSCURRENT)) continue;
    const value = await getSecretString(secret.arn, { versionId, stage });
    if (value === undefined) continue;
    try {
      out[stage] = parseSecretValue(value).accessKeyId;
    } catch {
      // A value that does not parse holds no key we can name; the rotation reports it.
    }
  }
  return out;
}

/** Status of one user: keys, stages, binding and rotation. Throws UnknownUserError. */
export async function userStatus(userName: string, cfg: Config): Promise<UserStatus> {
  const now = clock().now();
  const user = await getUser(userName);
  if (!user) throw new UnknownUserError(`IAM user ${userName} does not exist`);
  const problems: string[] = [];

  const rawOwner = tagValue(user.tags, cfg.ownerTagKey)?.trim().toLowerCase();
  const owner = rawOwner && isValidEmail(rawOwner) ? rawOwner : null;
  if (!owner) {
    problems.push(
      rawOwner
        ? `owner tag ${cfg.ownerTagKey} is not an email address ("${rawOwner}"): mails go to the security audience`
        : `no ${cfg.ownerTagKey} tag: mails about this user go to the security audience`,
    );
  }

  const taggedSecret = user.tags[SECRET_TAG];
  const secretDescription = await findSecret(taggedSecret ?? `${cfg.secretPrefix}${user.userName}`);
  let secret: SecretStatus | null = null;
  let enrolled = false;
  if (secretDescription) {
    const s = secretDescription;
    const keyIds = await keyIdsByStage(s);
    const pendingVersionId =
      Object.entries(s.versions).find(([, st]) => st.includes(AWSPENDING) && !st.includes(AWSCURRENT))?.[0] ??
      null;
    secret = {
      arn: s.arn,
      name: s.name,
      rotationEnabled: s.rotationEnabled,
      rotationLambdaArn: s.rotationLambdaArn ?? null,
      scheduleDays: s.rotationDays ?? null,
      lastRotatedAt: iso(s.lastRotatedDate),
      nextRotationAt: iso(s.nextRotationDate),
      pendingVersionId,
      keyIds,
    };
    const boundBothWays = s.tags[USER_TAG] === user.userName && taggedSecret === s.arn;
    enrolled = boundBothWays && s.rotationEnabled && !s.deletedDate;
    if (taggedSecret === undefined) {
      problems.push(
        `not enrolled: secret ${s.name} exists but the user has no ${SECRET_TAG} tag (enroll again to adopt it)`,
      );
    } else if (s.tags[USER_TAG] !== user.userName) {
      problems.push(
        `binding broken: secret ${s.name} is tagged ${USER_TAG}=${s.tags[USER_TAG] ?? '(missing)'}, not ${user.userName}`,
      );
    }
    if (s.deletedDate) problems.push(`secret ${s.name} is scheduled for deletion`);
    if (boundBothWays && !s.rotationEnabled) {
      problems.push('rotation is not enabled on the secret (enroll again to attach the rotation function)');
    }
    if (pendingVersionId) {
      // ListSecretVersionIds would give the pending version's age; DescribeSecret does not.
      const since = await pendingSince(s.arn, pendingVersionId);
      const stuck = isStuck(since, cfg, now);
      problems.push(
        stuck
          ? `rotation stuck: version ${pendingVersionId} has been AWSPENDING since ${since?.toISOString()}; the next audit clears it`
          : `a rotation is in progress (version ${pendingVersionId})`,
      );
    }
  } else if (taggedSecret !== undefined) {
    problems.push(`binding broken: tag ${SECRET_TAG} names secret ${taggedSecret}, which does not exist`);
  }

  const keysMeta = await listAccessKeys(user.userName);
  const keys: KeyStatus[] = [];
  for (const k of keysMeta) {
    const used = await getAccessKeyLastUsed(k.accessKeyId);
    const ageDays = k.createDate ? ageInDays(k.createDate, now) : null;
    const daysSinceUse = used.lastUsedDate ? ageInDays(used.lastUsedDate, now) : null;
    const active = k.status === 'Active';
    const stages = STAGES.filter((st) => secret?.keyIds[st] === k.accessKeyId);
    keys.push({
      accessKeyId: k.accessKeyId,
      status: k.status,
      createdAt: iso(k.createDate),
      ageDays,
      lastUsedAt: iso(used.lastUsedDate),
      lastUsedService: used.serviceName && used.serviceName !== 'N/A' ? used.serviceName : null,
      stages,
      policy: active ? ageStatus(ageDays ?? 0, cfg) : 'inactive',
      unused: active && (daysSinceUse ?? ageDays ?? 0) >= cfg.unusedKeyDays,
    });
  }
  const notes: string[] = [];
  const currentKey = keys.find((k) => k.stages.includes(AWSCURRENT));
  // After a rotation the previous key stays active for the grace period; then the audit retires it.
  const graceEnds =
    enrolled && currentKey?.createdAt
      ? addDays(utcDay(new Date(currentKey.createdAt)), cfg.rotationGraceDays)
      : undefined;
  const inGrace = (k: KeyStatus) =>
    graceEnds !== undefined &&
    k.status === 'Active' &&
    k.stages.includes(AWSPREVIOUS) &&
    now.getTime() < graceEnds.getTime();
  for (const k of keys) {
    if (inGrace(k)) {
      notes.push(
        `previous key ${k.accessKeyId} stays active until ${graceEnds?.toISOString().slice(0, 10)} (the ${cfg.rotationGraceDays}-day grace after rotation); then the audit deactivates it`,
      );
      continue;
    }
    if (k.policy === 'expired') problems.push(`key ${k.accessKeyId} is older than ${cfg.maxKeyAgeDays} days`);
    if (k.unused)
      problems.push(`key ${k.accessKeyId} has not been used for ${cfg.unusedKeyDays} days or more`);
  }
  if (keys.filter((k) => k.status === 'Active' && !inGrace(k)).length > 1) {
    problems.push('two active keys: one of them should be retired');
  }
  if (secret?.keyIds.AWSCURRENT && !keys.some((k) => k.accessKeyId === secret?.keyIds.AWSCURRENT)) {
    problems.push(`the secret's AWSCURRENT key ${secret.keyIds.AWSCURRENT} no longer exists`);
  }

  const auditDate =
    enrolled && currentKey?.createdAt
      ? addDays(utcDay(new Date(currentKey.createdAt)), rotateAtAge(cfg))
      : undefined;
  const scheduled = enrolled && secret?.nextRotationAt ? new Date(secret.nextRotationAt) : undefined;
  const next = [auditDate, scheduled]
    .filter((d): d is Date => d !== undefined)
    .sort((a, b) => a.getTime() - b.getTime())[0];

  return {
    userName: user.userName,
    arn: user.arn,
    owner,
    exempt: tagValue(user.tags, EXEMPT_TAG)?.trim().toLowerCase() === 'true',
    enrolled,
    secret,
    keys,
    auditRotatesOn: iso(auditDate),
    nextRotationAt: iso(next),
    problems,
    notes,
  };
}

async function pendingSince(secretArn: string, versionId: string): Promise<Date | null> {
  let token: string | undefined;
  do {
    const page = await withRetry(() =>
      clients().sm.send(new ListSecretVersionIdsCommand({ SecretId: secretArn, NextToken: token })),
    );
    const found = page.Versions?.find((v) => v.VersionId === versionId);
    if (found) return found.CreatedDate ?? null;
    token = page.NextToken;
  } while (token);
  return null;
}

export interface EnrolledSecretStatus {
  userName: string;
  secretName: string;
  secretArn: string;
  rotationEnabled: boolean;
  rotationLambdaArn: string | null;
  lastRotatedAt: string | null;
  nextRotationAt: string | null;
  pendingVersionId: string | null;
  pendingSince: string | null;
  /** AWSPENDING older than STUCK_ROTATION_HOURS. */
  stuck: boolean;
}

/** Every secret tagged as bound to a user (ListSecrets: one call per 100 secrets, no IAM calls). */
export async function accountStatus(cfg: Config): Promise<EnrolledSecretStatus[]> {
  const now = clock().now();
  const secrets = await listBoundSecrets();
  return secrets
    .map((s) => ({
      userName: s.userName,
      secretName: s.secretName,
      secretArn: s.secretArn,
      rotationEnabled: s.rotationEnabled,
      rotationLambdaArn: s.rotationLambdaArn ?? null,
      lastRotatedAt: iso(s.lastRotated),
      nextRotationAt: iso(s.nextRotation),
      pendingVersionId: s.pendingVersionId ?? null,
      pendingSince: iso(s.pendingSince),
      stuck: isStuck(s.pendingSince, cfg, now),
    }))
    .sort((a, b) => (a.userName < b.userName ? -1 : a.userName > b.userName ? 1 : 0));
}
