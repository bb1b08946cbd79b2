// Maps a client's clock (performance.now() in its browser) to the server's and back.
//
// Every message that carries a client time gives one sample: arrival (server clock) minus the
// client's time, which is the true offset plus that message's network delay. Delays only ever
// add, so the smallest sample in a recent window is the best estimate of the offset: jitter
// raises samples, never lowers them. The window is bounded both in samples and in time, so a
// drifting clock is followed.

export interface ClientClockOptions {
  /** Samples kept (default 64). */
  windowSize?: number;
  /** Samples older than this, by arrival, are forgotten (default 10 000 ms). */
  windowMs?: number;
  /**
   * An incoming event is never placed later than its arrival, nor more than this long before
   * it (default 2 000 ms), whatever the client's clock says.
   */
  maxLagMs?: number;
}

export class ClientClock {
  private readonly windowSize: number;
  private readonly windowMs: number;
  private readonly maxLagMs: number;
  private readonly arrivals: number[] = [];
  private readonly offsets: number[] = [];
  private current: number | null = null;

  constructor(opts: ClientClockOptions = {}) {
    this.windowSize = Math.max(1, opts.windowSize ?? 64);
    this.windowMs = opts.windowMs ?? 10_000;
    this.maxLagMs = opts.maxLagMs ?? 2_000;
  }

  /** server = client + offset; null until the first sample. */
  get offset(): number | null {
    return this.current;
  }

  /** One observation: a message stamped `clientTime` arrived at server time `arrival`. */
  sample(clientTime: number, arrival: number): void {
    if (!Number.isFinite(clientTime) || !Number.isFinite(arrival)) return;
    this.arrivals.push(arrival);
    this.offsets.push(arrival - clientTime);
    while (this.arrivals.length > this.windowSize || (this.arrivals.length > 1 && arrival - this.arrivals[0] > this.windowMs)) {
      this.arrivals.shift();
      this.offsets.shift();
    }
    let min = Infinity;
    for (const o of this.offsets) if (o < min) min = o;
    this.current = min;
  }

  /**
   * An incoming event's time on the server clock. A missing time is the arrival time; a given
   * one is sampled, mapped and kept within [arrival - maxLagMs, arrival].
   */
  toServer(clientTime: number | undefined, arrival: number): number {
    if (clientTime === undefined) return arrival;
    this.sample(clientTime, arrival);
    const t = clientTime + (this.current ?? 0);
    return Math.min(arrival, Math.max(arrival - this.maxLagMs, t));
  }

  /** A server time (an AI note's) on the client's clock; unchanged until the first sample. */
  toClient(serverTime: number): number {
    return serverTime - (this.current ?? 0);
  }
}
