import {
  CredentialReportExpiredException,
  CredentialReportNotPresentException,
  CredentialReportNotReadyException,
  GenerateCredentialReportCommand,
  GetCredentialReportCommand,
  IAMClient,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CREDENTIAL_REPORT_COLUMNS, SimAccount } from './index.js';

let sim: SimAccount;
let iam: IAMClient;
beforeEach(() => {
  sim = new SimAccount({ start: new Date('2026-06-01T12:00:00Z') }).install();
  iam = new IAMClient({});
});
afterEach(() => sim.restore());

const generate = async () => (await iam.send(new GenerateCredentialReportCommand({}))).State;
const rows = async () => {
  const out = await iam.send(new GetCredentialReportCommand({}));
  expect(out.ReportFormat).toBe('text/csv');
  return parse(new TextDecoder().decode(out.Content), { columns: true }) as Record<string, string>[];
};

describe('credential report states', () => {
  it('goes STARTED → INPROGRESS → COMPLETE and is reused for four hours', async () => {
    await expect(iam.send(new GetCredentialReportCommand({}))).rejects.toBeInstanceOf(
      CredentialReportNotPresentException,
    );
    expect(await generate()).toBe('STARTED');
    expect(await generate()).toBe('INPROGRESS');
    await expect(iam.send(new GetCredentialReportCommand({}))).rejects.toBeInstanceOf(
      CredentialReportNotReadyException,
    );
    await sim.clock.sleep(5_000);
    expect(await generate()).toBe('COMPLETE');
    const first = await iam.send(new GetCredentialReportCommand({}));
    expect(first.GeneratedTime).toEqual(new Date('2026-06-01T12:00:00Z'));
    sim.clock.advance(4 * 3_600_000 - 5_001);
    expect(await generate()).toBe('COMPLETE');
    const reused = await iam.send(new GetCredentialReportCommand({}));
    expect(reused.GeneratedTime).toEqual(first.GeneratedTime);
    sim.clock.advance(1);
    await expect(iam.send(new GetCredentialReportCommand({}))).rejects.toBeInstanceOf(
      CredentialReportExpiredException,
    );
    expect(await generate()).toBe('STARTED');
    sim.clock.advance(5_000);
    expect((await iam.send(new GetCredentialReportCommand({}))).GeneratedTime).toEqual(
      new Date('2026-06-01T16:00:00Z'),
    );
  });

  it('is a snapshot taken at generation time', async () => {
    sim.addUser('alice');
    await generate();
    sim.addUser('bob');
    sim.clock.advance(5_000);
    expect((await rows()).map((r) => r.user)).toEqual(['<root_account>', 'alice']);
  });
});

describe('credential report content', () => {
  it('has the 22 AWS columns, the root row first and AWS values', async () => {
    sim.addUser('nokeys', { createdDaysAgo: 10 });
    await generate();
    sim.clock.advance(5_000);
    const out = await iam.send(new GetCredentialReportCommand({}));
    const text = new TextDecoder().decode(out.Content);
    expect(text.split('\n')[0]).toBe(CREDENTIAL_REPORT_COLUMNS.join(','));
    expect(CREDENTIAL_REPORT_COLUMNS).toHaveLength(22);
    const [root, user] = parse(text, { columns: true }) as Record<string, string>[];
    expect(root).toMatchObject({
      user: '<root_account>',
      arn: 'arn:aws:iam::123456789012:root',
      password_enabled: 'not_supported',
      password_last_changed: 'not_supported',
      password_next_rotation: 'not_supported',
      access_key_1_active: 'false',
      access_key_1_last_rotated: 'N/A',
    });
    expect(user).toEqual({
      user: 'nokeys',
      arn: 'arn:aws:iam::123456789012:user/nokeys',
      user_creation_time: '2026-05-22T12:00:00+00:00',
      password_enabled: 'false',
      password_last_used: 'N/A',
      password_last_changed: 'N/A',
      password_next_rotation: 'N/A',
      mfa_active: 'false',
      access_key_1_active: 'false',
      access_key_1_last_rotated: 'N/A',
      access_key_1_last_used_date: 'N/A',
      access_key_1_last_used_region: 'N/A',
      access_key_1_last_used_service: 'N/A',
      access_key_2_active: 'false',
      access_key_2_last_rotated: 'N/A',
      access_key_2_last_used_date: 'N/A',
      access_key_2_last_used_region: 'N/A',
      access_key_2_last_used_service: 'N/A',
      cert_1_active: 'false',
      cert_1_last_rotated: 'N/A',
      cert_2_active: 'false',
      cert_2_last_rotated: 'N/A',
    });
  });

  it('orders key slots by creation, rounds last use down to 15 minutes, quotes awkward names', async () => {
    const name = 'ops,bot+ci=1@x.y_z-w';
    sim.addUser(name, { password: { mfa: true, lastUsedDaysAgo: null } });
    const newer = sim.addKey(name, { ageDays: 5 });
    const older = sim.addKey(name, {
      ageDays: 120,
      status: 'Inactive',
      lastUsedDaysAgo: 100,
      lastUsedService: 'ec2',
    });
    await new IAMClient({}).send(
      new UpdateAccessKeyCommand({ UserName: name, AccessKeyId: older.accessKeyId, Status: 'Inactive' }),
    );
    sim.clock.advance(14 * 60_000 + 59_000); // 12:14:59
    await new STSClient({ credentials: newer }).send(new GetCallerIdentityCommand({}));
    await generate();
    sim.clock.advance(5_000);
    const out = await iam.send(new GetCredentialReportCommand({}));
    const text = new TextDecoder().decode(out.Content);
    expect(text).toContain(`"${name}",`);
    const user = (parse(text, { columns: true }) as Record<string, string>[])[1];
    expect(user).toMatchObject({
      user: name,
      password_enabled: 'true',
      password_last_used: 'no_information',
      mfa_active: 'true',
      access_key_1_active: 'false',
      access_key_1_last_rotated: '2026-02-01T12:00:00+00:00',
      access_key_1_last_used_date: '2026-02-21T12:00:00+00:00',
      access_key_1_last_used_service: 'ec2',
      access_key_1_last_used_region: 'us-east-1',
      access_key_2_active: 'true',
      access_key_2_last_rotated: '2026-05-27T12:00:00+00:00',
      access_key_2_last_used_date: '2026-06-01T12:00:00+00:00',
      access_key_2_last_used_service: 'sts',
    });
  });

  it('renders thousands of users', async () => {
    for (let i = 0; i < 3000; i++) {
      sim.addUser(`u${i}`);
      sim.addKey(`u${i}`, { ageDays: i % 200 });
    }
    await generate();
    sim.clock.advance(5_000);
    const all = await rows();
    expect(all).toHaveLength(3001);
    expect(all[3000]?.access_key_1_last_rotated).toBe('2025-11-14T12:00:00+00:00'); // 2999 % 200 = 199 days old;
  });
});
