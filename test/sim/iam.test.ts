import {
  AddUserToGroupCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteConflictException,
  DeleteUserCommand,
  EntityAlreadyExistsException,
  GetAccessKeyLastUsedCommand,
  GetAccountAuthorizationDetailsCommand,
  GetUserCommand,
  IAMClient,
  LimitExceededException,
  ListAccessKeysCommand,
  ListAccountAliasesCommand,
  ListGroupsForUserCommand,
  ListUsersCommand,
  ListUserTagsCommand,
  NoSuchEntityException,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimAccount } from './index.js';

let sim: SimAccount;
let iam: IAMClient;
beforeEach(() => {
  sim = new SimAccount().install();
  iam = new IAMClient({ region: 'us-east-1' });
});
afterEach(() => sim.restore());

describe('IAM users', () => {
  it('creates, reads, tags and deletes a user with an awkward name', async () => {
    const name = 'a.b+c=d,e@f_g-h';
    const created = await iam.send(
      new CreateUserCommand({
        UserName: name,
        Path: '/team/',
        Tags: [{ Key: 'owner', Value: 'o@example.com' }],
      }),
    );
    expect(created.User?.Arn).toBe(`arn:aws:iam::123456789012:user/team/${name}`);
    expect(created.User?.UserId).toMatch(/^AIDA[A-Z2-7]{17}$/);
    await iam.send(
      new TagUserCommand({ UserName: name, Tags: [{ Key: 'iam-key-rotator:exempt', Value: 'true' }] }),
    );
    await iam.send(new UntagUserCommand({ UserName: name, TagKeys: ['owner'] }));
    const tags = await iam.send(new ListUserTagsCommand({ UserName: name }));
    expect(tags.Tags).toEqual([{ Key: 'iam-key-rotator:exempt', Value: 'true' }]);
    const got = await iam.send(new GetUserCommand({ UserName: name }));
    expect(got.User?.Tags).toEqual([{ Key: 'iam-key-rotator:exempt', Value: 'true' }]);
    await iam.send(new DeleteUserCommand({ UserName: name }));
    await expect(iam.send(new GetUserCommand({ UserName: name }))).rejects.toBeInstanceOf(
      NoSuchEntityException,
    );
    expect(sim.user(name)?.deleted).toBe(true);
  });

  it('refuses a duplicate user (names are unique regardless of case) and unknown users', async () => {
    sim.addUser('Alice');
    await expect(iam.send(new CreateUserCommand({ UserName: 'alice' }))).rejects.toBeInstanceOf(
      EntityAlreadyExistsException,
    );
    const err = await iam.send(new GetUserCommand({ UserName: 'bob' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoSuchEntityException);
    expect((err as Error).message).toBe('The user with name bob cannot be found.');
  });

  it('refuses to delete a user that still has access keys', async () => {
    sim.addUser('alice');
    sim.addKey('alice');
    await expect(iam.send(new DeleteUserCommand({ UserName: 'alice' }))).rejects.toBeInstanceOf(
      DeleteConflictException,
    );
    expect(sim.user('alice')?.deleted).toBeUndefined();
  });

  it('pages ListUsers with MaxItems (default 100) and Marker', async () => {
    for (let i = 0; i < 250; i++) sim.addUser(`user${String(i).padStart(3, '0')}`);
    const first = await iam.send(new ListUsersCommand({}));
    expect(first.Users).toHaveLength(100);
    expect(first.IsTruncated).toBe(true);
    const names: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await iam.send(new ListUsersCommand({ MaxItems: 40, Marker: marker }));
      names.push(...(page.Users ?? []).map((u) => u.UserName ?? ''));
      marker = page.IsTruncated ? page.Marker : undefined;
      pages++;
    } while (marker);
    expect(pages).toBe(7);
    expect(new Set(names).size).toBe(250);
    expect(names[249]).toBe('user249');
  });

  it('lists group membership', async () => {
    sim.addGroup('break-glass');
    sim.addUser('alice', { groups: ['admins'] });
    await iam.send(new AddUserToGroupCommand({ UserName: 'alice', GroupName: 'break-glass' }));
    const out = await iam.send(new ListGroupsForUserCommand({ UserName: 'alice' }));
    expect(out.Groups?.map((g) => g.GroupName)).toEqual(['admins', 'break-glass']);
    await expect(
      iam.send(new AddUserToGroupCommand({ UserName: 'alice', GroupName: 'nope' })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
  });
});

describe('IAM access keys', () => {
  it('creates AKIA ids and 40-character secrets, and refuses a third key', async () => {
    sim.addUser('alice');
    const a = await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }));
    expect(a.AccessKey?.AccessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(a.AccessKey?.SecretAccessKey).toHaveLength(40);
    expect(a.AccessKey?.Status).toBe('Active');
    await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }));
    const err = await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededException);
    expect((err as Error).message).toBe('Cannot exceed quota for AccessKeysPerUser: 2');
    expect(sim.keys('alice')).toHaveLength(2);
    expect(sim.issuedSecrets()).toContain(a.AccessKey?.SecretAccessKey);
  });

  it('is deterministic for a seed', () => {
    const other = new SimAccount({ seed: 1 });
    const third = new SimAccount({ seed: 2 });
    for (const s of [sim, other, third]) s.addUser('alice');
    const k1 = sim.addKey('alice');
    expect(other.addKey('alice')).toEqual(k1);
    expect(third.addKey('alice').accessKeyId).not.toBe(k1.accessKeyId);
  });

  it('updates status, lists metadata without secrets, deletes only for the right user', async () => {
    sim.addUser('alice');
    sim.addUser('bob');
    const { accessKeyId } = sim.addKey('alice', { ageDays: 10 });
    await iam.send(
      new UpdateAccessKeyCommand({ UserName: 'alice', AccessKeyId: accessKeyId, Status: 'Inactive' }),
    );
    const list = await iam.send(new ListAccessKeysCommand({ UserName: 'alice' }));
    expect(list.AccessKeyMetadata).toEqual([
      {
        UserName: 'alice',
        AccessKeyId: accessKeyId,
        Status: 'Inactive',
        CreateDate: new Date('2026-05-22T00:00:00Z'),
      },
    ]);
    await expect(
      iam.send(new DeleteAccessKeyCommand({ UserName: 'bob', AccessKeyId: accessKeyId })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
    await expect(
      iam.send(new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: 'AKIAAAAAAAAAAAAAAAAA' })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
    expect(sim.keys('alice')).toHaveLength(1);
    await iam.send(new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: accessKeyId }));
    expect(sim.keys('alice')).toHaveLength(0);
    expect(sim.key(accessKeyId)).toBeUndefined();
  });

  it('reports last use as N/A until the key signed a call', async () => {
    sim.addUser('alice');
    const fresh = sim.addKey('alice');
    const used = sim.addKey('alice', { lastUsedDaysAgo: 3, lastUsedService: 'ec2' });
    const a = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: fresh.accessKeyId }));
    expect(a.UserName).toBe('alice');
    expect(a.AccessKeyLastUsed).toEqual({ ServiceName: 'N/A', Region: 'N/A' });
    const b = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: used.accessKeyId }));
    expect(b.AccessKeyLastUsed).toEqual({
      LastUsedDate: new Date('2026-05-29T00:00:00Z'),
      ServiceName: 'ec2',
      Region: 'us-east-1',
    });
  });
});

describe('ListAccountAliases', () => {
  it('returns the configured alias, or none', async () => {
    expect((await iam.send(new ListAccountAliasesCommand({}))).AccountAliases).toEqual([]);
    sim.restore();
    sim = new SimAccount({ accountAlias: 'acme-prod' }).install();
    expect((await iam.send(new ListAccountAliasesCommand({}))).AccountAliases).toEqual(['acme-prod']);
  });
});

describe('GetAccountAuthorizationDetails', () => {
  it('pages every user with groups and tags (default 100, max 1000)', async () => {
    for (let i = 0; i < 1500; i++)
      sim.addUser(`u${i}`, { tags: { owner: `u${i}@example.com` }, groups: i === 7 ? ['ops'] : [] });
    const first = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['User'] }));
    expect(first.UserDetailList).toHaveLength(100);
    const all = [];
    let marker: string | undefined;
    let calls = 0;
    do {
      const page = await iam.send(
        new GetAccountAuthorizationDetailsCommand({ Filter: ['User'], MaxItems: 1000, Marker: marker }),
      );
      all.push(...(page.UserDetailList ?? []));
      marker = page.IsTruncated ? page.Marker : undefined;
      calls++;
    } while (marker);
    expect(calls).toBe(2);
    expect(all).toHaveLength(1500);
    const u7 = all.find((u) => u.UserName === 'u7');
    expect(u7).toMatchObject({
      Arn: 'arn:aws:iam::123456789012:user/u7',
      Path: '/',
      GroupList: ['ops'],
      Tags: [{ Key: 'owner', Value: 'u7@example.com' }],
    });
    expect(u7?.UserId).toMatch(/^AIDA/);
    expect(u7?.CreateDate).toBeInstanceOf(Date);
    await expect(
      iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['User'], MaxItems: 1001 })),
    ).rejects.toThrow(/1000/);
  });

  it('returns no users when the filter asks only for roles', async () => {
    sim.addUser('alice');
    const out = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['Role'] }));
    expect(out.UserDetailList).toEqual([]);
  });
});
