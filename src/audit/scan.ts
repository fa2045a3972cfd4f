import {
  CredentialReportExpiredException,
  CredentialReportNotPresentException,
  CredentialReportNotReadyException,
  GenerateCredentialReportCommand,
  GetAccountAuthorizationDetailsCommand,
  GetCredentialReportCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import {
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { clients } from '../aws/clients.js';
import { withRetry } from '../aws/retry.js';
import { clock } from '../clock.js';
import { messageOf, RotatorError } from '../errors.js';
import { logger } from '../logger.js';
import { USER_TAG } from '../tags.js';
import type { AccountUser, Enrollment } from './types.js';

/**
 * The scan reads the whole account in O(users / 1000) IAM calls: the credential report gives every
 * key's slot, state, creation and last use; GetAccountAuthorizationDetails gives every user's tags
 * and groups. Nothing here is called per user.
 */

export interface CredentialReport {
  content: Uint8Array;
  generatedAt: Date;
}

export class CredentialReportError extends RotatorError {
  override name = 'CredentialReportError';
}

/** AWS regenerates the report at most every 4 hours and reports it expired after that. */
const REPORT_MAX_AGE_MS = 4 * 3_600_000;

export interface FetchReportOptions {
  /** First wait after GenerateCredentialReport says STARTED or INPROGRESS; doubles up to maxPollMs. */
  pollMs?: number;
  maxPollMs?: number;
  /** Give up (CredentialReportError) when no report is ready after this long. */
  maxWaitMs?: number;
}

/**
 * Gets a credential report no older than 4 hours, generating one when needed.
 *
 * GenerateCredentialReport answers COMPLETE at once while a report younger than 4 hours exists,
 * so the usual cost is two calls; otherwise it starts one (STARTED) and answers INPROGRESS until
 * it is done. The wait doubles between polls (2, 4, 8, 16 s): a small account's report is ready
 * within seconds, a large one's within a minute, and every poll is an IAM call that counts against
 * the account-wide rate. GetCredentialReport can still fail between the two calls (the report
 * expired, or another caller started a new one): that is not an error, generate again.
 */
export async function fetchCredentialReport(
  iam: IAMClient = clients().iam,
  options: FetchReportOptions = {},
): Promise<CredentialReport> {
  const maxPollMs = options.maxPollMs ?? 16_000;
  const maxWaitMs = options.maxWaitMs ?? 300_000;
  let pollMs = options.pollMs ?? 2_000;
  const started = clock().now().getTime();
  for (let attempt = 1; ; attempt++) {
    const generated = await withRetry(() => iam.send(new GenerateCredentialReportCommand({})));
    let state: string = generated.State ?? 'unknown';
    if (state === 'COMPLETE') {
      try {
        const report = await withRetry(() => iam.send(new GetCredentialReportCommand({})));
        if (!report.Content) throw new CredentialReportError('GetCredentialReport returned no content');
        const generatedAt = report.GeneratedTime ?? clock().now();
        if (clock().now().getTime() - generatedAt.getTime() <= REPORT_MAX_AGE_MS) {
          return { content: report.Content, generatedAt };
        }
        // IAM expires it any moment now: the next GenerateCredentialReport starts a new one.
        logger.info('Credential report is older than 4 hours; generating a new one', {
          generatedAt: generatedAt.toISOString(),
        });
        state = 'EXPIRED';
      } catch (err) {
        if (
          err instanceof CredentialReportNotPresentException ||
          err instanceof CredentialReportExpiredException
        ) {
          // Gone between the two calls: the next GenerateCredentialReport starts a new one at once.
          logger.info('Credential report disappeared; generating a new one', { reason: err.name });
          state = 'EXPIRED';
        } else if (err instanceof CredentialReportNotReadyException) {
          logger.info('Credential report is being regenerated', { reason: err.name });
          state = 'INPROGRESS';
        } else {
          throw err;
        }
      }
    }
    const waited = clock().now().getTime() - started;
    if (waited >= maxWaitMs) {
      throw new CredentialReportError(
        `the credential report was not ready after ${Math.round(waited / 1000)} s (state ${state}); nothing was changed`,
      );
    }
    // An expired report is replaced at the next call: no reason to wait (but never spin).
    if (state === 'EXPIRED' && attempt === 1) continue;
    await clock().sleep(Math.min(pollMs, maxWaitMs - waited));
    pollMs = Math.min(maxPollMs, pollMs * 2);
  }
}

/** Every IAM user with tags and groups, 1,000 per call. */
export async function listAccountUsers(iam: IAMClient = clients().iam): Promise<AccountUser[]> {
  const users: AccountUser[] = [];
  let marker: string | undefined;
  do {
    const page = await withRetry(() =>
      iam.send(
        new GetAccountAuthorizationDetailsCommand({ Filter: ['User'], MaxItems: 1000, Marker: marker }),
      ),
    );
    for (const u of page.UserDetailList ?? []) {
      if (!u.UserName) continue;
      users.push({
        userName: u.UserName,
        arn: u.Arn ?? '',
        path: u.Path ?? '/',
        tags: Object.fromEntries((u.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
        groups: u.GroupList ?? [],
      });
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return users;
}

/** A secret tagged `iam-key-rotator:user`, with what ListSecrets tells about its rotation. */
export interface BoundSecret extends Enrollment {
  rotationLambdaArn: string | undefined;
  nextRotation: Date | null;
  versionsToStages: Record<string, string[]>;
  /** The version carrying AWSPENDING but not AWSCURRENT: a rotation under way or stuck. */
  pendingVersionId: string | undefined;
  lastChanged: Date | null;
}

/** Every secret tagged as bound to a user, 100 per call (Secrets Manager, not IAM). */
export async function listBoundSecrets(sm: SecretsManagerClient = clients().sm): Promise<BoundSecret[]> {
  const secrets: BoundSecret[] = [];
  let token: string | undefined;
  do {
    const page = await withRetry(() =>
      sm.send(
        new ListSecretsCommand({
          Filters: [{ Key: 'tag-key', Values: [USER_TAG] }],
          MaxResults: 100,
          NextToken: token,
        }),
      ),
    );
    for (const s of page.SecretList ?? []) {
      const userName = s.Tags?.find((t) => t.Key === USER_TAG)?.Value;
      if (!s.ARN || !s.Name || !userName) continue;
      const versionsToStages = s.SecretVersionsToStages ?? {};
      const pendingVersionId = Object.entries(versionsToStages).find(
        ([, stages]) => stages.includes('AWSPENDING') && !stages.includes('AWSCURRENT'),
      )?.[0];
      secrets.push({
        secretArn: s.ARN,
        secretName: s.Name,
        userName,
        rotationEnabled: s.RotationEnabled === true,
        rotationLambdaArn: s.RotationLambdaARN,
        lastRotated: s.LastRotatedDate ?? null,
        nextRotation: s.NextRotationDate ?? null,
        versionsToStages,
        pendingVersionId,
        pendingSince: null,
        lastChanged: s.LastChangedDate ?? null,
      });
    }
    token = page.NextToken;
  } while (token);

  // Only secrets with a rotation under way need the pending version's age: rare, one call each.
  for (const s of secrets) {
    if (!s.pendingVersionId) continue;
    try {
      const versions = await withRetry(() =>
        sm.send(new ListSecretVersionIdsCommand({ SecretId: s.secretArn, IncludeDeprecated: false })),
      );
      const pending = versions.Versions?.find((v) => v.VersionId === s.pendingVersionId);
      s.pendingSince = pending?.CreatedDate ?? s.lastChanged;
    } catch (err) {
      // One secret we may not read (tagged, but outside SECRET_PREFIX and so outside the role's
      // permissions) must not stop the audit of every user. Staging AWSPENDING changed the secret,
      // so its last change dates the rotation at the latest; acting on it will fail visibly.
      logger.warn('Cannot date the pending rotation of a secret', {
        secretArn: s.secretArn,
        error: messageOf(err),
      });
      s.pendingSince = s.lastChanged;
    }
  }
  return secrets;
}
