/**
 * Token bucket shared by every session of the proxy: the policy's
 * queriesPerMinute is a budget for the agent, not per connection.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = perMinute;
    this.last = now();
    this.perMs = perMinute / 60_000;
  }

  /** Takes one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(): number {
    const now = this.now();
    this.tokens = Math.min(this.perMinute, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / this.perMs);
  }
}
