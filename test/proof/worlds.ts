import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { clients } from '../../src/aws/clients.js';
import { withRetry } from '../../src/aws/retry.js';
import type { SimOptions } from '../sim/index.js';
import { daysLater, enrollUser, keyShape, type ProofAccount, proofAccount } from './harness.js';

/** Worlds more than one proof file runs on. */

/** The operator's "rotate immediately" (retrying throttling, as the CLI would). */
export const rotateSecret = (secretArn: string) =>
  withRetry(() =>
    clients().sm.send(new RotateSecretCommand({ SecretId: secretArn, RotateImmediately: true })),
  );

export const WARN_OWNERS = Array.from({ length: 11 }, (_, i) => `warn-${String(i).padStart(2, '0')}`);

/**
 * An account where one audit has every kind of work to do (ENFORCE=delete, default ages): start a
 * rotation, deactivate a previous key, clear a stuck rotation, disable and delete keys of users
 * who are not enrolled, and mail more owners than fit one PublishBatch.
 */
export async function auditWorld(sim: SimOptions = {}): Promise<ProofAccount> {
  const p = proofAccount({ env: { ENFORCE: 'delete' }, sim });
  // Rotated 8 days ago with a 7-day grace: its previous key is still active and due to go.
  const prev = await enrollUser(p, 'prev-active', { owner: 'prev@example.com', ageDays: 60 });
  await rotateSecret(prev.secretArn);
  // Due for rotation (82 days) once 8 days have passed.
  await enrollUser(p, 'rot-due', { owner: 'rot@example.com', ageDays: 77 });
  // A rotation that failed all its attempts 8 days ago: AWSPENDING stuck, key due for rotation.
  const stuck = await enrollUser(p, 'stuck.one', { owner: 'stuck@example.com', ageDays: 82 });
  p.sim.failCall('CreateAccessKey', { times: 3 });
  await rotateSecret(stuck.secretArn);
  daysLater(p, 8);
  // Not enrolled: an active key 11 days past the limit (disable) and an inactive one 21 days past,
  // unused for a month (delete).
  p.sim.addUser('old-unenrolled', { tags: { owner: 'old@example.com' } });
  p.sim.addKey('old-unenrolled', { ageDays: 101, lastUsedDaysAgo: 1 });
  p.sim.addUser('dead-unenrolled', { tags: { owner: 'dead@example.com' } });
  p.sim.addKey('dead-unenrolled', { ageDays: 111, status: 'Inactive', lastUsedDaysAgo: 30 });
  // Owners warned today (day 76): with the others, more digests than one PublishBatch takes.
  for (const name of WARN_OWNERS) {
    p.sim.addUser(name, { tags: { owner: `${name}@example.com` } });
    p.sim.addKey(name, { ageDays: 76, lastUsedDaysAgo: 2 });
  }
  // No owner: the security summary reports it.
  p.sim.addUser('nobody', {});
  p.sim.addKey('nobody', { ageDays: 90, lastUsedDaysAgo: 1 });
  p.violations.length = 0;
  p.mutations.length = 0;
  return p;
}

/** Each user's keys (bound users: role and status; others: status), ids left out. */
export function accountShape(p: ProofAccount): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const u of p.sim.users()) {
    const b = p.bindings.find((x) => x.userName === u.name);
    out[u.name] = b
      ? keyShape(p, b)
      : p.sim
          .keys(u.name)
          .map((k) => k.status)
          .sort();
  }
  return out;
}
