// The decode loop: sample a word, feed it back through the cache, repeat. The AI's own
// words go into the context like the person's, so the model hears the whole duet.
import type { KVCache } from '../model/kv-cache.ts';
import type { CPTransformer, NextWordLogits } from '../model/transformer.ts';
import { TYPE, type Word } from '../vocab.ts';
import type { Grammar } from './grammar.ts';
import type { Sampler } from './sampler.ts';

export interface Generated {
  words: Word[];
  /** The distributions after the last word, to continue from. */
  next: NextWordLogits;
}

/**
 * Up to `count` words from `from` (the logits that the last step or prime returned).
 * Each sampled word advances `grammar` and extends `cache`. Stops after an EOS word,
 * which is not fed to the cache. `pitchClassBias` goes to every sample (Sampler.sampleWord).
 */
export function generate(
  model: CPTransformer,
  cache: KVCache,
  sampler: Sampler,
  grammar: Grammar,
  from: NextWordLogits,
  count: number,
  pitchClassBias: ArrayLike<number> | null = null,
): Generated {
  const words: Word[] = [];
  let next = from;
  for (let i = 0; i < count; i++) {
    const w = sampler.sampleWord(next, grammar, pitchClassBias);
    grammar.advance(w);
    words.push(w);
    if (w[0] === TYPE.EOS) break;
    next = model.step(cache, w);
  }
  return { words, next };
}
