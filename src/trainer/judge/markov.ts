// The Markov peer, after Pachet's Continuator (2003): a variable-order Markov model learned from
// the primer alone, over note events, generating by the longest matching context.
//
// - An event is what starts on one grid step: its notes (pitch, duration, velocity) sound
//   together, like the Continuator's clustered chords. Two events are the same symbol when they
//   hold the same set of pitches.
// - To continue, take the longest suffix of the history (up to `order` events) that occurs in the
//   primer followed by some event; choose one of those following events uniformly at random
//   (seeded). With no match at any order, fall back to order 0: any primer event.
// - The chosen event keeps its rhythm: it comes after the last one by the gap it had after its
//   own predecessor in the primer (for the primer's first event, the gap to the second; a
//   beat for a one-event primer). Events land on the grid, and generation stops at `toStep`.

import type { ScoreNote } from '../../engine/score.ts';
import { Prng } from '../../engine/sampler/prng.ts';
import { STEPS_PER_BEAT } from '../../engine/vocab.ts';

export interface MarkovOptions {
  /** Longest context matched, in events. */
  order: number;
  seed: number;
  /** Notes starting before this step are not returned (they still shape the context). */
  fromStep: number;
  /** Generation stops at the first event at or after this step. */
  toStep: number;
}

export const MARKOV_DEFAULT_ORDER = 4;

interface MarkovEvent {
  step: number;
  notes: ScoreNote[];
  symbol: number;
}

/** The primer's notes grouped into events by onset step, each given a symbol id by its pitch set. */
export function primerEvents(primer: readonly ScoreNote[]): MarkovEvent[] {
  const byStep = new Map<number, ScoreNote[]>();
  for (const n of primer) {
    const list = byStep.get(n.step);
    if (list) list.push(n);
    else byStep.set(n.step, [n]);
  }
  const symbols = new Map<string, number>();
  return [...byStep.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([step, notes]) => {
      notes.sort((a, b) => a.pitch - b.pitch);
      const key = notes.map((n) => n.pitch).join(',');
      if (!symbols.has(key)) symbols.set(key, symbols.size);
      return { step, notes, symbol: symbols.get(key)! };
    });
}

/** Notes after the primer, from a Continuator-style model of the primer alone. */
export function markovContinuation(primer: readonly ScoreNote[], opts: MarkovOptions): ScoreNote[] {
  const events = primerEvents(primer);
  const n = events.length;
  if (n === 0) return [];
  const rng = new Prng(opts.seed);
  const gapBefore = (j: number) => (j > 0 ? events[j].step - events[j - 1].step : n > 1 ? events[1].step - events[0].step : STEPS_PER_BEAT);
  const history: number[] = events.map((e) => e.symbol);
  const out: ScoreNote[] = [];
  let t = events[n - 1].step;
  for (;;) {
    let choices: number[] = [];
    for (let k = Math.min(opts.order, history.length); k >= 1 && choices.length === 0; k--) {
      // primer positions i (1 <= i < n) whose k predecessors equal the history's last k symbols
      for (let i = k; i < n; i++) {
        let match = true;
        for (let d = 1; d <= k && match; d++) match = events[i - d].symbol === history[history.length - d];
        if (match) choices.push(i);
      }
    }
    if (choices.length === 0) choices = events.map((_, i) => i);
    const j = choices[Math.floor(rng.next() * choices.length)];
    t += gapBefore(j);
    if (t >= opts.toStep) break;
    if (t >= opts.fromStep) for (const note of events[j].notes) out.push({ ...note, step: t });
    history.push(events[j].symbol);
  }
  return out;
}
