// How much a model listens to the primer: the NLL of the real next bars given the whole
// primer, against the same words given only the primer's last bar.
//
// Why: pop songs repeat themselves (in the validation songs, 56% of the notes in bars 8-24
// have the same pitch at the same step 1, 2, 4 or 8 bars earlier), so a model that hears the
// primer should predict the next bars much better with all of it than with its last bar.
// The first default models gained 0.002-0.03 nats of pitch NLL from three more bars: they
// did not come back to the primer's harmony when they played (docs/judging.md).
import * as tf from '@tensorflow/tfjs';
import type { CPTransformer } from '../../engine/model/transformer.ts';
import { BAR, F, FAMILIES, FAMILY_SIZES, TYPE, type Word } from '../../engine/vocab.ts';
import { batchTensors, familyNll } from '../loss.ts';

export interface NllPair {
  /** Mean NLL (nats) with the whole primer before the real bars. */
  full: number;
  /** The same words with only the primer's last bar before them. */
  lastBar: number;
  /** lastBar - full: what the earlier bars are worth (higher: the model listens more). */
  gain: number;
}

export interface ContextUse {
  /** Songs measured; songs longer than the model's window are left out. */
  songs: number;
  /** Real next-bar words predicted. */
  words: number;
  /** Per word: the type's NLL plus the NLLs of the families its type uses (as antiphon eval). */
  nllPerWord: NllPair;
  pitch: NllPair;
  chord: NllPair;
}

const W = FAMILIES.length;

/** Per target word of `seq` from index `from`: NLL per family (NaN where unused). */
function targetNlls(model: CPTransformer, seq: readonly Word[], from: number): Float32Array[] {
  const T = seq.length - 1;
  const flat = new Int32Array(seq.length * W);
  seq.forEach((w, i) => flat.set(w, i * W));
  return tf.tidy(() => {
    const b = batchTensors(flat, 1, T);
    const logits = model.forward(b.inputs, b.targetTypes);
    return FAMILIES.map((f) => {
      const nll = familyNll(logits[f], b.targets[f], FAMILY_SIZES[f]).dataSync() as Float32Array;
      const used = b.masks[f].dataSync();
      // Position t predicts word t + 1: the targets from `from` on are positions from - 1 on.
      return nll.slice(from - 1).map((v, i) => (used[from - 1 + i] ? v : NaN));
    });
  });
}

/** The index of the primer's last Bar word (0 when it has one bar or none). */
function lastBarStart(primer: readonly Word[]): number {
  for (let i = primer.length - 1; i >= 0; i--) if (primer[i][F.type] === TYPE.METRICAL && primer[i][F.barBeat] === BAR) return i;
  return 0;
}

/** Context use over songs given as (primer words, the real next bars' words). */
export function contextUse(model: CPTransformer, songs: ReadonlyArray<{ primer: readonly Word[]; next: readonly Word[] }>): ContextUse {
  const sums = { full: new Float64Array(W), short: new Float64Array(W), count: new Float64Array(W), words: 0, fullWord: 0, shortWord: 0 };
  let used = 0;
  for (const { primer, next } of songs) {
    const seq = [...primer, ...next];
    if (next.length === 0 || primer.length === 0 || seq.length > model.config.contextLength) continue;
    used++;
    const cut = lastBarStart(primer);
    const full = targetNlls(model, seq, primer.length);
    const short = targetNlls(model, seq.slice(cut), primer.length - cut);
    for (let i = 0; i < next.length; i++) {
      sums.words++;
      for (let f = 0; f < W; f++) {
        if (Number.isNaN(full[f][i])) continue;
        sums.full[f] += full[f][i];
        sums.short[f] += short[f][i];
        sums.count[f]++;
        sums.fullWord += full[f][i];
        sums.shortWord += short[f][i];
      }
    }
  }
  const pair = (full: number, short: number, n: number): NllPair => {
    const a = n ? full / n : NaN;
    const b = n ? short / n : NaN;
    return { full: a, lastBar: b, gain: b - a };
  };
  const fam = (f: number) => pair(sums.full[f], sums.short[f], sums.count[f]);
  return {
    songs: used,
    words: sums.words,
    nllPerWord: pair(sums.fullWord, sums.shortWord, sums.words),
    pitch: fam(F.pitch),
    chord: fam(F.chord),
  };
}
