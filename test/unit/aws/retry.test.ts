import { LimitExceededException } from '@aws-sdk/client-iam';
import { afterEach, describe, expect, it } from 'vitest';
import { isThrottling, withRetry } from '../../../src/aws/retry.js';
import { type Clock, setClock } from '../../../src/clock.js';

function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(t),
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

function throttling(name = 'Throttling'): Error {
  const err = new Error('Rate exceeded');
  err.name = name;
  return err;
}

afterEach(() => setClock(undefined));

describe('withRetry', () => {
  it('retries throttled calls with growing waits on the service clock, then returns', async () => {
    const c = fakeClock();
    setClock(c);
    let calls = 0;
    const result = await withRetry(async () => {
      calls++;
      if (calls < 4) throw throttling();
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(c.slept).toHaveLength(3);
    // Each wait lies in [ceiling/2, ceiling] of a doubling ceiling (200, 400, 800 ms).
    expect(c.slept[0]).toBeGreaterThanOrEqual(100);
    expect(c.slept[0]).toBeLessThanOrEqual(200);
    expect(c.slept[2]).toBeGreaterThanOrEqual(400);
    expect(c.slept[2]).toBeLessThanOrEqual(800);
  });

  it('gives up after the attempt limit and throws the last throttling error', async () => {
    setClock(fakeClock());
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw throttling('ThrottlingException');
        },
        { attempts: 3 },
      ),
    ).rejects.toThrow('Rate exceeded');
    expect(calls).toBe(3);
  });

  it('never retries IAM LimitExceeded, even when it looks retryable', async () => {
    const c = fakeClock();
    setClock(c);
    let calls = 0;
    const limit = new LimitExceededException({
      message: 'Cannot exceed quota for AccessKeysPerUser: 2',
      $metadata: {},
    });
    await expect(
      withRetry(async () => {
        calls++;
        throw limit;
      }),
    ).rejects.toBe(limit);
    expect(calls).toBe(1);
    expect(c.slept).toEqual([]);
  });

  it('does not retry ordinary errors', async () => {
    setClock(fakeClock());
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new Error('AccessDenied');
      }),
    ).rejects.toThrow('AccessDenied');
    expect(calls).toBe(1);
  });
});

describe('isThrottling', () => {
  it.each([
    ['Throttling', true],
    ['ThrottlingException', true],
    ['TooManyRequestsException', true],
    ['ServiceUnavailable', true],
    ['LimitExceeded', false],
    ['LimitExceededException', false],
    ['NoSuchEntityException', false],
  ])('%s → %s', (name, expected) => {
    const err = new Error('x');
    err.name = name;
    expect(isThrottling(err)).toBe(expected);
  });

  it('is false for values that are not errors', () => {
    expect(isThrottling('Throttling')).toBe(false);
    expect(isThrottling(undefined)).toBe(false);
  });
});
