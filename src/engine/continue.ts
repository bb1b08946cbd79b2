// Offline continuation: prime a model with a primer's words and sample bars after it.
// This is how the paper judges a model, and how a musician tries one before playing with it.

import type { CPTransformer } from './model/transformer.ts';
import { Grammar } from './sampler/grammar.ts';
import { generate } from './sampler/generate.ts';
import { DensityBalance, withNoteBias } from './sampler/density-balance.ts';
import { notePitchClasses, PitchBalance } from './sampler/pitch-balance.ts';
import type { Sampler } from './sampler/sampler.ts';
import { BAR, F, TYPE, type Word } from './vocab.ts';

/** The words of the first `bars` bars (EOS dropped). */
export function firstBars(words: readonly Word[], bars: number): Word[] {
  const out: Word[] = [];
  let seen = 0;
  for (const w of words) {
    if (w[F.type] === TYPE.EOS) break;
    if (w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR && ++seen > bars) break;
    out.push(w);
  }
  return out;
}

export interface ContinueOptions {
  /** Bars to add after the primer. */
  bars: number;
  /** A hard stop, whatever the bar count: a model that never writes a Bar word still ends. */
  maxWords: number;
  /** Steers the continuation's pitch classes toward the primer's (pitch-balance.ts); default 0, off. */
  pitchBalance?: number;
  /** Steers its notes per bar toward the primer's last bars' (density-balance.ts); default 0, off. */
  densityBalance?: number;
}

/** Samples words after `primer` until `bars` more bars have started (that Bar word is not kept) or maxWords. */
export function continueWords(model: CPTransformer, primer: readonly Word[], sampler: Sampler, opts: ContinueOptions): Word[] {
  if (primer.length === 0) throw new Error('a continuation needs at least one primer word');
  const cache = model.createCache();
  try {
    // The caller asked for a number of bars, so the piece may not end before them.
    const grammar = Grammar.after(primer, { allowEos: false });
    const primerBars = grammar.bar + 1;
    let next = model.prime(cache, primer);
    const out: Word[] = [];
    const balance = new PitchBalance(opts.pitchBalance ?? 0);
    balance.setReference(notePitchClasses(primer));
    const density = new DensityBalance(opts.densityBalance ?? 0);
    density.setReference(primer);
    while (out.length < opts.maxWords) {
      const { words, next: after } = generate(model, cache, sampler, grammar, withNoteBias(next, density.bias()), 1, balance.bias());
      const w = words[0];
      if (w[F.type] === TYPE.EOS) break;
      if (w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR && grammar.bar + 1 > primerBars + opts.bars) break;
      out.push(w);
      balance.observe(w);
      density.observe(w);
      next = after;
    }
    return out;
  } finally {
    cache.dispose();
  }
}
