import {
  InvalidRequestException,
  ResourceNotFoundException,
  RotateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { clients } from '../aws/clients.js';
import { type AccessKeyInfo, deleteAccessKey, listAccessKeys, setAccessKeyStatus } from '../aws/iam.js';
import { withRetry } from '../aws/retry.js';
import { AWSCURRENT, AWSPENDING, describeSecret, getSecretString } from '../aws/secrets.js';
import { messageOf } from '../errors.js';
import { logger } from '../logger.js';
import { parseSecretValue } from '../rotation/secret-value.js';
import type { BoundSecret } from './scan.js';
import type { ActionResult, PlannedAction } from './types.js';

/**
 * Carries out the audit's planned actions, one user at a time. The plan was made from a credential
 * report that may be hours old, so before changing a key this re-reads the live state of that one
 * user: its keys (ListAccessKeys) and the AWSCURRENT key id of every secret tagged for it. A key
 * that is any secret's AWSCURRENT is never deactivated or deleted (DESIGN.md invariant 2), whatever
 * the plan says. IAM calls here are proportional to the users acted upon, never to users scanned:
 * one ListAccessKeys per user acted on, then the change itself. The read is deliberate: the report
 * names keys only by slot, and acting on a report up to 4 hours old without it would repeat a
 * change already made (a same-day rerun) or act on a key whose state has moved on.
 */

export interface ActOptions {
  dryRun: boolean;
  /** Every secret tagged `iam-key-rotator:user`, by user name (from the scan). */
  secretsByUser: ReadonlyMap<string, readonly BoundSecret[]>;
  /**
   * SECRET_PREFIX. The secret `<prefix><UserName>` also protects its keys even when it is not
   * tagged (a half-finished enrollment, a secret made by hand): a key in use is never disabled.
   */
  secretPrefix?: string | undefined;
}

/** Key creation times in the report have whole seconds; ListAccessKeys may carry milliseconds. */
const sameSecond = (a: Date | undefined, b: Date | undefined): boolean =>
  a !== undefined && b !== undefined && Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);

interface LiveUser {
  keys: AccessKeyInfo[];
  /** AWSCURRENT and AWSPENDING key ids of every secret tagged for the user. */
  protectedKeyIds: Set<string>;
}

async function readLiveUser(
  userName: string,
  secrets: readonly BoundSecret[],
  secretPrefix: string | undefined,
): Promise<LiveUser> {
  const keys = await listAccessKeys(userName);
  const protectedKeyIds = new Set<string>();
  const secretIds: string[] = secrets.map((s) => s.secretArn);
  const conventional = secretPrefix === undefined ? undefined : `${secretPrefix}${userName}`;
  if (conventional !== undefined && !secrets.some((s) => s.secretName === conventional)) {
    secretIds.push(conventional);
  }
  // AWSPENDING too: a rotation may have started since the scan, and the key it is verifying or
  // promoting must not be touched.
  for (const secretId of secretIds) {
    const current = await getSecretString(secretId, { stage: AWSCURRENT });
    // No AWSCURRENT value: the secret does not exist (the usual case for <prefix><user>).
    if (current === undefined) continue;
    for (const value of [current, await getSecretString(secretId, { stage: AWSPENDING })]) {
      if (value === undefined) continue;
      try {
        protectedKeyIds.add(parseSecretValue(value).accessKeyId);
      } catch {
        // A value we cannot parse names no key; resolveKey still acts only on a key it can identify.
      }
    }
  }
  return { keys, protectedKeyIds };
}

function resolveKey(action: PlannedAction, live: LiveUser): AccessKeyInfo | undefined {
  if (action.keyId) return live.keys.find((k) => k.accessKeyId === action.keyId);
  return live.keys.find((k) => sameSecond(k.createDate, action.createdOn));
}

const KEY_ACTIONS = new Set<PlannedAction['kind']>(['deactivate-previous', 'disable', 'delete']);

/** Runs one user's actions in order; after a failure the rest of that user's actions are skipped. */
async function actOnUser(
  userName: string,
  actions: readonly PlannedAction[],
  options: ActOptions,
): Promise<ActionResult[]> {
  const results: ActionResult[] = [];
  const secrets = options.secretsByUser.get(userName) ?? [];
  let live: LiveUser | undefined;
  let failed = false;
  for (const action of actions) {
    if (failed) {
      results.push({ ...action, outcome: 'skipped', message: 'an earlier action for this user failed' });
      continue;
    }
    try {
      let keyId = action.keyId;
      if (KEY_ACTIONS.has(action.kind)) {
        live ??= await readLiveUser(userName, secrets, options.secretPrefix);
        const key = resolveKey(action, live);
        if (!key) {
          results.push({ ...action, outcome: 'skipped', message: 'the key no longer exists' });
          continue;
        }
        keyId = key.accessKeyId;
        if (live.protectedKeyIds.has(key.accessKeyId)) {
          results.push({
            ...action,
            keyId,
            outcome: 'skipped',
            message: `${key.accessKeyId} is the AWSCURRENT key of a secret bound to the user`,
          });
          continue;
        }
        if (action.kind === 'delete' && key.status === 'Active') {
          results.push({ ...action, keyId, outcome: 'skipped', message: 'the key is active again' });
          continue;
        }
        if (action.kind !== 'delete' && key.status === 'Inactive') {
          results.push({ ...action, keyId, outcome: 'skipped', message: 'the key is already inactive' });
          continue;
        }
      }
      if (action.kind === 'clear-stuck') {
        const gone = await stuckVersionGone(action, secrets);
        if (gone) {
          results.push({ ...action, outcome: 'skipped', message: gone });
          continue;
        }
      }
      if (options.dryRun) {
        results.push({ ...action, keyId, outcome: 'dry-run' });
        continue;
      }
      const message = await execute(action, keyId, secrets);
      results.push({ ...action, keyId, outcome: message === undefined ? 'done' : 'skipped', message });
      logger.info('Audit action taken', { userName, kind: action.kind, keyId, outcome: message ?? 'done' });
    } catch (err) {
      failed = true;
      results.push({ ...action, outcome: 'failed', message: messageOf(err) });
      logger.warn('Audit action failed', { userName, kind: action.kind, error: messageOf(err) });
    }
  }
  return results;
}

/** The bound secret an action names (or the user's only one). */
const secretOf = (action: PlannedAction, secrets: readonly BoundSecret[]): BoundSecret | undefined =>
  secrets.find((s) => s.secretArn === action.secretArn) ?? (action.secretArn ? undefined : secrets[0]);

/**
 * Why a stuck AWSPENDING is no longer there to clear, or undefined when it still is. The scan saw
 * the version minutes ago; the rotation may have finished or been retried since, and clearing
 * AWSPENDING from a rotation that is running again would break it.
 */
async function stuckVersionGone(
  action: PlannedAction,
  secrets: readonly BoundSecret[],
): Promise<string | undefined> {
  const secret = secretOf(action, secrets);
  const pending = secret?.pendingVersionId;
  if (!secret || !pending) return 'no pending version any more';
  try {
    const live = await describeSecret(secret.secretArn);
    const stages = live.versions[pending] ?? [];
    if (!stages.includes(AWSPENDING) || stages.includes(AWSCURRENT)) {
      return 'the pending rotation finished or was cleared meanwhile';
    }
    return undefined;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return 'the secret no longer exists';
    throw err;
  }
}

/** Does one action; returns a reason when it turned out to be unnecessary. */
async function execute(
  action: PlannedAction,
  keyId: string | undefined,
  secrets: readonly BoundSecret[],
): Promise<string | undefined> {
  const { sm } = clients();
  switch (action.kind) {
    case 'deactivate-previous':
    case 'disable':
      if (!(await setAccessKeyStatus(action.userName, keyId as string, 'Inactive'))) {
        return 'the key no longer exists';
      }
      return undefined;
    case 'delete':
      if (!(await deleteAccessKey(action.userName, keyId as string))) return 'the key no longer exists';
      return undefined;
    case 'rotate': {
      const secretArn = action.secretArn ?? secrets[0]?.secretArn;
      if (!secretArn) throw new Error(`no secret is bound to user ${action.userName}`);
      try {
        await withRetry(() =>
          sm.send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true })),
        );
      } catch (err) {
        // Another rotation (rotate now, the secret's own schedule) got there first: nothing to do.
        if (err instanceof InvalidRequestException && /previous rotation isn't complete/i.test(err.message)) {
          return 'a rotation is already in progress';
        }
        throw err;
      }
      return undefined;
    }
    case 'clear-stuck': {
      const secret = secretOf(action, secrets);
      const pending = secret?.pendingVersionId;
      if (!secret || !pending) return 'no pending version any more';
      // Removing AWSPENDING lets the next rotation start; the key the stuck rotation may have
      // created was never stored as AWSCURRENT, so the next createSecret deletes it if unused.
      await withRetry(() =>
        sm.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secret.secretArn,
            VersionStage: AWSPENDING,
            RemoveFromVersionId: pending,
          }),
        ),
      );
      return undefined;
    }
    default: {
      const unknown: never = action.kind;
      throw new Error(`unknown action ${String(unknown)}`);
    }
  }
}

/**
 * Runs every user's actions. Users are independent: a failure is recorded in that user's results
 * and the run goes on with the next user.
 */
export async function act(actions: readonly PlannedAction[], options: ActOptions): Promise<ActionResult[]> {
  const byUser = new Map<string, PlannedAction[]>();
  for (const a of actions) {
    const list = byUser.get(a.userName);
    if (list) list.push(a);
    else byUser.set(a.userName, [a]);
  }
  const results: ActionResult[] = [];
  for (const [userName, userActions] of byUser) {
    results.push(...(await actOnUser(userName, userActions, options)));
  }
  return results;
}
