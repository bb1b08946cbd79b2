// When a DAW routes Antiphon's output back into its input, each AI note returns a few ms later
// and the session would hear it as the person barging in, then answer itself forever. The sink
// tells this filter what it sent; an incoming message that matches one sent within the window is
// the echo and is dropped. Each sent message cancels at most one echo, so a person who plays the
// same note again still gets through.

import type { NoteEvent } from '../../engine/note-events.ts';

export interface EchoFilterOptions {
  /**
   * How long after a send an identical incoming message counts as its echo, in ms. Default 100:
   * MIDI through a DAW comes back within one audio buffer (about 12-46 ms at 44.1 kHz) plus
   * scheduling jitter, while a person repeating the AI's exact note that fast is rare.
   */
  windowMs?: number;
  /**
   * Require the echo on the channel it was sent on. Default false: DAW tracks often rechannelize
   * their MIDI, and an unrecognised echo is a feedback loop, while a wrongly dropped note is one note.
   */
  matchChannel?: boolean;
  /** Sent messages remembered at most (the oldest are forgotten first). Default 1024. */
  maxRemembered?: number;
}

export const ECHO_DEFAULTS = { windowMs: 100, matchChannel: false, maxRemembered: 1024 } as const;

interface Sent {
  key: string;
  channel: number;
  time: number;
}

const keyOf = (kind: string, a: number, b = -1) => `${kind}:${a}:${b}`;

export class EchoFilter {
  readonly windowMs: number;
  readonly matchChannel: boolean;
  private readonly maxRemembered: number;
  private sent: Sent[] = [];
  private droppedCount = 0;

  constructor(options: EchoFilterOptions = {}) {
    this.windowMs = options.windowMs ?? ECHO_DEFAULTS.windowMs;
    this.matchChannel = options.matchChannel ?? ECHO_DEFAULTS.matchChannel;
    this.maxRemembered = options.maxRemembered ?? ECHO_DEFAULTS.maxRemembered;
  }

  /** Bound, so it can be passed as NoteSink's onSend. Remembers note-ons, note-offs and controllers. */
  readonly remember = (bytes: readonly number[], time: number): void => {
    const [status = 0, d1 = 0, d2 = 0] = bytes;
    const channel = status & 0x0f;
    let key: string;
    switch (status & 0xf0) {
      case 0x90:
        key = d2 > 0 ? keyOf('on', d1) : keyOf('off', d1);
        break;
      case 0x80:
        key = keyOf('off', d1);
        break;
      case 0xb0:
        key = keyOf('cc', d1, d2);
        break;
      default:
        return;
    }
    this.prune(time);
    this.sent.push({ key, channel, time });
    if (this.sent.length > this.maxRemembered) this.sent.splice(0, this.sent.length - this.maxRemembered);
  };

  /** False for the echo of something recently sent (and forgets that send); true otherwise. */
  accept(e: NoteEvent): boolean {
    if (this.windowMs <= 0) return true;
    this.prune(e.time);
    const key = e.type === 'noteon' ? keyOf('on', e.note) : e.type === 'noteoff' ? keyOf('off', e.note) : keyOf('cc', e.controller, e.value);
    const i = this.sent.findIndex((s) => s.key === key && e.time >= s.time && (!this.matchChannel || s.channel === (e.channel ?? 0)));
    if (i < 0) return true;
    this.sent.splice(i, 1);
    this.droppedCount += 1;
    return false;
  }

  /** Echoes dropped so far. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Sends still inside the window as of the last call. */
  get remembered(): number {
    return this.sent.length;
  }

  private prune(now: number): void {
    let n = 0;
    while (n < this.sent.length && now - this.sent[n].time > this.windowMs) n += 1;
    if (n) this.sent.splice(0, n);
  }
}
