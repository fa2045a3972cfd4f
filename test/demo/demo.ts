/**
 * `npm run demo`: the whole job on a simulated AWS account, offline, in a few seconds.
 *
 * Builds a seeded account of a few hundred IAM users (test/sim: IAM, STS, Secrets Manager and SNS
 * behind the real SDK clients, on a virtual clock), then drives it through the operator CLI's own
 * entry point (src/cli/main.ts), so every line below comes from the code the Lambda functions run:
 * the audit (summary, plus two owner mails exactly as SNS delivered them), enrollment of a user
 * whose key a team kept in a hand-made secret, an immediate rotation of it (the four steps as the
 * rotation function ran them, and its keys before and after), and the audit again.
 */
import { pathToFileURL } from 'node:url';
import { resetClients } from '../../src/aws/clients.js';
import { main } from '../../src/cli/main.js';
import { type Io, paint, processIo, table } from '../../src/cli/output.js';
import { type Config, loadConfig } from '../../src/config.js';
import { enroll } from '../../src/enroll.js';
import { logger } from '../../src/logger.js';
import { rotate } from '../../src/rotation/index.js';
import { type CallEntry, SimAccount, type SimDelivery } from '../sim/index.js';
import { Rng } from '../sim/rng.js';

export const DEMO_USER = 'ci-deployer';
export const DEMO_OWNER = 'platform@example.com';
const STAGE = 'demo';
/** The second audit runs this many (virtual) days after the first, past ROTATION_GRACE_DAYS. */
const LATER_DAYS = 8;
const SECURITY_EMAIL = 'security@example.com';
const EXEMPT_GROUP = 'break-glass';
const TEAMS = [
  'platform',
  'data',
  'payments',
  'search',
  'identity',
  'mobile',
  'growth',
  'infra',
  'analytics',
  'billing',
  'support',
  'ml',
];
const KINDS = ['svc', 'ci', 'app', 'etl', 'bot', 'batch'];

export interface DemoOptions {
  /** Users in the simulated account (default 300). */
  users?: number;
  seed?: number;
  /** Called with the simulated account once it is built (tests inspect it afterwards). */
  onAccount?: (account: DemoAccount) => void;
}

export interface DemoAccount {
  sim: SimAccount;
  /** The environment the CLI reads its settings from (as serverless.yml sets them). */
  env: Record<string, string>;
  cfg: Config;
  topicArn: string;
  rotationFunctionArn: string;
  /** Every call of the rotation function: step, virtual start/end, the AWS calls it made. */
  steps: StepRecord[];
}

export interface StepRecord {
  secretArn: string;
  token: string;
  step: string;
  startedMs: number;
  endedMs: number;
  calls: CallEntry[];
  error?: string;
}

/** Seeds the simulated account. Installs it: every SDK client now talks to it. */
export async function buildDemoAccount(o: DemoOptions = {}): Promise<DemoAccount> {
  const users = o.users ?? 300;
  const rng = new Rng(o.seed ?? 2026);
  const sim = new SimAccount({ seed: o.seed ?? 2026, propagationDelayMs: 8_000 }).install();
  resetClients();

  const topicArn = sim.addTopic(`iam-key-rotator-${STAGE}-alerts`);
  const env: Record<string, string> = {
    TOPIC_ARN: topicArn,
    EXEMPT_GROUP,
    AWS_REGION: sim.region,
  };
  const cfg = loadConfig(env);
  const rotationFunctionArn = sim.rotationFunctionArn(`iam-key-rotator-${STAGE}-rotation`);

  // The rotation function as Secrets Manager invokes it, recording what each step did.
  const steps: StepRecord[] = [];
  sim.registerRotationFunction(rotationFunctionArn, async (event) => {
    const record: StepRecord = {
      secretArn: event.SecretId,
      token: event.ClientRequestToken,
      step: event.Step,
      startedMs: sim.clock.nowMs(),
      endedMs: 0,
      calls: [],
    };
    const first = sim.calls.count();
    try {
      await rotate(event, { config: cfg });
    } catch (err) {
      record.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw err;
    } finally {
      record.endedMs = sim.clock.nowMs();
      record.calls = sim.calls.entries().slice(first);
      steps.push(record);
    }
  });

  sim.addSubscription(topicArn, 'email', SECURITY_EMAIL, { filterPolicy: { audience: ['security'] } });
  for (const team of TEAMS) {
    sim.addSubscription(topicArn, 'email', `${team}@example.com`, {
      filterPolicy: { owner: [`${team}@example.com`] },
    });
  }

  const pick = <T>(list: readonly T[]): T => list[rng.int(list.length)] as T;
  const ageDays = () => {
    const r = rng.next();
    if (r < 0.5) return rng.int(76); // within policy
    if (r < 0.65) return 76 + rng.int(14); // warning window
    return 90 + rng.int(150); // past MAX_KEY_AGE_DAYS
  };
  const lastUsed = (age: number): number | null => {
    const r = rng.next();
    if (r < 0.1) return null; // never used
    if (r < 0.2) return Math.min(age, 46 + rng.int(150)); // unused for a long time
    return Math.min(age, rng.int(30));
  };

  const enrollLater: string[] = [];
  const counters = new Map<string, number>();
  for (let i = 0; i < users; i++) {
    const team = pick(TEAMS);
    const kind = pick(KINDS);
    const base = `${kind}-${team}`;
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    const name = `${base}-${n}`;
    const tags: Record<string, string> = {};
    const r = rng.next();
    if (r < 0.9) tags.owner = `${team}@example.com`;
    else if (r < 0.93) tags.owner = `team-${team}`; // not an email: reported to security
    if (rng.next() < 0.03) tags['iam-key-rotator:exempt'] = 'true';
    sim.addUser(name, { tags, ...(rng.next() < 0.02 && { groups: [EXEMPT_GROUP] }) });

    const shape = rng.next();
    if (shape < 0.1) continue; // no access key
    // A few users are already enrolled (one key, in a bound secret): the audit rotates those due.
    if (i % 25 === 7 && tags.owner?.includes('@')) {
      const age = 60 + rng.int(40);
      const key = sim.addKey(name, { ageDays: age, lastUsedDaysAgo: rng.int(3) });
      sim.addSecret({
        name: `${cfg.secretPrefix}${name}`,
        value: { UserName: name, AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey },
      });
      enrollLater.push(name);
      continue;
    }
    const age = ageDays();
    if (shape < 0.85) {
      sim.addKey(name, { ageDays: age, lastUsedDaysAgo: lastUsed(age) });
    } else {
      // Two keys: an older one, often already deactivated, and a newer one.
      const older = age + 10 + rng.int(60);
      sim.addKey(name, {
        ageDays: older,
        status: rng.next() < 0.6 ? 'Inactive' : 'Active',
        lastUsedDaysAgo: lastUsed(older),
      });
      sim.addKey(name, { ageDays: age, lastUsedDaysAgo: lastUsed(age) });
    }
  }

  // The user the demo enrolls: its team kept the key in a hand-made secret in the older field
  // names (username/accesskey/secretkey) and has not rotated it for 97 days.
  sim.addUser(DEMO_USER, { tags: { owner: DEMO_OWNER } });
  const key = sim.addKey(DEMO_USER, { ageDays: 97, lastUsedDaysAgo: 0, lastUsedService: 'ecr' });
  sim.addSecret({
    name: `${cfg.secretPrefix}${DEMO_USER}`,
    description: 'deploy key, rotated by hand',
    value: {
      username: DEMO_USER,
      accesskey: key.accessKeyId,
      secretkey: key.secretAccessKey,
      registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
    },
  });

  // Users enrolled before today, through the same enrollment code the CLI runs.
  for (const name of enrollLater)
    await enroll({ userName: name, rotationLambdaArn: rotationFunctionArn }, cfg);
  sim.calls.reset();
  return { sim, env, cfg, topicArn, rotationFunctionArn, steps };
}

/** Runs the CLI in-process, writing to the demo's output, and returns its exit code. */
async function cli(io: Io, account: DemoAccount, args: string[]): Promise<number> {
  io.out(`\n${paint(io, 'cyan', `$ iam-key-rotator ${args.join(' ')}`)}\n`);
  return main(args, io, { env: account.env });
}

function heading(io: Io, text: string): void {
  io.out(`\n${paint(io, 'bold', `== ${text} ==`)}\n`);
}

/** Two owner mails of different severity, as the owners' email subscriptions received them. */
function exampleMails(account: DemoAccount, since: number): SimDelivery[] {
  const owned = account.sim
    .deliveries()
    .slice(since)
    .filter((d) => d.attributes.owner !== undefined);
  const chosen: SimDelivery[] = [];
  for (const severity of ['expired', 'warning', 'action']) {
    const mail = owned.find((d) => d.attributes.severity === severity && !chosen.includes(d));
    if (mail && chosen.length < 2) chosen.push(mail);
  }
  for (const d of owned) if (chosen.length < 2 && !chosen.includes(d)) chosen.push(d);
  return chosen;
}

function printMail(io: Io, d: SimDelivery): void {
  const attrs = Object.entries(d.attributes)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  io.out(
    `\n${paint(io, 'gray', `--- mail to ${d.endpoint} (SNS email subscription; attributes ${attrs}) ---`)}\n`,
  );
  io.out(`Subject: ${d.subject ?? ''}\n\n${d.message}\n`);
  io.out(`${paint(io, 'gray', '--- end of mail ---')}\n`);
}

interface KeyState {
  accessKeyId: string;
  status: string;
  ageDays: number;
  stage: string;
}

function keyStates(account: DemoAccount): KeyState[] {
  const { sim } = account;
  const secretId = `${account.cfg.secretPrefix}${DEMO_USER}`;
  const stageOf = (keyId: string) => {
    for (const stage of ['AWSCURRENT', 'AWSPREVIOUS', 'AWSPENDING']) {
      const value = sim.valueAt(secretId, stage);
      if (value?.includes(`"${keyId}"`)) return stage;
    }
    return '-';
  };
  return sim.keys(DEMO_USER).map((k) => ({
    accessKeyId: k.accessKeyId,
    status: k.status,
    ageDays: Math.floor((sim.clock.nowMs() - k.created.getTime()) / 86_400_000),
    stage: stageOf(k.accessKeyId),
  }));
}

const STEP_MEANING: Record<string, string> = {
  createSecret: 'new key created and stored as AWSPENDING',
  setSecret: 'checked the new key exists and is active (IAM already holds it)',
  testSecret: 'STS GetCallerIdentity signed with the new key answered as the user',
  finishSecret: 'AWSCURRENT moved to the new version; the old one is AWSPREVIOUS',
};

function callSummary(calls: CallEntry[]): string {
  const order: string[] = [];
  const counts = new Map<string, { n: number; errors: Map<string, number> }>();
  for (const c of calls) {
    let entry = counts.get(c.op);
    if (!entry) {
      entry = { n: 0, errors: new Map() };
      counts.set(c.op, entry);
      order.push(c.op);
    }
    entry.n++;
    if (c.error) entry.errors.set(c.error, (entry.errors.get(c.error) ?? 0) + 1);
  }
  return order
    .map((op) => {
      const e = counts.get(op) as { n: number; errors: Map<string, number> };
      const errors = [...e.errors].map(([name, n]) => `${n} ${name}`).join(', ');
      return `${op}${e.n > 1 ? ` x${e.n}` : ''}${errors ? ` (${errors})` : ''}`;
    })
    .join(', ');
}

export async function runDemo(io: Io, o: DemoOptions = {}): Promise<number> {
  const savedLevel = logger.getLevelName();
  // The service's JSON logs would bury the demo's output; the CLI prints what matters.
  logger.setLogLevel('SILENT');
  const account = await buildDemoAccount(o);
  o.onAccount?.(account);
  const { sim } = account;
  try {
    const userCount = sim.users().length;
    const keyCount = sim.users().reduce((n, u) => n + sim.keys(u.name).length, 0);
    io.out(
      `${paint(io, 'bold', 'iam-key-rotator demo')}: a simulated AWS account ${sim.accountId} (${sim.region}) with ${userCount} IAM users and ${keyCount} access keys, owners in ${TEAMS.length} teams, a few users already enrolled. Nothing here touches a real AWS account; time is virtual.\n`,
    );

    heading(io, '1. The daily audit');
    const before = sim.deliveries().length;
    const firstAudit = await cli(io, account, ['audit']);
    io.out(`(exit code ${firstAudit}: 1 means expired keys or failures were found)\n`);
    const firstMails = sim.deliveries().length - before;
    const mails = exampleMails(account, before);
    io.out(
      `\nSNS delivered ${firstMails} mails: one digest per owner (filter policy on "owner") and the summary to ${SECURITY_EMAIL} (filter on "audience"). Two of them, exactly as delivered:\n`,
    );
    for (const m of mails) printMail(io, m);

    heading(io, `2. Enroll ${DEMO_USER}`);
    io.out(
      `${DEMO_USER}'s team keeps its 97-day-old key in the hand-made secret ${account.cfg.secretPrefix}${DEMO_USER} (fields username/accesskey/secretkey). Enrolling adopts that secret: consumers keep reading the same place.\n`,
    );
    const enrolled = await cli(io, account, ['enroll', DEMO_USER, '--owner', DEMO_OWNER, '--stage', STAGE]);
    if (enrolled !== 0) return enrolled;

    heading(io, `3. Rotate ${DEMO_USER} now`);
    const keysBefore = keyStates(account);
    const firstStep = account.steps.length;
    const rotated = await cli(io, account, ['rotate', DEMO_USER, '--wait']);
    if (rotated !== 0) return rotated;
    const record = sim.rotations().at(-1);
    const steps = account.steps.slice(firstStep);
    io.out(
      `\nSecrets Manager ran the rotation function ${account.rotationFunctionArn} (attempts: ${record?.attempts ?? '?'}, outcome: ${record?.outcome ?? '?'}):\n`,
    );
    io.out(
      table(
        ['#', 'STEP', 'TOOK', 'WHAT IT DID', 'AWS CALLS'],
        steps.map((s, i) => [
          String(i + 1),
          s.step,
          `${((s.endedMs - s.startedMs) / 1000).toFixed(1)} s`,
          s.error ? paint(io, 'red', s.error) : (STEP_MEANING[s.step] ?? ''),
          callSummary(s.calls),
        ]),
      ),
    );
    const keysAfter = keyStates(account);
    io.out(`\nKeys of ${DEMO_USER} before and after:\n`);
    const ids = [...new Set([...keysBefore, ...keysAfter].map((k) => k.accessKeyId))];
    io.out(
      table(
        ['ACCESS KEY', 'BEFORE', 'AFTER'],
        ids.map((id) => {
          const show = (k: KeyState | undefined) =>
            k ? `${k.status}, ${k.ageDays} d, ${k.stage}` : paint(io, 'gray', 'did not exist');
          return [
            id,
            show(keysBefore.find((k) => k.accessKeyId === id)),
            show(keysAfter.find((k) => k.accessKeyId === id)),
          ];
        }),
      ),
    );
    io.out(
      `The old key stays active ${account.cfg.rotationGraceDays} days (AWSPREVIOUS) so running consumers finish; then the audit deactivates it, and the next rotation deletes it.\n`,
    );
    await cli(io, account, ['status', DEMO_USER]);

    heading(io, `4. The audit again, ${LATER_DAYS} days later`);
    // Advance the virtual clock past the grace period: the credential report is regenerated, and
    // the previous keys of every user rotated above are now due to be deactivated.
    sim.clock.advance(LATER_DAYS * 86_400_000);
    io.out(
      `The virtual clock moves on ${LATER_DAYS} days, past the ${account.cfg.rotationGraceDays}-day grace.\n`,
    );
    const beforeSecond = sim.deliveries().length;
    const secondAudit = await cli(io, account, ['audit']);
    const secondMails = sim.deliveries().length - beforeSecond;
    io.out(
      `(exit code ${secondAudit}.) SNS delivered ${secondMails} mails this time (first run: ${firstMails}): owners are reminded on a cadence (start of the warning period, 7, 3 and 1 days before the limit, the day it expires, weekly after that, and when the audit acts on their keys), not every day.\n`,
    );
    io.out(`\nKeys of ${DEMO_USER} now:\n`);
    io.out(
      table(
        ['ACCESS KEY', 'STATUS', 'AGE', 'STAGE'],
        keyStates(account).map((k) => [k.accessKeyId, k.status, `${k.ageDays} d`, k.stage]),
      ),
    );

    const calls = sim.calls.byOperation();
    io.out(
      `\nDone. AWS calls made by the demo's CLI runs: ${sim.calls.count()} (GetCredentialReport ${calls.GetCredentialReport ?? 0}, GetAccountAuthorizationDetails ${calls.GetAccountAuthorizationDetails ?? 0}, RotateSecret ${calls.RotateSecret ?? 0}). Virtual time now ${sim.clock.now().toISOString()}.\n`,
    );
    return 0;
  } finally {
    sim.restore();
    resetClients();
    logger.setLogLevel(savedLevel);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The SDK's notice about its future Node 22 requirement would interrupt the demo's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.exitCode = await runDemo(processIo());
}
