/**
 * Time as the service sees it. Production uses the system clock; tests, the demo and the
 * benchmark swap in the simulated account's virtual clock so that waiting (testSecret's backoff,
 * throttling retries, "rotate now --wait") costs no real time.
 */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

let current: Clock = systemClock;

export function clock(): Clock {
  return current;
}

/** Replaces the clock (undefined restores the system clock). */
export function setClock(next: Clock | undefined): void {
  current = next ?? systemClock;
}

export const DAY_MS = 86_400_000;

/** Whole days from `from` to `to` (floor), as the console counts key age. */
export function daysBetween(from: Date, to: Date): number {
  return Math.floor((to.getTime() - from.getTime()) / DAY_MS);
}
