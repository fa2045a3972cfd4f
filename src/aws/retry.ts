import { clock } from '../clock.js';

/**
 * Throttling is account-wide for IAM and cannot be raised, so every AWS call the service makes
 * goes through here: throttled calls are retried with capped exponential backoff and jitter.
 * Only throttling and transient server errors are retried. IAM LimitExceeded (a third access key)
 * is final even though some SDK versions classify it as throttling.
 */
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
]);

const TRANSIENT = new Set([
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServiceError',
]);

const NEVER = new Set(['LimitExceeded', 'LimitExceededException']);

export function isThrottling(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (NEVER.has(err.name)) return false;
  return THROTTLING.has(err.name) || TRANSIENT.has(err.name);
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  baseMs?: number;
  maxDelayMs?: number;
}

/** Runs `call`, retrying throttling with backoff on the service clock. */
export async function withRetry<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 10;
  const base = options.baseMs ?? 200;
  const cap = options.maxDelayMs ?? 20_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= attempts || !isThrottling(err)) throw err;
      // Full jitter keeps many concurrent callers from retrying in lockstep.
      const ceiling = Math.min(cap, base * 2 ** (attempt - 1));
      await clock().sleep(Math.max(1, Math.round(ceiling * (0.5 + Math.random() / 2))));
    }
  }
}
