import {
  CredentialReportExpiredException,
  CredentialReportNotPresentException,
  CredentialReportNotReadyException,
  GenerateCredentialReportCommand,
  GetCredentialReportCommand,
} from '@aws-sdk/client-iam';
import type { CommandClass, KeyRecord, OpSpec, SimContext } from './context.js';
import { isoSeconds, op } from './context.js';
import { meta } from './errors.js';
import type { IamModel, UserRecord } from './iam.js';

/** The 22 columns, in the order AWS writes them. */
export const CREDENTIAL_REPORT_COLUMNS = [
  'user',
  'arn',
  'user_creation_time',
  'password_enabled',
  'password_last_used',
  'password_last_changed',
  'password_next_rotation',
  'mfa_active',
  'access_key_1_active',
  'access_key_1_last_rotated',
  'access_key_1_last_used_date',
  'access_key_1_last_used_region',
  'access_key_1_last_used_service',
  'access_key_2_active',
  'access_key_2_last_rotated',
  'access_key_2_last_used_date',
  'access_key_2_last_used_region',
  'access_key_2_last_used_service',
  'cert_1_active',
  'cert_1_last_rotated',
  'cert_2_active',
  'cert_2_last_rotated',
] as const;

/** IAM regenerates the report at most every 4 hours; older reports are "expired". */
export const REPORT_MAX_AGE_MS = 4 * 3_600_000;
/** How long generation takes in the simulator (virtual). */
export const REPORT_GENERATION_MS = 5_000;
/** AWS records last use in 15-minute windows. */
const WINDOW_MS = 15 * 60_000;

/** RFC 4180: quote a field holding a comma, quote or line break; double inner quotes. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

const roundDown = (d: Date) => new Date(Math.floor(d.getTime() / WINDOW_MS) * WINDOW_MS);

function keyColumns(key: KeyRecord | undefined): string[] {
  if (!key) return ['false', 'N/A', 'N/A', 'N/A', 'N/A'];
  const used = key.lastUsed;
  return [
    key.status === 'Active' ? 'true' : 'false',
    isoSeconds(key.created),
    used ? isoSeconds(roundDown(used)) : 'N/A',
    used ? (key.lastUsedRegion ?? 'N/A') : 'N/A',
    used ? (key.lastUsedService ?? 'N/A') : 'N/A',
  ];
}

function userRow(user: UserRecord): string[] {
  const pw = user.password;
  return [
    user.name,
    user.arn,
    isoSeconds(user.created),
    pw ? 'true' : 'false',
    pw ? (pw.lastUsed ? isoSeconds(roundDown(pw.lastUsed)) : 'no_information') : 'N/A',
    pw ? isoSeconds(pw.lastChanged) : 'N/A',
    'N/A',
    user.mfa ? 'true' : 'false',
    ...keyColumns(user.keys[0]),
    ...keyColumns(user.keys[1]),
    'false',
    'N/A',
    'false',
    'N/A',
  ];
}

interface Report {
  started: number;
  ready: number;
  csv: string;
}

/** GenerateCredentialReport / GetCredentialReport with AWS's states and 4-hour reuse. */
export class CredentialReportModel {
  private report: Report | undefined;
  readonly accountCreated: Date;

  constructor(
    private readonly ctx: SimContext,
    private readonly iam: IamModel,
  ) {
    this.accountCreated = new Date(ctx.clock.nowMs() - 400 * 86_400_000);
  }

  /** The CSV as it would be generated now. */
  render(): string {
    const rows: string[][] = [CREDENTIAL_REPORT_COLUMNS.slice()];
    rows.push([
      '<root_account>',
      `arn:aws:iam::${this.ctx.accountId}:root`,
      isoSeconds(this.accountCreated),
      'not_supported',
      'no_information',
      'not_supported',
      'not_supported',
      'true',
      'false',
      'N/A',
      'N/A',
      'N/A',
      'N/A',
      'false',
      'N/A',
      'N/A',
      'N/A',
      'N/A',
      'false',
      'N/A',
      'false',
      'N/A',
    ]);
    for (const user of this.iam.userOrder) rows.push(userRow(user));
    return rows.map((r) => r.map(csvField).join(',')).join('\n');
  }

  /** Forget the report (as if it had never been generated). */
  clear(): void {
    this.report = undefined;
  }

  state(): 'none' | 'inprogress' | 'complete' | 'expired' {
    const r = this.report;
    if (!r) return 'none';
    const now = this.ctx.clock.nowMs();
    if (now < r.ready) return 'inprogress';
    return now - r.started >= REPORT_MAX_AGE_MS ? 'expired' : 'complete';
  }

  ops(): Array<[CommandClass, OpSpec]> {
    return [
      op('iam', GenerateCredentialReportCommand, () => {
        const state = this.state();
        if (state === 'inprogress')
          return { State: 'INPROGRESS' as const, Description: 'Report generation in progress' };
        if (state === 'complete') return { State: 'COMPLETE' as const };
        const now = this.ctx.clock.nowMs();
        // The CSV is what the account looks like now; later changes wait for the next report.
        this.report = { started: now, ready: now + REPORT_GENERATION_MS, csv: this.render() };
        return {
          State: 'STARTED' as const,
          Description:
            state === 'none'
              ? 'No report exists. Starting a new report generation task'
              : 'Report expired. Starting a new report generation task',
        };
      }),
      op('iam', GetCredentialReportCommand, () => {
        const state = this.state();
        const r = this.report;
        if (state === 'none' || !r) {
          throw new CredentialReportNotPresentException({
            message:
              'The credential report does not exist. To generate a credential report, use GenerateCredentialReport.',
            $metadata: meta(410),
          });
        }
        if (state === 'inprogress') {
          throw new CredentialReportNotReadyException({
            message: 'The credential report is still being generated.',
            $metadata: meta(404),
          });
        }
        if (state === 'expired') {
          throw new CredentialReportExpiredException({
            message:
              'The credential report has expired. To generate a new credential report, use GenerateCredentialReport.',
            $metadata: meta(410),
          });
        }
        return {
          Content: new TextEncoder().encode(r.csv),
          ReportFormat: 'text/csv' as const,
          GeneratedTime: new Date(r.started),
        };
      }),
    ];
  }
}
