/**
 * Plain data that flows through the audit: what AWS told us (report rows, account users, bound
 * secrets), what the policy concluded (findings), what it wants done (planned actions) and what
 * happened (results). Nothing here holds a secret access key, a session token or a RotationToken:
 * the types have no field that could carry one, so no formatter can print one.
 */

/** The credential report's two access-key columns: access_key_1 and access_key_2. */
export type KeySlot = 1 | 2;

/** One access key as the credential report describes it (the report never gives key ids). */
export interface ReportKey {
  slot: KeySlot;
  active: boolean;
  /** `access_key_N_last_rotated`: despite the name, the key's creation time. */
  lastRotated: Date;
  lastUsed: Date | null;
  lastUsedService: string | null;
  lastUsedRegion: string | null;
}

/** One row of the credential report. */
export interface ReportRow {
  user: string;
  arn: string;
  /** The `<root_account>` row: its keys are a security finding and are never acted on. */
  isRoot: boolean;
  userCreationTime: Date | null;
  /** `not_supported` (the root row) is null. */
  passwordEnabled: boolean | null;
  passwordLastUsed: Date | null;
  mfaActive: boolean;
  /** Only slots that hold a key (last_rotated not N/A), slot 1 first. */
  keys: ReportKey[];
}

/** A user's tags and groups, from GetAccountAuthorizationDetails. */
export interface AccountUser {
  userName: string;
  arn: string;
  path: string;
  tags: Record<string, string>;
  groups: string[];
}

/** A secret tagged `iam-key-rotator:user = <user>` (from ListSecrets). */
export interface Enrollment {
  secretArn: string;
  secretName: string;
  /** From the secret's `iam-key-rotator:user` tag. */
  userName: string;
  rotationEnabled: boolean;
  /**
   * Optional: classify() works the binding out itself from the user's `iam-key-rotator:secret`
   * tag. When given, it must also be true for the secret to count as bound.
   */
  boundBothWays?: boolean;
  lastRotated: Date | null;
  /** Creation time of a version carrying AWSPENDING but not AWSCURRENT; null when none. */
  pendingSince: Date | null;
  /** The AccessKeyId in AWSCURRENT, when the orchestration read the value. */
  currentKeyId?: string | undefined;
  /** The AccessKeyId in AWSPREVIOUS, when the orchestration read the value. */
  previousKeyId?: string | undefined;
}

/**
 * A key id and creation time (ListAccessKeys), when the orchestration has them for a user. The
 * report has no key ids, so this is the only way to tell which slot holds a secret's AWSCURRENT.
 */
export interface KnownAccessKey {
  accessKeyId: string;
  createDate: Date;
  status?: 'Active' | 'Inactive' | string | undefined;
}

/** Input of classify(): one report row and what else the run knows about that user. */
export interface ClassifyInput {
  row: ReportRow;
  /** Missing when GetAccountAuthorizationDetails did not list the user (deleted meanwhile). */
  user?: AccountUser | undefined;
  /** The user's secret (the one tagged for this user). */
  enrollment?: Enrollment | undefined;
  /** Every secret tagged for this user, when there may be more than one (merged with `enrollment`). */
  enrollments?: readonly Enrollment[] | undefined;
  /** Key ids for this user, when known; matched to slots by creation time. */
  accessKeys?: readonly KnownAccessKey[] | undefined;
}

/** Age status of a key. */
export type AgeStatus = 'ok' | 'warning' | 'expired';
/** `status` of a key finding: its age status, or `inactive` for a deactivated key. */
export type KeyStatus = AgeStatus | 'inactive';
/**
 * The categories a key is counted in. An active key has exactly one age category and, when it
 * has not been used for UNUSED_KEY_DAYS, also `unused`; an inactive key is only `inactive`.
 */
export type KeyCategory = 'ok' | 'warning' | 'expired' | 'unused' | 'inactive';

/**
 * The policy's view of one key.
 *
 * Ages are whole UTC calendar days (`ageInDays`): a key created on 2026-01-01 is 1 day old for
 * all of 2026-01-02. A daily audit therefore sees each age exactly once whatever time of day it
 * runs, which the reminder cadence relies on; the deadline is a date, not a time of day.
 */
export interface KeyFinding {
  userName: string;
  slot: KeySlot;
  /** Known only when the run matched the slot to a key id (ListAccessKeys or the secret). */
  keyId?: string | undefined;
  createdOn: Date;
  ageDays: number;
  lastUsed: Date | null;
  lastUsedService: string | null;
  lastUsedRegion: string | null;
  /** Days since last use; null when never used. */
  daysSinceUse: number | null;
  active: boolean;
  status: KeyStatus;
  /** Active and not used for UNUSED_KEY_DAYS (or never used and at least that old). */
  unused: boolean;
  /** Every category the key counts in (see KeyCategory), age category first. */
  statuses: KeyCategory[];
  /** Midnight UTC of the day the key reaches MAX_KEY_AGE_DAYS. */
  deadline: Date;
  /** MAX_KEY_AGE_DAYS - ageDays: 0 on the deadline, negative after it. */
  daysLeft: number;
  /**
   * Whether this key is the AWSCURRENT of a secret bound to the user: true / false when known,
   * null when a secret is tagged for the user but which key it holds is not known to this run.
   * Keys with `secretCurrent !== false` are never disabled or deleted by enforcement.
   */
  secretCurrent: boolean | null;
}

/** The policy's view of one user (or the root account) and its keys. */
export interface UserFindings {
  userName: string;
  arn: string;
  isRoot: boolean;
  keys: KeyFinding[];
  twoActiveKeys: boolean;
  /**
   * Console password without MFA. For the root account (password_enabled is not_supported)
   * this is simply "root has no MFA".
   */
  consoleWithoutMfa: boolean;
  exempt: boolean;
  exemptReason?: 'tag' | 'group' | undefined;
  /** Lower-cased owner email; absent when unowned. */
  owner?: string | undefined;
  /** The owner tag's raw value when it is not a valid email (the user is then unowned). */
  ownerInvalid?: string | undefined;
  /** A bound secret (both tags agree) with rotation enabled. */
  enrolled: boolean;
  /** The secret the audit rotates (bound both ways), or the first secret tagged for the user. */
  enrollment?: Enrollment | undefined;
  /** Why a secret tagged for the user does not enroll it (binding or rotation off). */
  enrollmentProblem?: string | undefined;
  /** AWSPENDING has been waiting longer than STUCK_ROTATION_HOURS. */
  stuckRotation: boolean;
  /** GetAccountAuthorizationDetails did not list the user: tags unknown, so nothing is changed. */
  detailsMissing: boolean;
  /**
   * The user's IAM path is outside MANAGED_USER_PATH: the functions' roles may not change its keys,
   * so the audit reports it and changes nothing.
   */
  outsideManagedPath: boolean;
}

export type ActionKind = 'rotate' | 'deactivate-previous' | 'clear-stuck' | 'disable' | 'delete';

/**
 * Something the audit wants done. Key actions name the key by slot and creation time (and id when
 * known); before acting, the orchestration resolves the id and re-checks that it is not the
 * AWSCURRENT of the user's secret (DESIGN.md invariant 2).
 */
export interface PlannedAction {
  userName: string;
  kind: ActionKind;
  slot?: KeySlot | undefined;
  keyId?: string | undefined;
  /** Creation time of the key acted on (to find its id with ListAccessKeys). */
  createdOn?: Date | undefined;
  /** rotate / clear-stuck / deactivate-previous: the user's secret. */
  secretArn?: string | undefined;
  reason: string;
  /** When the action became due. */
  due: Date;
}

/** A change the policy would make but will not, because it cannot prove it safe. */
export interface HeldAction {
  userName: string;
  kind: ActionKind;
  slot?: KeySlot | undefined;
  reason: string;
}

/**
 * What happened to a planned action: `done`; `dry-run` (would have been done); `skipped` (the
 * orchestration's last-moment check said no, e.g. the key turned out to be AWSCURRENT); `failed`.
 */
export type ActionOutcome = 'done' | 'dry-run' | 'skipped' | 'failed';

export interface ActionResult extends PlannedAction {
  outcome: ActionOutcome;
  /** Error or skip reason; never contains secret material. */
  message?: string | undefined;
}

/** Something that went wrong outside one action (a user that could not be read, a digest not sent). */
export interface Failure {
  /** What failed: a user name, an owner email, or a step such as "publish". */
  subject: string;
  message: string;
}
