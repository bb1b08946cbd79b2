// `antiphon eval`: a model's NLL per word and per-family accuracy on MIDI files.
// Each song is read in consecutive windows of the model's context, every window's first word
// serving only as context (it has no prediction inside that window).

import * as tf from '@tensorflow/tfjs';
import type { CPTransformer } from '../engine/model/transformer.ts';
import { FAMILIES } from '../engine/vocab.ts';
import type { Word } from '../engine/vocab.ts';
import { accumulateEval, batchTensors, emptyTotals, summarizeEval, type EvalTotals } from './loss.ts';

const W = FAMILIES.length;

/** Adds one song's predictions to `totals`; windows hold at most `window` + 1 words. */
export function evaluateSong(model: CPTransformer, words: readonly Word[], totals: EvalTotals, window = model.config.contextLength): void {
  for (let start = 0; start + 1 < words.length; start += window) {
    const chunk = words.slice(start, Math.min(words.length, start + window + 1));
    const T = chunk.length - 1;
    const flat = new Int32Array(chunk.length * W);
    chunk.forEach((w, i) => flat.set(w, i * W));
    tf.tidy(() => accumulateEval(model, batchTensors(flat, 1, T), totals));
  }
}

export { emptyTotals, summarizeEval };
