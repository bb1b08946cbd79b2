// Tempo from a played call: which beat period best explains the gaps between its onsets.
//
// Each inter-onset interval (IOI) votes for the beat periods it is a simple multiple or
// fraction of (1/4, 1/2, 1, 2, 3 and 4 beats), weighted by how closely it fits. A log-normal
// prior around 110 BPM breaks the octave ambiguity (a phrase of quarter notes at 60 BPM is also
// eighth notes at 120), as tempo trackers commonly do. Chords count once: onsets closer than
// `chordMs` are one event.

export interface TempoEstimateOptions {
  minBpm?: number;
  maxBpm?: number;
  /** Onsets closer than this are one chord. Default 60 ms. */
  chordMs?: number;
}

const RATIOS = [0.25, 0.5, 1, 2, 3, 4];
const RATIO_WEIGHT = [0.5, 0.8, 1, 0.9, 0.6, 0.7];

/** BPM that best fits `onsetsMs`, or null when the call has fewer than three distinct onsets. */
export function estimateTempo(onsetsMs: readonly number[], opts: TempoEstimateOptions = {}): number | null {
  const minBpm = opts.minBpm ?? 50;
  const maxBpm = opts.maxBpm ?? 200;
  const chordMs = opts.chordMs ?? 60;
  const sorted = [...onsetsMs].sort((a, b) => a - b);
  const events: number[] = [];
  for (const t of sorted) if (!events.length || t - events[events.length - 1] >= chordMs) events.push(t);
  if (events.length < 3) return null;
  // IOIs between each event and the next few, so syncopation still leaves the beat visible.
  const iois: number[] = [];
  for (let i = 0; i < events.length; i++) {
    for (let j = i + 1; j < Math.min(events.length, i + 4); j++) iois.push(events[j] - events[i]);
  }
  let best = minBpm;
  let bestScore = -Infinity;
  for (let bpm = minBpm; bpm <= maxBpm; bpm += 0.5) {
    const beat = 60000 / bpm;
    let score = 0;
    for (const ioi of iois) {
      let vote = 0;
      for (let r = 0; r < RATIOS.length; r++) {
        // Relative error, so a 5% miss costs the same at every scale.
        const err = Math.log(ioi / (beat * RATIOS[r]));
        vote = Math.max(vote, RATIO_WEIGHT[r] * Math.exp(-(err * err) / (2 * 0.03 * 0.03)));
      }
      score += vote;
    }
    const prior = Math.log(bpm / 110);
    score *= Math.exp(-(prior * prior) / (2 * 0.5 * 0.5));
    if (score > bestScore) {
      bestScore = score;
      best = bpm;
    }
  }
  return best;
}
