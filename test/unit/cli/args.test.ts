import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  type CommandName,
  commandHelp,
  generalHelp,
  intOption,
  parseCommandLine,
  UsageError,
} from '../../../src/cli/args.js';

const usageError = (argv: string[]): UsageError => {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
};

describe('parseCommandLine', () => {
  it('reads the command, its positional and its options', () => {
    expect(parseCommandLine(['rotate', 'ci-bot', '--wait', '--timeout', '60'])).toEqual({
      command: 'rotate',
      positionals: ['ci-bot'],
      values: { wait: true, timeout: '60' },
    });
  });

  it('takes global options before or after the command', () => {
    const before = parseCommandLine(['--profile', 'prod', '--region=eu-west-1', '-v', 'status', 'alice']);
    expect(before).toEqual({
      command: 'status',
      positionals: ['alice'],
      values: { profile: 'prod', region: 'eu-west-1', verbose: true },
    });
    const after = parseCommandLine(['status', 'alice', '--json', '--profile', 'prod']);
    expect(after.values).toEqual({ json: true, profile: 'prod' });
    expect(after.positionals).toEqual(['alice']);
  });

  it('accepts user names with the characters IAM allows', () => {
    expect(parseCommandLine(['rotate', 'ci+deploy=1,a.b@c_d-e']).positionals).toEqual([
      'ci+deploy=1,a.b@c_d-e',
    ]);
  });

  it('returns no command for a bare --help', () => {
    expect(parseCommandLine(['--help'])).toMatchObject({ command: undefined, values: { help: true } });
  });

  it('lets --help through without the required arguments', () => {
    expect(parseCommandLine(['enroll', '--help'])).toMatchObject({
      command: 'enroll',
      values: { help: true },
    });
  });

  it.each([
    [
      ['frobnicate'],
      'unknown command "frobnicate" (commands: audit, status, rotate, enroll, unenroll)',
      undefined,
    ],
    [['rotate', 'bob', '--force'], 'unknown option --force', 'rotate'],
    [['audit', '--wait'], 'unknown option --wait', 'audit'],
    [['rotate'], 'missing argument: iam-key-rotator rotate <user> [--wait] [--timeout <seconds>]', 'rotate'],
    [['rotate', 'a', 'b'], 'unexpected argument "b"', 'rotate'],
    [['audit', 'now'], 'unexpected argument "now"', 'audit'],
    [['enroll', 'bob', '--owner'], 'option --owner <value> argument missing', 'enroll'],
    [['status', '--region', 'mars'], '--region "mars" is not an AWS region name (e.g. eu-west-1)', 'status'],
    [['status', '--profile='], '--profile must not be empty', 'status'],
  ])('%j is a usage error: %s', (argv, message, command) => {
    const err = usageError(argv);
    expect(err.message).toBe(message);
    expect(err.command).toBe(command);
  });
});

describe('intOption', () => {
  it('reads whole numbers in range and refuses anything else as a usage error', () => {
    expect(intOption({ 'schedule-days': '30' }, 'schedule-days', 'enroll', { min: 1, max: 1000 })).toBe(30);
    expect(intOption({}, 'schedule-days', 'enroll', { min: 1, max: 1000 })).toBeUndefined();
    for (const bad of ['0', '1001', '2.5', '-3', 'ten', '']) {
      expect(() =>
        intOption({ 'schedule-days': bad }, 'schedule-days', 'enroll', { min: 1, max: 1000 }),
      ).toThrow(`--schedule-days must be a whole number from 1 to 1000 (got "${bad}")`);
    }
  });
});

describe('help', () => {
  it('lists every command with its summary', () => {
    const help = generalHelp();
    for (const [name, spec] of Object.entries(COMMANDS))
      expect(help).toContain(`  ${name.padEnd(8)}  ${spec.summary}`);
    expect(help).toMatch(/Exit codes: 0 ok, 1 findings or a failed operation, 2 usage error/);
  });

  it.each(Object.keys(COMMANDS) as CommandName[])(
    '%s --help shows its usage and explains every option',
    (name) => {
      const help = commandHelp(name);
      expect(help.startsWith(`Usage: iam-key-rotator ${COMMANDS[name].usage}\n`)).toBe(true);
      for (const option of Object.keys(COMMANDS[name].options)) expect(help).toContain(`--${option}`);
    },
  );
});
