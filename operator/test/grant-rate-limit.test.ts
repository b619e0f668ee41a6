import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/grant/rate-limit.js';

// The per-pod token bucket of the grant API, on a clock the test moves.

describe('grant rate limiter', () => {
  it('allows the burst, then the rate; says how long to wait; refunds; keeps pods apart', () => {
    let now = 0;
    const limiter = new RateLimiter(6, 2, () => now); // one token every 10 s
    expect([limiter.take('a'), limiter.take('a')]).toEqual([0, 0]);
    expect(limiter.take('a')).toBe(10);
    expect(limiter.take('b')).toBe(0);
    now = 4_000;
    expect(limiter.take('a')).toBe(6);
    now = 10_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10);
    limiter.refund('a');
    expect(limiter.take('a')).toBe(0);
    // Refunds never raise a bucket above its burst.
    now = 1_000_000;
    for (let i = 0; i < 5; i++) limiter.refund('a');
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a') > 0]).toEqual([0, 0, true]);
  });
});
