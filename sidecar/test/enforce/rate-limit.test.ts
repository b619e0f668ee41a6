import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/enforce/rate-limit.js';

describe('RateLimiter', () => {
  it('allows the budget, then says how long to wait, and refills over time', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let i = 0; i < 60; i++) expect(limiter.take()).toBe(0);
    expect(limiter.take()).toBe(1000);
    now += 1000;
    expect(limiter.take()).toBe(0);
    expect(limiter.take()).toBeGreaterThan(0);
  });
});
