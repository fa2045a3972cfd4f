import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetClients } from '../../../src/aws/clients.js';
import { listAccessKeys } from '../../../src/aws/iam.js';
import { roomForNewKey } from '../../../src/rotation/room.js';
import { SimAccount } from '../../sim/index.js';

let sim: SimAccount;
beforeEach(() => {
  sim = new SimAccount({ seed: 11 }).install();
  resetClients();
  sim.addUser('app');
});
afterEach(() => {
  sim.restore();
  resetClients();
});

const noPrevious = async () => undefined;

describe('roomForNewKey', () => {
  it('needs nothing when the user has only the AWSCURRENT key, and asks IAM nothing', async () => {
    const current = sim.addKey('app', { ageDays: 80 });
    const keys = await listAccessKeys('app');
    sim.calls.reset();
    expect(await roomForNewKey(keys, current.accessKeyId, noPrevious)).toEqual({
      removable: [],
      blocker: undefined,
    });
    expect(sim.calls.count()).toBe(0);
  });

  it.each([
    ['inactive', { status: 'Inactive' as const, lastUsedDaysAgo: 1 }, false],
    ['never used', { lastUsedDaysAgo: null }, false],
    ['AWSPREVIOUS', { lastUsedDaysAgo: 1 }, true],
  ])('lets a %s second key go', async (reason, over, isPrevious) => {
    const current = sim.addKey('app', { ageDays: 80 });
    const other = sim.addKey('app', { ageDays: 5, ...over });
    const room = await roomForNewKey(await listAccessKeys('app'), current.accessKeyId, async () =>
      isPrevious ? other.accessKeyId : undefined,
    );
    expect(room.blocker).toBeUndefined();
    expect(room.removable.map((r) => [r.key.accessKeyId, r.reason])).toEqual([[other.accessKeyId, reason]]);
  });

  it('names a second key in use that is not the secret as the blocker, and never offers the AWSCURRENT key', async () => {
    const current = sim.addKey('app', { ageDays: 80, status: 'Inactive' });
    const other = sim.addKey('app', { ageDays: 5, lastUsedDaysAgo: 2, lastUsedService: 's3' });
    const before = sim.snapshot();
    const room = await roomForNewKey(await listAccessKeys('app'), current.accessKeyId, noPrevious);
    expect(room.removable).toEqual([]);
    expect(room.blocker?.key.accessKeyId).toBe(other.accessKeyId);
    expect(room.blocker?.service).toBe('s3');
    // A decision only: nothing in the account changed.
    expect(sim.snapshot()).toEqual(before);
  });
});
