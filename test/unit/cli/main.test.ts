import { afterEach, describe, expect, it, vi } from 'vitest';
import { clients, resetClients } from '../../../src/aws/clients.js';
import { COMMANDS, type CommandName } from '../../../src/cli/args.js';
import { type ClientOptions, main, sdkClients } from '../../../src/cli/main.js';
import type { Io } from '../../../src/cli/output.js';
import { logger } from '../../../src/logger.js';

function capture(isTty = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), isTty };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

/** Deps that must never be reached: these runs stop before any AWS work. */
function noAws() {
  const configureClients = vi.fn((_: ClientOptions) => {
    throw new Error('configureClients must not be called');
  });
  return { env: {}, configureClients };
}

afterEach(() => resetClients());

describe('main: help', () => {
  it('--help prints the general help on stdout and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io, noAws())).toBe(0);
    expect(c.stdout()).toMatch(/^iam-key-rotator: /);
    expect(c.stdout()).toContain('Usage: iam-key-rotator [global options] <command> [options]');
    expect(c.stderr()).toBe('');
  });

  it.each(Object.keys(COMMANDS) as CommandName[])(
    '%s --help exits 0 without settings or AWS',
    async (name) => {
      const c = capture();
      const deps = { env: { MAX_KEY_AGE_DAYS: 'broken' }, configureClients: noAws().configureClients };
      expect(await main([name, '--help'], c.io, deps)).toBe(0);
      expect(c.stdout()).toContain(`Usage: iam-key-rotator ${COMMANDS[name].usage}`);
      expect(deps.configureClients).not.toHaveBeenCalled();
    },
  );
});

describe('main: usage errors exit 2 with one line and a pointer to help', () => {
  it('an unknown option', async () => {
    const c = capture();
    expect(await main(['rotate', 'bob', '--now'], c.io, noAws())).toBe(2);
    expect(c.stderr()).toBe('error: unknown option --now\nsee iam-key-rotator rotate --help\n');
    expect(c.stdout()).toBe('');
  });

  it('an unknown command', async () => {
    const c = capture();
    expect(await main(['rotat', 'bob'], c.io, noAws())).toBe(2);
    expect(c.stderr().split('\n')[0]).toBe(
      'error: unknown command "rotat" (commands: audit, status, rotate, enroll, unenroll)',
    );
    expect(c.stderr()).toContain('see iam-key-rotator --help');
  });

  it('no command at all: the help on stderr', async () => {
    const c = capture();
    expect(await main([], c.io, noAws())).toBe(2);
    expect(c.stderr()).toContain('Commands:');
    expect(c.stderr()).toContain('error: no command given');
    expect(c.stdout()).toBe('');
  });

  it('a bad option value the command checks', async () => {
    const c = capture();
    const deps = { env: {}, configureClients: vi.fn() };
    expect(await main(['rotate', 'bob', '--timeout', 'soon'], c.io, deps)).toBe(2);
    expect(c.stderr()).toBe(
      'error: --timeout must be a whole number from 1 to 840 (got "soon")\nsee iam-key-rotator rotate --help\n',
    );
  });

  it('--timeout without --wait', async () => {
    const c = capture();
    const deps = { env: {}, configureClients: vi.fn() };
    expect(await main(['rotate', 'bob', '--timeout', '60'], c.io, deps)).toBe(2);
    expect(c.stderr()).toBe(
      'error: --timeout is how long --wait waits: give --wait too\nsee iam-key-rotator rotate --help\n',
    );
  });

  it('with --json, also a parseable error on stdout', async () => {
    const c = capture();
    expect(await main(['--json', 'enroll'], c.io, noAws())).toBe(2);
    expect(JSON.parse(c.stdout())).toEqual({
      error: {
        type: 'UsageError',
        message: expect.stringContaining('missing argument: iam-key-rotator enroll <user>'),
        exitCode: 2,
      },
    });
  });
});

describe('main: settings', () => {
  it('a bad variable is one line naming it, exit 2, before any AWS client exists', async () => {
    const c = capture();
    const deps = noAws();
    deps.env = { WARN_BEFORE_DAYS: '120' };
    expect(await main(['audit'], c.io, deps)).toBe(2);
    expect(c.stderr()).toBe(
      'error: Invalid setting WARN_BEFORE_DAYS: must be smaller than MAX_KEY_AGE_DAYS (90) (got "120")\n',
    );
    expect(deps.configureClients).not.toHaveBeenCalled();
  });

  it('passes --profile and --region to the client set-up', async () => {
    const c = capture();
    const configureClients = vi.fn((_: ClientOptions) => {
      throw Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      });
    });
    const code = await main(['status', '--profile', 'ops', '--region', 'eu-west-1'], c.io, {
      env: {},
      configureClients,
    });
    expect(configureClients).toHaveBeenCalledWith({ profile: 'ops', region: 'eu-west-1' });
    expect(code).toBe(1);
    expect(c.stderr()).toBe(
      'error: Could not load credentials from any providers (configure credentials: --profile, AWS_PROFILE or the AWS_ACCESS_KEY_ID variables)\n',
    );
  });

  it('no region anywhere is a settings error, exit 2', async () => {
    const c = capture();
    const configureClients = () => {
      throw new Error('Region is missing');
    };
    expect(await main(['status'], c.io, { env: {}, configureClients })).toBe(2);
    expect(c.stderr()).toBe(
      'error: no AWS region: give --region, set AWS_REGION, or use a profile that has one\n',
    );
  });
});

describe('main: failures', () => {
  const boom = () => {
    throw new TypeError('something broke\n  across lines');
  };

  it('an unexpected error is one line naming its class, exit 1, no stack', async () => {
    const c = capture();
    expect(await main(['status'], c.io, { env: {}, configureClients: boom })).toBe(1);
    expect(c.stderr()).toBe('error: TypeError: something broke across lines\n');
  });

  it('--verbose adds the stack', async () => {
    const c = capture();
    expect(await main(['status', '--verbose'], c.io, { env: {}, configureClients: boom })).toBe(1);
    const lines = c.stderr().split('\n');
    expect(lines[0]).toBe('error: TypeError: something broke across lines');
    expect(lines[1]).toBe('TypeError: something broke');
    expect(c.stderr()).toMatch(/\n\s+at .*main\.test\.ts/);
  });

  it('colours "error:" only on a terminal', async () => {
    const c = capture(true);
    await main(['rotate'], c.io, noAws());
    expect(c.stderr().startsWith('\u001b[31merror:\u001b[0m missing argument')).toBe(true);
  });

  it('puts the service logger back as it found it', async () => {
    const level = logger.getLevelName();
    await main(['status'], capture().io, { env: {}, configureClients: boom });
    expect(logger.getLevelName()).toBe(level);
  });
});

describe('sdkClients', () => {
  it('builds clients with the profile and region', async () => {
    sdkClients({ profile: 'ops', region: 'eu-west-1' });
    const { sm, iam, sts } = clients();
    expect(await sm.config.region()).toBe('eu-west-1');
    expect(await iam.config.region()).toBe('eu-west-1');
    expect((sts.config as { profile?: string }).profile).toBe('ops');
    expect((sm.config as { profile?: string }).profile).toBe('ops');
  });

  it('without options, leaves the default clients to the standard chain', async () => {
    sdkClients({ profile: 'ops' });
    const first = clients().sm;
    sdkClients({});
    expect(clients().sm).not.toBe(first);
    expect((clients().sm.config as { profile?: string }).profile).toBeUndefined();
    expect(await clients().sm.config.region()).toBe('us-east-1');
  });
});
