// Means with a simple spread: sample standard deviation and a 95% percentile-bootstrap interval
// over songs, seeded so that a report is reproducible.

import { Prng } from '../../engine/sampler/prng.ts';

export interface Stat {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single value. */
  std: number;
  /** 95% percentile bootstrap interval of the mean. */
  ci95: [number, number];
  /** Values that were defined (songs where the measure applies). */
  n: number;
}

export const BOOTSTRAP_RESAMPLES = 1000;

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The mean, std and bootstrap CI of the defined values; null when none is defined. */
export function summarize(values: ReadonlyArray<number | null>, seed = 1, resamples = BOOTSTRAP_RESAMPLES): Stat | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return null;
  const m = mean(v);
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1)) : 0;
  const rng = new Prng(seed);
  const means: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[Math.floor(rng.next() * v.length)];
    means.push(s / v.length);
  }
  means.sort((a, b) => a - b);
  return { mean: m, std, ci95: [quantile(means, 0.025), quantile(means, 0.975)], n: v.length };
}

/** a - b over the songs where both are defined, as a Stat (its CI is a paired bootstrap). */
export function pairedDifference(a: ReadonlyArray<number | null>, b: ReadonlyArray<number | null>, seed = 1): Stat | null {
  if (a.length !== b.length) throw new Error(`paired values of ${a.length} and ${b.length} songs`);
  const d: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== null && y !== null) d.push(x - y);
  }
  return summarize(d, seed);
}
