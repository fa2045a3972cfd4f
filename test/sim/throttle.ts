import type { Service } from './errors.js';
import { Rng } from './rng.js';

export interface RateLimit {
  ratePerSecond: number;
  /** Bucket size; defaults to one second's worth of calls (at least 1). */
  burst?: number;
}

export interface ThrottleOptions {
  iam?: RateLimit;
  sts?: RateLimit;
  secretsManager?: RateLimit;
  sns?: RateLimit;
  /** Also throttle this fraction of all calls at random (seeded). */
  probability?: number;
}

class Bucket {
  private tokens: number;
  private readonly burst: number;
  private readonly perMs: number;

  constructor(
    limit: RateLimit,
    private last: number,
  ) {
    this.burst = limit.burst ?? Math.max(1, limit.ratePerSecond);
    this.perMs = limit.ratePerSecond / 1000;
    this.tokens = this.burst;
  }

  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Account-wide token buckets per service, on the virtual clock, plus seeded random throttles. */
export class Throttler {
  private readonly buckets: Partial<Record<Service, Bucket>> = {};
  private readonly probability: number;
  private readonly rng: Rng;

  constructor(options: ThrottleOptions | undefined, seed: number, now: number) {
    for (const service of ['iam', 'sts', 'secretsManager', 'sns'] as const) {
      const limit = options?.[service];
      if (limit) this.buckets[service] = new Bucket(limit, now);
    }
    this.probability = options?.probability ?? 0;
    // A separate stream: turning throttling on does not change ids or secrets.
    this.rng = new Rng((seed ^ 0x5bd1e995) >>> 0);
  }

  /** True when this call is throttled (and so takes no effect). */
  throttled(service: Service, now: number): boolean {
    const bucket = this.buckets[service];
    if (bucket && !bucket.take(now)) return true;
    return this.probability > 0 && this.rng.next() < this.probability;
  }
}
