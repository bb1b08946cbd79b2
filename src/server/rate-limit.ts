// A token bucket per connection: `ratePerSecond` messages a second on average, `burst` at once.
// When it runs dry the caller is told once (`firstRefusal`), not once per dropped message.

export interface TokenBucketOptions {
  ratePerSecond: number;
  burst: number;
  now: () => number;
}

export type Admission = 'ok' | 'first-refusal' | 'refused';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private limited = false;
  /** Messages refused since the bucket was made. */
  refused = 0;

  constructor(private readonly opts: TokenBucketOptions) {
    this.tokens = opts.burst;
    this.last = opts.now();
  }

  take(): Admission {
    const now = this.opts.now();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.opts.burst, this.tokens + (elapsed * this.opts.ratePerSecond) / 1000);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.limited = false;
      return 'ok';
    }
    this.refused++;
    if (this.limited) return 'refused';
    this.limited = true;
    return 'first-refusal';
  }
}
