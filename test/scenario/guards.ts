import { expect, vi } from 'vitest';
import type { SimAccount } from '../sim/index.js';

/**
 * The service logs through the global console in tests (POWERTOOLS_DEV): keep every line it
 * writes. Call it in beforeEach; vi.restoreAllMocks() in afterEach undoes it.
 */
export function captureConsole(): string[] {
  const logged: string[] = [];
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
  }
  return logged;
}

/** No secret access key the account ever issued appears in `texts` or the log lines (invariant 6). */
export function expectNoSecrets(sim: SimAccount, logged: readonly string[], ...texts: unknown[]): void {
  const all = [...texts.map((t) => (typeof t === 'string' ? t : JSON.stringify(t))), ...logged].join('\n');
  for (const secret of sim.issuedSecrets()) expect(all).not.toContain(secret);
}

/** Runs `call`, expects it to reject, and checks that the account did not change at all. */
export async function rejectsUnchanged(
  sim: SimAccount,
  logged: readonly string[],
  call: () => Promise<unknown>,
): Promise<Error> {
  const before = sim.snapshot();
  const err = await call().then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as Error,
  );
  expect(sim.snapshot()).toEqual(before);
  expectNoSecrets(sim, logged, err.message);
  return err;
}
