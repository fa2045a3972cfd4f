import {
  DeleteAccessKeyCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimAccount } from './index.js';

let sim: SimAccount;
beforeEach(() => {
  sim = new SimAccount({ propagationDelayMs: 10_000 }).install();
  sim.addUser('alice', { path: '/svc/' });
});
afterEach(() => sim.restore());

const stsAs = (accessKeyId: string, secretAccessKey: string) =>
  new STSClient({ region: 'us-east-1', credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
const whoAmI = (id: string, secret: string) => stsAs(id, secret).send(new GetCallerIdentityCommand({}));
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } },
  );

describe('STS GetCallerIdentity', () => {
  it("returns the key's user and records the use", async () => {
    const key = sim.addKey('alice');
    const out = await whoAmI(key.accessKeyId, key.secretAccessKey);
    expect(out).toMatchObject({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/svc/alice' });
    expect(out.UserId).toBe(sim.user('alice')?.userId);
    expect(sim.key(key.accessKeyId)).toMatchObject({
      lastUsed: new Date('2026-06-01T00:00:00Z'),
      lastUsedService: 'sts',
      lastUsedRegion: 'us-east-1',
    });
  });

  it('rejects a new key until it has propagated', async () => {
    const iam = new IAMClient({});
    const { AccessKey } = await import('@aws-sdk/client-iam').then(({ CreateAccessKeyCommand }) =>
      iam.send(new CreateAccessKeyCommand({ UserName: 'alice' })),
    );
    const id = AccessKey?.AccessKeyId ?? '';
    const secret = AccessKey?.SecretAccessKey ?? '';
    const early = await errorOf(whoAmI(id, secret));
    expect(early?.name).toBe('InvalidClientTokenId');
    expect(early?.message).toBe('The security token included in the request is invalid.');
    expect(early?.$metadata?.httpStatusCode).toBe(403);
    expect(sim.key(id)?.lastUsed).toBeNull();
    await sim.clock.sleep(9_999);
    expect((await errorOf(whoAmI(id, secret)))?.name).toBe('InvalidClientTokenId');
    await sim.clock.sleep(1);
    await expect(whoAmI(id, secret)).resolves.toMatchObject({ Arn: sim.user('alice')?.arn });
  });

  it('rejects inactive, deleted and unknown keys, and a wrong secret', async () => {
    const iam = new IAMClient({});
    const inactive = sim.addKey('alice', { status: 'Inactive' });
    const deleted = sim.addKey('alice');
    await iam.send(new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: deleted.accessKeyId }));
    expect((await errorOf(whoAmI(inactive.accessKeyId, inactive.secretAccessKey)))?.name).toBe(
      'InvalidClientTokenId',
    );
    expect((await errorOf(whoAmI(deleted.accessKeyId, deleted.secretAccessKey)))?.name).toBe(
      'InvalidClientTokenId',
    );
    expect((await errorOf(whoAmI('AKIAUNKNOWNUNKNOWN22', 'x'.repeat(40))))?.name).toBe(
      'InvalidClientTokenId',
    );
    const good = sim.addKey('alice');
    const wrong = await errorOf(whoAmI(good.accessKeyId, 'y'.repeat(40)));
    expect(wrong?.name).toBe('SignatureDoesNotMatch');
    expect(sim.key(good.accessKeyId)?.lastUsed).toBeNull();
    // Reactivated, the same key works again.
    await iam.send(
      new UpdateAccessKeyCommand({ UserName: 'alice', AccessKeyId: inactive.accessKeyId, Status: 'Active' }),
    );
    await expect(whoAmI(inactive.accessKeyId, inactive.secretAccessKey)).resolves.toBeDefined();
  });

  it('counts a call to another service made with a key as use of that key', async () => {
    const key = sim.addKey('alice');
    await sim.clock.sleep(60_000);
    const iamAsAlice = new IAMClient({ region: 'us-east-1', credentials: key });
    const out = await iamAsAlice.send(new ListAccessKeysCommand({}));
    expect(out.AccessKeyMetadata?.map((k) => k.AccessKeyId)).toEqual([key.accessKeyId]);
    expect(sim.key(key.accessKeyId)).toMatchObject({
      lastUsed: new Date('2026-06-01T00:01:00Z'),
      lastUsedService: 'iam',
    });
  });

  it('does not check the operator credentials', async () => {
    const out = await new STSClient({}).send(new GetCallerIdentityCommand({}));
    expect(out.Account).toBe('123456789012');
    expect(out.Arn).toBe('arn:aws:iam::123456789012:user/operator');
  });
});
