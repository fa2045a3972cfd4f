import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * The command line's grammar: global options, the commands with their own options, and the help
 * texts. Parsing is strict (node:util parseArgs): an unknown option or a missing value is a usage
 * error, exit code 2.
 */

export const PROGRAM = 'iam-key-rotator';

export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The command whose help to point at, when known. */
    readonly command?: string | undefined,
  ) {
    super(message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS = {
  profile: { type: 'string' },
  region: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export type CommandName = 'audit' | 'status' | 'rotate' | 'enroll' | 'unenroll';

interface CommandSpec {
  summary: string;
  usage: string;
  options: Options;
  /** Lowest and highest number of positional arguments. */
  positionals: [number, number];
  help: string;
}

export const COMMANDS: Record<CommandName, CommandSpec> = {
  audit: {
    summary: 'audit every access key in the account, notify owners, rotate enrolled users that are due',
    usage: 'audit [--dry-run] [--json]',
    options: { 'dry-run': { type: 'boolean' } },
    positionals: [0, 0],
    help: `Runs the same audit as the daily Lambda: reads the credential report, classifies every access
key against the key-age policy, rotates enrolled users that are due, retires previous keys after
their grace period, applies ENFORCE to users that are not enrolled, and publishes one digest per
owner and one summary to the security audience on TOPIC_ARN (when it is set).

Options:
  --dry-run   change nothing and send nothing; report what would have been done

Exit code 1 when an active key is past MAX_KEY_AGE_DAYS or anything failed.`,
  },
  status: {
    summary: 'show one user (keys, ages, stages, last and next rotation) or every enrolled user',
    usage: 'status [user]',
    options: {},
    positionals: [0, 1],
    help: `Without a user: every secret bound to a user (one ListSecrets call per 100 secrets), with its
rotation state. With a user: its access keys (status, age, last use, which staging label of the
bound secret holds each), the secret's rotation (last, next, pending) and anything wrong with the
binding. Reads secret values only to learn which key id each version holds; never prints a secret.`,
  },
  rotate: {
    summary: "rotate one enrolled user's key now (Secrets Manager RotateSecret)",
    usage: 'rotate <user> [--wait] [--timeout <seconds>]',
    options: { wait: { type: 'boolean' }, timeout: { type: 'string' } },
    positionals: [1, 1],
    help: `Starts an immediate rotation of the user's bound secret, as "Rotate secret immediately" in the
console does. Checks first that the user is enrolled, rotation is enabled, no rotation is under way
and the user has room for a new key; on any error nothing has changed.

Options:
  --wait               follow the rotation until the new key is AWSCURRENT; print the new key id
  --timeout <seconds>  how long --wait waits (default 280, at most 840)`,
  },
  enroll: {
    summary: 'put a user under management: secret, binding tags, fresh key, rotation schedule',
    usage:
      'enroll <user> --owner <email> [--rotation-function <name|arn>] [--stage <stage>] [--schedule-days <n>]',
    options: {
      owner: { type: 'string' },
      'rotation-function': { type: 'string' },
      stage: { type: 'string' },
      'schedule-days': { type: 'string' },
    },
    positionals: [1, 1],
    help: `Creates the secret <SECRET_PREFIX><user> holding a freshly created key of the user (or adopts an
existing secret that already holds one of the user's keys), tags the secret and the user with
each other, sets the owner tag, and attaches the rotation function with a schedule. A user that
already has two keys is refused (IAM allows two, and a new one is needed): delete the unused one.

Options:
  --owner <email>                  who hears about this user's keys (the owner tag); required unless
                                   the user already has one
  --rotation-function <name|arn>   the deployed rotation function (default:
                                   iam-key-rotator-<stage>-rotation in this account and region)
  --stage <stage>                  serverless stage of the default function (default dev)
  --schedule-days <n>              rotation schedule in days (default ROTATION_SCHEDULE_DAYS, or
                                   MAX_KEY_AGE_DAYS - ROTATION_GRACE_DAYS - 1)`,
  },
  unenroll: {
    summary: 'stop managing a user: remove the binding tags and the rotation schedule, keep the keys',
    usage: 'unenroll <user>',
    options: {},
    positionals: [1, 1],
    help: `Cancels the secret's rotation schedule and removes both binding tags. The secret and every access
key stay as they are, so nothing that uses the key breaks.`,
  },
};

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

export function generalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const commands = Object.entries(COMMANDS)
    .map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.summary}`)
    .join('\n');
  return `${PROGRAM}: keeps IAM users' access keys young (Secrets Manager rotation, key-age audit, owner mails)

Usage: ${PROGRAM} [global options] <command> [options]

Commands:
${commands}

Global options:
  --profile <name>    AWS profile for credentials and region (default: the standard chain)
  --region <region>   AWS region (default: AWS_REGION, then the profile's)
  --json              machine-readable output on stdout
  --verbose, -v       log what happens on stderr; show stack traces of errors
  --help, -h          this help; ${PROGRAM} <command> --help for one command

Settings come from the environment as in the Lambda functions (MAX_KEY_AGE_DAYS, TOPIC_ARN, ...;
see the README). AWS_ENDPOINT_URL is honoured (LocalStack, moto).
Exit codes: 0 ok, 1 findings or a failed operation, 2 usage error.
`;
}

export function commandHelp(name: CommandName): string {
  const spec = COMMANDS[name];
  return `Usage: ${PROGRAM} ${spec.usage}

${spec.summary[0]?.toUpperCase()}${spec.summary.slice(1)}.

${spec.help}

Global options: --profile <name>, --region <region>, --json, --verbose, --help (see ${PROGRAM} --help).
`;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Parsed {
  /** Undefined: no command given (general help). */
  command: CommandName | undefined;
  values: Values;
  positionals: string[];
}

const TAKES_VALUE = new Set(['--profile', '--region']);

/** Index of the command word: the first argument that is neither an option nor a global option's value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (TAKES_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (!arg.startsWith('-')) return i;
  }
  return -1;
}

/** One clear line from parseArgs' error (its messages run on with advice about `--`). */
function parseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = (e.message ?? String(err)).replace(/\s+/g, ' ').trim();
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return `unknown option ${option ?? message}`;
  }
  const first = message.split(/\.\s/)[0] ?? message;
  return first.replace(/^Option '([^']+)'/, 'option $1');
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  const index = commandIndex(argv);
  const word = index >= 0 ? argv[index] : undefined;
  if (word !== undefined && !isCommand(word)) {
    throw new UsageError(`unknown command "${word}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
  }
  const command = word as CommandName | undefined;
  const spec = command ? COMMANDS[command] : undefined;
  const rest = index >= 0 ? [...argv.slice(0, index), ...argv.slice(index + 1)] : [...argv];
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...(spec?.options ?? {}) },
      strict: true,
      allowPositionals: true,
    }) as { values: Values; positionals: string[] };
  } catch (err) {
    throw new UsageError(parseError(err), command);
  }
  const { values, positionals } = parsed;
  if (spec && !values.help) {
    const [min, max] = spec.positionals;
    if (positionals.length < min) {
      throw new UsageError(`missing argument: ${PROGRAM} ${spec.usage}`, command);
    }
    if (positionals.length > max) {
      throw new UsageError(`unexpected argument "${positionals[max]}"`, command);
    }
  } else if (!spec && positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  }
  for (const name of ['profile', 'region'] as const) {
    const v = values[name];
    if (typeof v === 'string' && v.trim() === '')
      throw new UsageError(`--${name} must not be empty`, command);
  }
  if (typeof values.region === 'string' && !/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(values.region)) {
    throw new UsageError(`--region "${values.region}" is not an AWS region name (e.g. eu-west-1)`, command);
  }
  return { command, values, positionals };
}

/** A whole number option (`--schedule-days 30`): usage error when it is not one. */
export function intOption(
  values: Values,
  name: string,
  command: CommandName,
  range: { min: number; max: number },
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(
      `--${name} must be a whole number from ${range.min} to ${range.max} (got "${text}")`,
      command,
    );
  }
  return n;
}
