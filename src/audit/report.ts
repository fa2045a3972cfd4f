import { parse } from 'csv-parse/sync';
import { RotatorError } from '../errors.js';
import type { KeySlot, ReportKey, ReportRow } from './types.js';

/**
 * Parses IAM's credential report (CSV). Columns are found by header name, not position: AWS has
 * added columns over the years and documents no order. Columns we rely on must be present; any
 * single unexpected value (`N/A`, `no_information`, `not_supported`, empty, garbage) reads as null
 * rather than failing the whole audit, except a key's creation time, which decides whether a key
 * exists at all.
 */

export class CredentialReportFormatError extends RotatorError {
  override name = 'CredentialReportFormatError';
}

export const ROOT_ACCOUNT = '<root_account>';

const keyColumns = (slot: KeySlot) =>
  [
    `access_key_${slot}_active`,
    `access_key_${slot}_last_rotated`,
    `access_key_${slot}_last_used_date`,
    `access_key_${slot}_last_used_region`,
    `access_key_${slot}_last_used_service`,
  ] as const;

export const REQUIRED_COLUMNS: readonly string[] = [
  'user',
  'arn',
  'user_creation_time',
  'password_enabled',
  'password_last_used',
  'mfa_active',
  ...keyColumns(1),
  ...keyColumns(2),
];

const NO_VALUE = new Set(['', 'n/a', 'no_information', 'not_supported']);

function text(value: string | undefined): string | null {
  const v = value?.trim() ?? '';
  return NO_VALUE.has(v.toLowerCase()) ? null : v;
}

function bool(value: string | undefined): boolean | null {
  const v = text(value)?.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  return null;
}

// The report writes ISO 8601 with an offset (2026-01-02T03:04:05+00:00); accept Z and fractions too.
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function date(value: string | undefined): Date | null {
  const v = text(value);
  if (v === null || !ISO.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : new Date(ms);
}

type Record_ = Record<string, string | undefined>;

function reportKey(record: Record_, slot: KeySlot, user: string): ReportKey | null {
  const [activeCol, rotatedCol, usedCol, regionCol, serviceCol] = keyColumns(slot);
  const rotatedRaw = text(record[rotatedCol]);
  // An empty slot reads N/A: there is no key in it.
  if (rotatedRaw === null) return null;
  const lastRotated = date(rotatedRaw);
  if (lastRotated === null) {
    // Skipping it would hide a key from the audit; a report like this is not one to act on.
    throw new CredentialReportFormatError(
      `credential report row for user ${JSON.stringify(user)}: ${rotatedCol} is not a timestamp (${JSON.stringify(rotatedRaw.slice(0, 40))})`,
    );
  }
  return {
    slot,
    active: bool(record[activeCol]) === true,
    lastRotated,
    lastUsed: date(record[usedCol]),
    lastUsedService: text(record[serviceCol]),
    lastUsedRegion: text(record[regionCol]),
  };
}

/** Parses the report's content (as GetCredentialReport returns it, or as text). */
export function parseCredentialReport(content: Uint8Array | string): ReportRow[] {
  const input = typeof content === 'string' ? content : new TextDecoder('utf-8').decode(content);
  let records: Record_[];
  try {
    records = parse<Record_>(input, {
      bom: true,
      skip_empty_lines: true,
      columns: (header: string[]) => {
        const names = header.map((h) => h.trim());
        const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
        if (missing.length > 0) {
          throw new CredentialReportFormatError(
            `credential report is missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
          );
        }
        return names;
      },
    });
  } catch (err) {
    if (err instanceof CredentialReportFormatError) throw err;
    throw new CredentialReportFormatError(
      `credential report is not valid CSV: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (records.length === 0 && input.trim() === '') {
    throw new CredentialReportFormatError('credential report is empty');
  }

  const rows: ReportRow[] = [];
  for (const record of records) {
    const user = record.user?.trim() ?? '';
    if (user === '') continue;
    const keys: ReportKey[] = [];
    for (const slot of [1, 2] as const) {
      const key = reportKey(record, slot, user);
      if (key) keys.push(key);
    }
    rows.push({
      user,
      arn: record.arn?.trim() ?? '',
      isRoot: user === ROOT_ACCOUNT,
      userCreationTime: date(record.user_creation_time),
      passwordEnabled: bool(record.password_enabled),
      passwordLastUsed: date(record.password_last_used),
      mfaActive: bool(record.mfa_active) === true,
      keys,
    });
  }
  return rows;
}
