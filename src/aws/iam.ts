import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  GetUserCommand,
  type IAMClient,
  LimitExceededException,
  ListAccessKeysCommand,
  NoSuchEntityException,
  type Tag,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { RotatorError } from '../errors.js';
import { clients } from './clients.js';
import { withRetry } from './retry.js';

/**
 * Small functions over IAM for the rotation function, the audit and enrollment. Every call goes
 * through withRetry (IAM throttling is account-wide). None of them logs; none returns a secret
 * except createAccessKey, whose caller stores it and must not log it.
 */

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface IamUser {
  userName: string;
  arn: string;
  userId: string;
  path: string;
  createDate: Date | undefined;
  tags: Record<string, string>;
}

export interface AccessKeyInfo {
  accessKeyId: string;
  userName: string;
  status: AccessKeyStatus;
  createDate: Date | undefined;
}

export interface AccessKeyLastUsed {
  /** Absent when the key has never signed a request. */
  lastUsedDate: Date | undefined;
  /** 'N/A' (as IAM says) or undefined when never used. */
  serviceName: string | undefined;
  region: string | undefined;
}

/** A freshly created key pair. The secret is shown once by IAM: store it, never log it. */
export interface NewAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  status: AccessKeyStatus;
  createDate: Date | undefined;
}

/**
 * IAM refused a new key because the user already has two (LimitExceeded). Final: never retried,
 * because the only fix is to remove a key, which is a decision, not a wait.
 */
export class AccessKeyLimitError extends RotatorError {
  override name = 'AccessKeyLimitError';
}

/** IAM's tag list as a plain map (later duplicates win, as IAM never returns any). */
export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) {
    if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  }
  return out;
}

/** The user with its tags, or undefined when IAM has no such user. */
export async function getUser(
  userName: string,
  iam: IAMClient = clients().iam,
): Promise<IamUser | undefined> {
  try {
    const out = await withRetry(() => iam.send(new GetUserCommand({ UserName: userName })));
    const user = out.User;
    if (user === undefined) return undefined;
    return {
      userName: user.UserName ?? userName,
      arn: user.Arn ?? '',
      userId: user.UserId ?? '',
      path: user.Path ?? '/',
      createDate: user.CreateDate,
      tags: tagMap(user.Tags),
    };
  } catch (err) {
    if (err instanceof NoSuchEntityException) return undefined;
    throw err;
  }
}

/** Every access key of the user (metadata only: IAM never returns a secret here). */
export async function listAccessKeys(
  userName: string,
  iam: IAMClient = clients().iam,
): Promise<AccessKeyInfo[]> {
  const keys: AccessKeyInfo[] = [];
  let marker: string | undefined;
  do {
    const out = await withRetry(() =>
      iam.send(new ListAccessKeysCommand({ UserName: userName, ...(marker ? { Marker: marker } : {}) })),
    );
    for (const key of out.AccessKeyMetadata ?? []) {
      if (key.AccessKeyId === undefined) continue;
      keys.push({
        accessKeyId: key.AccessKeyId,
        userName: key.UserName ?? userName,
        status: key.Status === 'Inactive' ? 'Inactive' : 'Active',
        createDate: key.CreateDate,
      });
    }
    marker = out.IsTruncated ? out.Marker : undefined;
  } while (marker);
  return keys;
}

export async function getAccessKeyLastUsed(
  accessKeyId: string,
  iam: IAMClient = clients().iam,
): Promise<AccessKeyLastUsed> {
  const out = await withRetry(() => iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId })));
  return {
    lastUsedDate: out.AccessKeyLastUsed?.LastUsedDate,
    serviceName: out.AccessKeyLastUsed?.ServiceName,
    region: out.AccessKeyLastUsed?.Region,
  };
}

/**
 * Creates a key for the user. LimitExceeded becomes AccessKeyLimitError and is not retried: the
 * SDK's standard retry strategy classifies `LimitExceededException` as throttling and would try
 * twice more, so the command carries a middleware inside the retry loop that turns it final.
 */
export async function createAccessKey(
  userName: string,
  iam: IAMClient = clients().iam,
): Promise<NewAccessKey> {
  const limitError = (cause: unknown) =>
    new AccessKeyLimitError(
      `IAM refused a new access key for user ${userName}: it already has two (LimitExceeded)`,
      {
        cause,
      },
    );
  try {
    const out = await withRetry(() => {
      const command = new CreateAccessKeyCommand({ UserName: userName });
      command.middlewareStack.add(
        (next) => async (args) => {
          try {
            return await next(args);
          } catch (err) {
            if (err instanceof LimitExceededException) throw limitError(err);
            throw err;
          }
        },
        // Deserialize runs inside finalizeRequest, where the SDK's retry middleware lives.
        { step: 'deserialize', priority: 'high', name: 'keyLimitIsFinal' },
      );
      return iam.send(command);
    });
    const key = out.AccessKey;
    if (key?.AccessKeyId === undefined || key.SecretAccessKey === undefined) {
      throw new RotatorError(`IAM returned no key pair for the new access key of user ${userName}`);
    }
    return {
      accessKeyId: key.AccessKeyId,
      secretAccessKey: key.SecretAccessKey,
      status: key.Status === 'Inactive' ? 'Inactive' : 'Active',
      createDate: key.CreateDate,
    };
  } catch (err) {
    // Mocked clients (tests, the simulator) skip the middleware stack and reject with the SDK class.
    if (err instanceof LimitExceededException) throw limitError(err);
    throw err;
  }
}

/** Sets a key Active or Inactive. Returns false when the key (or user) no longer exists. */
export async function setAccessKeyStatus(
  userName: string,
  accessKeyId: string,
  status: AccessKeyStatus,
  iam: IAMClient = clients().iam,
): Promise<boolean> {
  try {
    await withRetry(() =>
      iam.send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: status })),
    );
    return true;
  } catch (err) {
    if (err instanceof NoSuchEntityException) return false;
    throw err;
  }
}

/** Deletes a key. Returns false when it was already gone (a retry after a crash). */
export async function deleteAccessKey(
  userName: string,
  accessKeyId: string,
  iam: IAMClient = clients().iam,
): Promise<boolean> {
  try {
    await withRetry(() =>
      iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId })),
    );
    return true;
  } catch (err) {
    if (err instanceof NoSuchEntityException) return false;
    throw err;
  }
}
