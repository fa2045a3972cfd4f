import {
  GetAccessKeyLastUsedCommand,
  type IAMClient,
  ListAccessKeysCommand,
  ListUsersCommand,
  ListUserTagsCommand,
} from '@aws-sdk/client-iam';
import { clients } from '../../src/aws/clients.js';
import { withRetry } from '../../src/aws/retry.js';

/**
 * The scan most key-age scripts (and AWS's own sample) do: page through ListUsers, then per user
 * ListAccessKeys and ListUserTags, and GetAccessKeyLastUsed per key. Same throttling retries as
 * the service (withRetry on the injectable clock), default page sizes (100 users per ListUsers
 * page, as the SDK paginators and boto3 use), one call at a time. It only reads: what it finds is
 * what the audit's scan finds, at O(users) IAM calls instead of O(users / 1000).
 */

export interface BaselineKey {
  accessKeyId: string;
  status: string | undefined;
  created: Date | undefined;
  lastUsed: Date | undefined;
}

export interface BaselineUser {
  userName: string;
  tags: Record<string, string>;
  keys: BaselineKey[];
}

export async function naiveScan(iam: IAMClient = clients().iam): Promise<BaselineUser[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await withRetry(() => iam.send(new ListUsersCommand({ Marker: marker })));
    for (const u of page.Users ?? []) if (u.UserName) names.push(u.UserName);
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);

  const users: BaselineUser[] = [];
  for (const userName of names) {
    const keys: BaselineKey[] = [];
    let keyMarker: string | undefined;
    do {
      const page = await withRetry(() =>
        iam.send(new ListAccessKeysCommand({ UserName: userName, Marker: keyMarker })),
      );
      for (const k of page.AccessKeyMetadata ?? []) {
        if (!k.AccessKeyId) continue;
        keys.push({
          accessKeyId: k.AccessKeyId,
          status: k.Status,
          created: k.CreateDate,
          lastUsed: undefined,
        });
      }
      keyMarker = page.IsTruncated ? page.Marker : undefined;
    } while (keyMarker);

    const tags: Record<string, string> = {};
    let tagMarker: string | undefined;
    do {
      const page = await withRetry(() =>
        iam.send(new ListUserTagsCommand({ UserName: userName, Marker: tagMarker })),
      );
      for (const t of page.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
      tagMarker = page.IsTruncated ? page.Marker : undefined;
    } while (tagMarker);

    for (const k of keys) {
      const used = await withRetry(() =>
        iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k.accessKeyId })),
      );
      k.lastUsed = used.AccessKeyLastUsed?.LastUsedDate;
    }
    users.push({ userName, tags, keys });
  }
  return users;
}
