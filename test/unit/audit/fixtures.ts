import { addDays } from '../../../src/audit/classify.js';
import type { AccountUser, Enrollment, ReportKey, ReportRow } from '../../../src/audit/types.js';
import { type Config, loadConfig } from '../../../src/config.js';

/** Audit time used across the audit tests: mid-morning, so calendar ages are unambiguous. */
export const NOW = new Date('2026-07-01T09:30:00Z');

export const defaults = (env: Record<string, string> = {}): Config => loadConfig(env);

/** A key created `age` days before NOW (same time of day). */
export function key(slot: 1 | 2, age: number, over: Partial<ReportKey> = {}): ReportKey {
  return {
    slot,
    active: true,
    lastRotated: addDays(NOW, -age),
    lastUsed: addDays(NOW, -1),
    lastUsedService: 's3',
    lastUsedRegion: 'us-east-1',
    ...over,
  };
}

export function row(user: string, keys: ReportKey[], over: Partial<ReportRow> = {}): ReportRow {
  return {
    user,
    arn: `arn:aws:iam::123456789012:user/${user}`,
    isRoot: false,
    userCreationTime: new Date('2024-01-01T00:00:00Z'),
    passwordEnabled: false,
    passwordLastUsed: null,
    mfaActive: false,
    keys,
    ...over,
  };
}

export function accountUser(
  userName: string,
  tags: Record<string, string> = {},
  groups: string[] = [],
): AccountUser {
  return { userName, arn: `arn:aws:iam::123456789012:user/${userName}`, path: '/', tags, groups };
}

export const secretArn = (user: string) =>
  `arn:aws:secretsmanager:us-east-1:123456789012:secret:iam-key-rotator/${user}-AbCdEf`;

export function enrollment(userName: string, over: Partial<Enrollment> = {}): Enrollment {
  return {
    secretArn: secretArn(userName),
    secretName: `iam-key-rotator/${userName}`,
    userName,
    rotationEnabled: true,
    lastRotated: null,
    pendingSince: null,
    ...over,
  };
}

/** An IAM user tagged as bound to its secret, with an owner. */
export const boundUser = (userName: string, tags: Record<string, string> = {}) =>
  accountUser(userName, { 'iam-key-rotator:secret': secretArn(userName), owner: 'Dev@Example.com', ...tags });
