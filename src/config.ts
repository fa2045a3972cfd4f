import { z } from 'zod';

/**
 * The service's settings, read from the environment once and validated before any AWS call.
 * Nothing else in the code reads process.env: handlers and the CLI call `loadConfig()`.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid setting ${variable}: ${message}`);
  }
}

const days = (fallback: number, max = 3650) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number of days')
    .transform(Number)
    .pipe(z.number().int().min(0).max(max, `must be at most ${max} days`))
    .default(fallback);

const bool = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => v === 'true' || v === 'false', { message: 'must be "true" or "false"' })
    .transform((v) => v === 'true')
    .default(fallback);

const seconds = (fallback: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number of seconds')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1 second').max(max, `must be at most ${max} seconds`))
    .default(fallback);

const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const schema = z
  .object({
    MAX_KEY_AGE_DAYS: days(90).pipe(z.number().min(1, 'must be at least 1 day')),
    WARN_BEFORE_DAYS: days(14),
    ROTATION_GRACE_DAYS: days(7),
    UNUSED_KEY_DAYS: days(45).pipe(z.number().min(1, 'must be at least 1 day')),
    ENFORCE: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['notify', 'disable', 'delete'], { message: 'must be one of notify, disable, delete' }))
      .default('notify'),
    DRY_RUN: bool(false),
    OWNER_TAG_KEY: z.string().trim().min(1, 'must not be empty').max(128).default('owner'),
    EXEMPT_GROUP: optionalText,
    SECRET_PREFIX: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'may contain only letters, digits and /_+=.@-')
      .default('iam-key-rotator/'),
    TOPIC_ARN: optionalText.pipe(
      z
        .string()
        .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN')
        .optional(),
    ),
    VERIFY_BUDGET_SECONDS: seconds(120, 840),
    STUCK_ROTATION_HOURS: z
      .string()
      .trim()
      .regex(/^\d+$/, 'must be a whole number of hours')
      .transform(Number)
      .pipe(z.number().int().min(1).max(168))
      .default(6),
    ROTATION_SCHEDULE_DAYS: days(0).optional(),
    CREATE_OWNER_SUBSCRIPTIONS: bool(false),
    AWS_REGION: z.string().trim().min(1).default('us-east-1'),
  })
  .superRefine((c, ctx) => {
    if (c.WARN_BEFORE_DAYS >= c.MAX_KEY_AGE_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['WARN_BEFORE_DAYS'],
        message: `must be smaller than MAX_KEY_AGE_DAYS (${c.MAX_KEY_AGE_DAYS})`,
      });
    }
    if (c.ROTATION_GRACE_DAYS >= c.MAX_KEY_AGE_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['ROTATION_GRACE_DAYS'],
        message: `must be smaller than MAX_KEY_AGE_DAYS (${c.MAX_KEY_AGE_DAYS}), or no key could stay inside the policy`,
      });
    }
  });

type Raw = z.infer<typeof schema>;

export interface Config {
  maxKeyAgeDays: number;
  warnBeforeDays: number;
  rotationGraceDays: number;
  unusedKeyDays: number;
  enforce: 'notify' | 'disable' | 'delete';
  dryRun: boolean;
  ownerTagKey: string;
  exemptGroup: string | undefined;
  secretPrefix: string;
  topicArn: string | undefined;
  /** How long testSecret keeps retrying a key that is not yet valid. */
  verifyBudgetSeconds: number;
  /** An AWSPENDING version older than this is a stuck rotation. */
  stuckRotationHours: number;
  /**
   * Secrets Manager rotation schedule given to enrolled secrets. Defaults to the day the audit
   * would start a rotation anyway (MAX - GRACE - 1), so both paths agree.
   */
  rotationScheduleDays: number;
  createOwnerSubscriptions: boolean;
  region: string;
}

const VARIABLES = Object.keys(schema.shape) as (keyof Raw)[];

/** Reads and validates the settings; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const name of VARIABLES) {
    const value = env[name];
    // An empty variable means "not set": serverless.yml passes empty params through.
    if (value !== undefined && value.trim() !== '') input[name] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    const received = input[variable];
    const shown = received === undefined ? '' : ` (got ${JSON.stringify(received.slice(0, 80))})`;
    throw new ConfigError(variable, `${issue?.message ?? 'invalid'}${shown}`);
  }
  const r = parsed.data;
  const schedule = r.ROTATION_SCHEDULE_DAYS;
  return {
    maxKeyAgeDays: r.MAX_KEY_AGE_DAYS,
    warnBeforeDays: r.WARN_BEFORE_DAYS,
    rotationGraceDays: r.ROTATION_GRACE_DAYS,
    unusedKeyDays: r.UNUSED_KEY_DAYS,
    enforce: r.ENFORCE,
    dryRun: r.DRY_RUN,
    ownerTagKey: r.OWNER_TAG_KEY,
    exemptGroup: r.EXEMPT_GROUP,
    secretPrefix: r.SECRET_PREFIX,
    topicArn: r.TOPIC_ARN,
    verifyBudgetSeconds: r.VERIFY_BUDGET_SECONDS,
    stuckRotationHours: r.STUCK_ROTATION_HOURS,
    rotationScheduleDays:
      schedule !== undefined && schedule > 0
        ? schedule
        : Math.max(1, r.MAX_KEY_AGE_DAYS - r.ROTATION_GRACE_DAYS - 1),
    createOwnerSubscriptions: r.CREATE_OWNER_SUBSCRIPTIONS,
    region: r.AWS_REGION,
  };
}

let cached: Config | undefined;

/** The process's settings, validated on first use (Lambda cold start) and then reused. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

/** For tests: forget the cached settings. */
export function resetConfig(): void {
  cached = undefined;
}
