// Small clocks and counters: reconnect back-off, round-trip time, answer latency. Pure.

/**
 * The wait before reconnect attempt `attempt` (0 for the first): 500 ms doubling to 10 s, with
 * ±20 % jitter so many pages do not knock at the same instant after a server restart.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, baseMs = 500, maxMs = 10_000): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(30, attempt)));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

/** Round-trip times from ping/pong, reported as the median of the last few. */
export class RttMeter {
  private samples: number[] = [];
  constructor(private readonly keep = 7) {}

  /** A pong arrived at `now` echoing `t`. Returns the round trip, or null for a bogus echo. */
  pong(t: number, now: number): number | null {
    const rtt = now - t;
    if (!(rtt >= 0) || rtt > 60_000) return null;
    this.samples.push(rtt);
    if (this.samples.length > this.keep) this.samples.shift();
    return rtt;
  }

  get median(): number | null {
    if (this.samples.length === 0) return null;
    const s = [...this.samples].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }

  reset(): void {
    this.samples = [];
  }
}

export interface AnswerLatency {
  /** From the `state: answering` message's arrival to the first AI note's time. */
  fromHandoff: number | null;
  /** From the call's last note-off (silence threshold included) to the first AI note's time. */
  fromLastNoteOff: number | null;
}

/**
 * Measures how long the AI takes to answer. It keeps the time of the person's last note-off
 * and of the turn switching to `answering`, and reads both against the first AI note of the
 * answer. Times are client ms; the AI note's time is when it sounds, not when it arrived.
 */
export class LatencyMeter {
  private lastNoteOff: number | null = null;
  private answeringAt: number | null = null;
  private waiting = false;
  last: AnswerLatency | null = null;

  personNoteOff(time: number): void {
    this.lastNoteOff = time;
  }

  /** The person played again: whatever comes next answers a new call. */
  personNoteOn(): void {
    this.waiting = true;
    this.answeringAt = null;
  }

  state(turn: 'listening' | 'answering', now: number): void {
    if (turn === 'answering') {
      this.answeringAt = now;
      this.waiting = true;
    }
  }

  /** An AI note arrived; returns the latency when it is the first note of an answer. */
  aiNote(time: number): AnswerLatency | null {
    if (!this.waiting) return null;
    this.waiting = false;
    const result: AnswerLatency = {
      fromHandoff: this.answeringAt === null ? null : Math.max(0, time - this.answeringAt),
      fromLastNoteOff: this.lastNoteOff === null ? null : Math.max(0, time - this.lastNoteOff),
    };
    this.answeringAt = null;
    this.last = result;
    return result;
  }
}
