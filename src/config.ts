import * as z from 'zod/mini';

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

const wholeNumber = (unit: string, fallback: number, min: number, max: number) =>
  z._default(
    z.pipe(
      z.string().check(z.trim(), z.regex(/^\d+$/, `must be a whole number of ${unit}s`)),
      z.pipe(
        z.transform((v: string) => Number(v)),
        z
          .number()
          .check(
            z.minimum(min, `must be at least ${min} ${unit}${min === 1 ? '' : 's'}`),
            z.maximum(max, `must be at most ${max} ${unit}s`),
          ),
      ),
    ),
    fallback,
  );

const days = (fallback: number, min = 0, max = 3650) => wholeNumber('day', fallback, min, max);

const bool = (fallback: boolean) =>
  z._default(
    z.pipe(
      z.string().check(
        z.trim(),
        z.toLowerCase(),
        z.refine((v) => v === 'true' || v === 'false', 'must be "true" or "false"'),
      ),
      z.transform((v: string) => v === 'true'),
    ),
    fallback,
  );

const text = (fallback: string, pattern: RegExp, message: string) =>
  z._default(
    z.string().check(z.trim(), z.minLength(1, 'must not be empty'), z.regex(pattern, message)),
    fallback,
  );

const ENFORCE_LEVELS = ['notify', 'disable', 'delete'] as const;

const schema = z
  .object({
    MAX_KEY_AGE_DAYS: days(90, 1),
    WARN_BEFORE_DAYS: days(14),
    ROTATION_GRACE_DAYS: days(7),
    UNUSED_KEY_DAYS: days(45, 1),
    ENFORCE: z._default(
      z.pipe(
        z.string().check(z.trim(), z.toLowerCase()),
        z.enum(ENFORCE_LEVELS, `must be one of ${ENFORCE_LEVELS.join(', ')}`),
      ),
      'notify',
    ),
    DRY_RUN: bool(false),
    OWNER_TAG_KEY: text(
      'owner',
      /^[\p{L}\p{Z}\p{N}_.:/=+@-]{1,128}$/u,
      'must be a valid IAM tag key (1-128 characters)',
    ),
    EXEMPT_GROUP: z.optional(z.string().check(z.trim())),
    SECRET_PREFIX: text(
      'iam-key-rotator/',
      /^[A-Za-z0-9/_+=.@-]+$/,
      'may contain only letters, digits and /_+=.@-',
    ),
    TOPIC_ARN: z.optional(
      z
        .string()
        .check(
          z.trim(),
          z.regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN'),
        ),
    ),
    VERIFY_BUDGET_SECONDS: wholeNumber('second', 120, 1, 840),
    STUCK_ROTATION_HOURS: wholeNumber('hour', 6, 1, 168),
    ROTATION_SCHEDULE_DAYS: z.optional(days(0, 0, 1000)),
    CREATE_OWNER_SUBSCRIPTIONS: bool(false),
    MANAGED_USER_PATH: text(
      '/',
      /^\/([\x21-\x7e]*\/)?$/,
      'must be an IAM path that starts and ends with / (e.g. / or /ci/)',
    ),
    AWS_REGION: text('us-east-1', /^[a-z0-9-]+$/, 'must be an AWS region name such as us-east-1'),
  })
  .check(
    z.superRefine((c, ctx) => {
      if (c.WARN_BEFORE_DAYS >= c.MAX_KEY_AGE_DAYS) {
        ctx.addIssue({
          code: 'custom',
          input: c.WARN_BEFORE_DAYS,
          path: ['WARN_BEFORE_DAYS'],
          message: `must be smaller than MAX_KEY_AGE_DAYS (${c.MAX_KEY_AGE_DAYS})`,
        });
      }
      if (c.ROTATION_GRACE_DAYS >= c.MAX_KEY_AGE_DAYS) {
        ctx.addIssue({
          code: 'custom',
          input: c.ROTATION_GRACE_DAYS,
          path: ['ROTATION_GRACE_DAYS'],
          message: `must be smaller than MAX_KEY_AGE_DAYS (${c.MAX_KEY_AGE_DAYS}), or no key could stay inside the policy`,
        });
      }
    }),
  );

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
  /** IAM path of the users the rotator may act on (the roles' resource scope). */
  managedUserPath: string;
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
    exemptGroup: r.EXEMPT_GROUP === '' ? undefined : r.EXEMPT_GROUP,
    secretPrefix: r.SECRET_PREFIX,
    topicArn: r.TOPIC_ARN,
    verifyBudgetSeconds: r.VERIFY_BUDGET_SECONDS,
    stuckRotationHours: r.STUCK_ROTATION_HOURS,
    rotationScheduleDays:
      schedule !== undefined && schedule > 0
        ? schedule
        : Math.max(1, r.MAX_KEY_AGE_DAYS - r.ROTATION_GRACE_DAYS - 1),
    createOwnerSubscriptions: r.CREATE_OWNER_SUBSCRIPTIONS,
    managedUserPath: r.MANAGED_USER_PATH,
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
