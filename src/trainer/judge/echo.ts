// The echo peer: it answers by repeating the primer's last bars, note for note.

import type { ScoreNote } from '../../engine/score.ts';
import { STEPS_PER_BAR } from '../../engine/vocab.ts';

/**
 * `bars` bars after a primer of `primerBars` bars: its last min(bars, primerBars) bars, played
 * again and cycled if more are needed. Bar primerBars + j copies primer bar
 * primerBars - L + (j mod L).
 */
export function echoContinuation(primer: readonly ScoreNote[], primerBars: number, bars: number): ScoreNote[] {
  const L = Math.min(bars, primerBars);
  const out: ScoreNote[] = [];
  for (let j = 0; j < bars; j++) {
    const src = primerBars - L + (j % L);
    const shift = (primerBars + j - src) * STEPS_PER_BAR;
    for (const n of primer) {
      if (Math.floor(n.step / STEPS_PER_BAR) === src) out.push({ ...n, step: n.step + shift });
    }
  }
  return out.sort((a, b) => a.step - b.step || a.pitch - b.pitch);
}
