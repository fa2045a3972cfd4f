import { describe, expect, it } from 'vitest';
import { CredentialReportFormatError, parseCredentialReport } from '../../../src/audit/report.js';

const HEADER =
  'user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated';

const ROOT =
  '<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2026-03-01T10:00:00+00:00,not_supported,not_supported,true,true,2025-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A';
const ALICE =
  'alice+ops=1@x.y_z-w,arn:aws:iam::123456789012:user/alice+ops=1@x.y_z-w,2024-05-06T07:08:09+00:00,true,no_information,2024-05-06T07:08:09+00:00,N/A,false,true,2026-01-02T03:04:05+00:00,2026-03-30T12:15:00+00:00,eu-west-1,s3,false,2025-10-01T00:00:00+00:00,2025-12-01T00:00:00+00:00,us-east-1,iam,false,N/A,false,N/A';
const BOB =
  'bob,arn:aws:iam::123456789012:user/bob,2024-05-06T07:08:09+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,true,2026-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A';

const report = (...rows: string[]) => `${[HEADER, ...rows].join('\n')}\n`;

describe('parseCredentialReport', () => {
  it('reads users, flags and both key slots by column name', () => {
    const rows = parseCredentialReport(report(ALICE));
    expect(rows).toEqual([
      {
        user: 'alice+ops=1@x.y_z-w',
        arn: 'arn:aws:iam::123456789012:user/alice+ops=1@x.y_z-w',
        isRoot: false,
        userCreationTime: new Date('2024-05-06T07:08:09Z'),
        passwordEnabled: true,
        passwordLastUsed: null,
        mfaActive: false,
        keys: [
          {
            slot: 1,
            active: true,
            lastRotated: new Date('2026-01-02T03:04:05Z'),
            lastUsed: new Date('2026-03-30T12:15:00Z'),
            lastUsedRegion: 'eu-west-1',
            lastUsedService: 's3',
          },
          {
            slot: 2,
            active: false,
            lastRotated: new Date('2025-10-01T00:00:00Z'),
            lastUsed: new Date('2025-12-01T00:00:00Z'),
            lastUsedRegion: 'us-east-1',
            lastUsedService: 'iam',
          },
        ],
      },
    ]);
  });

  it('accepts the content as bytes, the way GetCredentialReport returns it', () => {
    const rows = parseCredentialReport(new TextEncoder().encode(report(ALICE, BOB)));
    expect(rows.map((r) => r.user)).toEqual(['alice+ops=1@x.y_z-w', 'bob']);
  });

  it('omits a slot whose last_rotated is N/A and keeps the other slot number', () => {
    const [bob] = parseCredentialReport(report(BOB));
    expect(bob?.keys).toEqual([
      {
        slot: 2,
        active: true,
        lastRotated: new Date('2026-02-01T00:00:00Z'),
        lastUsed: null,
        lastUsedRegion: null,
        lastUsedService: null,
      },
    ]);
    expect(bob?.passwordEnabled).toBe(false);
  });

  it('keeps the root row, flagged, with not_supported read as null', () => {
    const [root] = parseCredentialReport(report(ROOT));
    expect(root).toMatchObject({
      user: '<root_account>',
      isRoot: true,
      passwordEnabled: null,
      passwordLastUsed: new Date('2026-03-01T10:00:00Z'),
      mfaActive: true,
    });
    expect(root?.keys).toHaveLength(1);
    expect(root?.keys[0]).toMatchObject({ slot: 1, active: true, lastUsed: null, lastUsedService: null });
  });

  it('finds columns whatever their order and ignores columns it does not use', () => {
    const cols = HEADER.split(',');
    const values = ALICE.split(',');
    const order = cols.map((_, i) => i).reverse();
    const shuffled = [
      [...order.map((i) => cols[i]), 'some_new_column'].join(','),
      [...order.map((i) => values[i]), 'whatever'].join(','),
    ].join('\n');
    expect(parseCredentialReport(shuffled)).toEqual(parseCredentialReport(report(ALICE)));
  });

  it('reads unexpected values as null instead of failing the audit', () => {
    const odd = ALICE.replace('2026-03-30T12:15:00+00:00', 'yesterday').replace(
      ',true,no_information',
      ',maybe,',
    );
    const [row] = parseCredentialReport(report(odd));
    expect(row?.passwordEnabled).toBeNull();
    expect(row?.passwordLastUsed).toBeNull();
    expect(row?.keys[0]?.lastUsed).toBeNull();
  });

  it('skips rows without a user name and blank lines', () => {
    const blankUser = BOB.replace(/^bob/, '');
    expect(parseCredentialReport(report(blankUser, '', ALICE)).map((r) => r.user)).toEqual([
      'alice+ops=1@x.y_z-w',
    ]);
  });

  it('reads a quoted user name holding a comma (IAM allows +=,.@_-)', () => {
    const quoted = BOB.replace(
      /^bob,arn:aws:iam::123456789012:user\/bob/,
      '"svc,ops",arn:aws:iam::123456789012:user/svc,ops',
    );
    const [row] = parseCredentialReport(
      report(
        quoted.replace(
          ',arn:aws:iam::123456789012:user/svc,ops',
          ',"arn:aws:iam::123456789012:user/svc,ops"',
        ),
      ),
    );
    expect(row?.user).toBe('svc,ops');
    expect(row?.arn).toBe('arn:aws:iam::123456789012:user/svc,ops');
    expect(row?.keys[0]?.slot).toBe(2);
  });

  it('handles a UTF-8 byte order mark and CRLF line ends', () => {
    const rows = parseCredentialReport(`\uFEFF${HEADER}\r\n${BOB}\r\n`);
    expect(rows[0]?.user).toBe('bob');
  });

  it('fails naming every missing column it needs', () => {
    const header = HEADER.replace('mfa_active,', '').replace(',access_key_2_last_rotated', '');
    expect(() => parseCredentialReport(`${header}\n`)).toThrow(CredentialReportFormatError);
    expect(() => parseCredentialReport(`${header}\n`)).toThrow(
      'credential report is missing columns mfa_active, access_key_2_last_rotated',
    );
  });

  it('fails on an empty report', () => {
    expect(() => parseCredentialReport('')).toThrow('credential report is empty');
  });

  it('fails when a key creation time is garbage, naming the user and the column', () => {
    const bad = BOB.replace('2026-02-01T00:00:00+00:00', 'soon');
    expect(() => parseCredentialReport(report(bad))).toThrow(
      'credential report row for user "bob": access_key_2_last_rotated is not a timestamp ("soon")',
    );
  });

  it('wraps CSV syntax errors in its own error', () => {
    expect(() => parseCredentialReport(`${HEADER}\nbob,"unterminated`)).toThrow(CredentialReportFormatError);
  });
});
