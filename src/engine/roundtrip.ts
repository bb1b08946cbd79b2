// The tokenizer's contract, measured: encode a score, decode the words, count what came back.

import { decodeWords, encodeScore } from './encode.ts';
import { scoreNoteKey, type Score } from './score.ts';
import type { Word } from './vocab.ts';

export interface RoundTripCount {
  notesIn: number;
  notesOut: number;
  /** Input notes with no identical (onset, pitch, duration bin, velocity bin) note in the output. */
  notesLost: number;
  words: number;
}

export function roundTripScore(score: Score, words: Word[] = encodeScore(score)): RoundTripCount {
  const decoded = decodeWords(words).notes;
  const left = new Map<string, number>();
  for (const n of decoded) left.set(scoreNoteKey(n), (left.get(scoreNoteKey(n)) ?? 0) + 1);
  let lost = 0;
  for (const n of score.notes) {
    const k = scoreNoteKey(n);
    const c = left.get(k) ?? 0;
    if (c === 0) lost++;
    else left.set(k, c - 1);
  }
  return { notesIn: score.notes.length, notesOut: decoded.length, notesLost: lost, words: words.length };
}
