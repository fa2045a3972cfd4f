import { type AccessKeyInfo, getAccessKeyLastUsed } from '../aws/iam.js';

/** Why a key other than AWSCURRENT may be deleted to make room (invariant 5). */
export type RemovalReason = 'inactive' | 'AWSPREVIOUS' | 'never used';

/** An active key that is not the secret's, has been used, and stands in the way. */
export interface Blocker {
  key: AccessKeyInfo;
  lastUsed: Date;
  service: string | undefined;
}

export interface Room {
  /** Keys to delete so that a new key fits, cheapest decisions first; empty when there is room. */
  removable: { key: AccessKeyInfo; reason: RemovalReason }[];
  /** Set when not enough keys may go: the first key in use that is not the secret's. */
  blocker: Blocker | undefined;
}

/**
 * Decides how a user gets room for one new key under IAM's limit of two (invariant 1) without
 * touching the AWSCURRENT key (invariant 2): another key may go only if it is inactive, is the
 * secret's AWSPREVIOUS, or has never been used (invariant 5). Changes nothing; the rotation's
 * createSecret acts on the answer and rotate-now checks it before starting a rotation.
 * `previousKeyId` is asked only when an active key could be the AWSPREVIOUS one; last use is
 * looked up only for keys that are neither inactive nor AWSPREVIOUS.
 */
export async function roomForNewKey(
  keys: readonly AccessKeyInfo[],
  currentKeyId: string,
  previousKeyId: () => Promise<string | undefined>,
): Promise<Room> {
  const excess = keys.length - 1;
  const room: Room = { removable: [], blocker: undefined };
  if (excess <= 0) return room;

  const others = keys.filter((k) => k.accessKeyId !== currentKeyId);
  const previousId = others.some((k) => k.status === 'Active') ? await previousKeyId() : undefined;
  const rank = (k: AccessKeyInfo) => (k.status === 'Inactive' ? 0 : k.accessKeyId === previousId ? 1 : 2);
  for (const key of [...others].sort((a, b) => rank(a) - rank(b))) {
    if (room.removable.length >= excess) break;
    if (key.status === 'Inactive') {
      room.removable.push({ key, reason: 'inactive' });
    } else if (key.accessKeyId === previousId) {
      room.removable.push({ key, reason: 'AWSPREVIOUS' });
    } else {
      const used = await getAccessKeyLastUsed(key.accessKeyId);
      if (used.lastUsedDate === undefined) room.removable.push({ key, reason: 'never used' });
      else room.blocker ??= { key, lastUsed: used.lastUsedDate, service: used.serviceName };
    }
  }
  if (room.removable.length >= excess) room.blocker = undefined;
  return room;
}
