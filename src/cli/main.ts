import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import { resetClients, setClients } from '../aws/clients.js';
import { type Config, ConfigError, loadConfig } from '../config.js';
import { EnrollInputError } from '../enroll.js';
import { RotationEventError, RotatorError } from '../errors.js';
import { logger } from '../logger.js';
import {
  type CommandName,
  commandHelp,
  generalHelp,
  PROGRAM,
  parseCommandLine,
  UsageError,
  type Values,
} from './args.js';
import { auditCommand } from './commands/audit.js';
import { enrollCommand, unenrollCommand } from './commands/enroll.js';
import { rotateCommand } from './commands/rotate.js';
import { statusCommand } from './commands/status.js';
import type { CommandContext } from './context.js';
import { type Io, paint, printJson } from './output.js';

/**
 * The operator command line: `iam-key-rotator <command>`. The same code the Lambda functions run
 * (runAudit, rotateNow, enroll), with credentials from the standard AWS chain (--profile,
 * --region) and settings from the environment, validated by loadConfig like at a cold start.
 * Returns the exit code: 0 ok, 1 findings or a failed operation, 2 usage error.
 */

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface ClientOptions {
  profile?: string | undefined;
  region?: string | undefined;
}

export interface MainDeps {
  /** Where settings are read from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Builds the shared SDK clients for --profile/--region (default: new SDK clients). */
  configureClients?: (options: ClientOptions) => void;
}

/**
 * Fresh SDK clients for this run. The profile and region go into each client's configuration,
 * which the SDK's default chain honours for credentials and region; endpoints are left to the SDK
 * (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>).
 */
export function sdkClients(options: ClientOptions): void {
  resetClients();
  if (options.profile === undefined && options.region === undefined) return;
  const config = {
    ...(options.profile !== undefined && { profile: options.profile }),
    ...(options.region !== undefined && { region: options.region }),
  };
  setClients({
    // IAM is global: without a region anywhere, sign for us-east-1 as src/aws/clients.ts does.
    iam: new IAMClient({ region: options.region ?? process.env.AWS_REGION ?? 'us-east-1', ...config }),
    sm: new SecretsManagerClient(config),
    sns: new SNSClient(config),
    sts: new STSClient(config),
  });
}

const EXIT_2_ERRORS = [UsageError, ConfigError, RotationEventError, EnrollInputError];

/** The SDK's plain Error when neither --region, AWS_REGION nor the profile names a region. */
const isMissingRegion = (err: unknown): boolean =>
  err instanceof Error && err.message === 'Region is missing';

function exitCodeOf(err: unknown): number {
  return EXIT_2_ERRORS.some((E) => err instanceof E) || isMissingRegion(err) ? EXIT_USAGE : EXIT_FAILED;
}

/** The error as one line. Our errors' messages stand alone; an SDK error is named by its class. */
function oneLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (isMissingRegion(err))
    return 'no AWS region: give --region, set AWS_REGION, or use a profile that has one';
  // Our errors' messages say what is wrong on their own; anything else is named by its class.
  const own =
    err instanceof RotatorError ||
    err instanceof UsageError ||
    err instanceof ConfigError ||
    err.name === 'CredentialsProviderError';
  let text = own ? err.message : `${err.name}: ${err.message}`;
  if (err.name === 'CredentialsProviderError') {
    text += ' (configure credentials: --profile, AWS_PROFILE or the AWS_ACCESS_KEY_ID variables)';
  }
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function stackOf(err: unknown): string {
  const lines: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    lines.push(
      `${depth === 0 ? '' : 'caused by: '}${current.stack ?? `${current.name}: ${current.message}`}`,
    );
    current = current.cause;
  }
  return lines.join('\n');
}

/**
 * The service logs JSON lines through the one Powertools logger. On a terminal they are noise, and
 * on stdout they would break --json: silence them, or with --verbose send them to stderr.
 */
function quietLogs(io: Io, verbose: boolean): () => void {
  const holder = logger as unknown as { console: Console };
  const savedConsole = holder.console;
  const savedLevel = logger.getLevelName();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      io.err(String(chunk));
      done();
    },
  });
  holder.console = new Console({ stdout: sink, stderr: sink });
  logger.setLogLevel(verbose ? 'DEBUG' : 'SILENT');
  return () => {
    holder.console = savedConsole;
    logger.setLogLevel(savedLevel);
  };
}

const RUN: Record<CommandName, (ctx: CommandContext) => Promise<number>> = {
  audit: auditCommand,
  status: statusCommand,
  rotate: rotateCommand,
  enroll: enrollCommand,
  unenroll: unenrollCommand,
};

export async function main(argv: readonly string[], io: Io, deps: MainDeps = {}): Promise<number> {
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  let command: CommandName | undefined;

  const fail = (err: unknown): number => {
    const code = exitCodeOf(err);
    const message = oneLine(err);
    io.err(`${paint(io, 'red', 'error:')} ${message}\n`);
    if (err instanceof UsageError) {
      io.err(`see ${PROGRAM} ${err.command ?? command ?? ''}${(err.command ?? command) ? ' ' : ''}--help\n`);
    } else if (verbose) {
      io.err(`${stackOf(err)}\n`);
    }
    if (json) {
      const type = err instanceof Error ? err.name : 'Error';
      printJson(io, { error: { type, message, exitCode: code } });
    }
    return code;
  };

  let values: Values;
  let positionals: string[];
  try {
    const parsed = parseCommandLine(argv);
    command = parsed.command;
    values = parsed.values;
    positionals = parsed.positionals;
  } catch (err) {
    return fail(err);
  }

  if (command === undefined) {
    if (values.help) {
      io.out(generalHelp());
      return EXIT_OK;
    }
    io.err(generalHelp());
    return fail(new UsageError('no command given'));
  }
  if (values.help) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }

  let cfg: Config;
  try {
    cfg = loadConfig(deps.env ?? process.env);
  } catch (err) {
    return fail(err);
  }
  const region = values.region as string | undefined;
  if (region !== undefined) cfg = { ...cfg, region };

  const restoreLogs = quietLogs(io, verbose);
  try {
    (deps.configureClients ?? sdkClients)({ profile: values.profile as string | undefined, region });
    return await RUN[command]({ io, cfg, json, verbose, values, positionals, command });
  } catch (err) {
    return fail(err);
  } finally {
    restoreLogs();
  }
}
