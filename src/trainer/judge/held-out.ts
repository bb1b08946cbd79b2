// The songs a model is judged on: validation songs of the trainer's own split (so nothing judged
// was trained on), each cut into a primer (its first N bars) and the real next M bars.

import { firstBars } from '../../engine/continue.ts';
import { decodeWords } from '../../engine/encode.ts';
import type { ScoreNote } from '../../engine/score.ts';
import { BAR, F, STEPS_PER_BAR, TYPE, type Word } from '../../engine/vocab.ts';
import { splitSongs } from '../batches.ts';
import { unpackWords, type TokenStore } from '../token-store.ts';
import { notesBetween } from './metrics.ts';

export interface JudgeCase {
  /** The song's index in the token store (seeds derive from it, so a song's draws do not depend on the others). */
  id: number;
  source: string;
  file: string;
  /** The first primerBars bars of words. */
  primer: Word[];
  /** The words of the real next bars. */
  next: Word[];
  primerNotes: ScoreNote[];
  /** The real notes with onsets in bars [primerBars, primerBars + bars). */
  reference: ScoreNote[];
}

export interface HeldOut {
  /** Validation songs in the split. */
  validation: number;
  /** Of those, usable ones. */
  eligible: number;
  skipped: { tooShort: number; silentReference: number };
  cases: JudgeCase[];
}

export interface HeldOutOptions {
  valFraction: number;
  songs: number;
  primerBars: number;
  bars: number;
}

const countBars = (words: readonly Word[]) => words.filter((w) => w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR).length;

/**
 * Every validation song with at least primerBars + bars bars and some notes in the reference bars,
 * then `songs` of them spread evenly over the store's order (which groups songs by corpus), so a
 * small judge still hears every source.
 */
export function heldOutCases(store: TokenStore, opts: HeldOutOptions): HeldOut {
  const { val } = splitSongs(store.index, opts.valFraction);
  const skipped = { tooShort: 0, silentReference: 0 };
  const usable: JudgeCase[] = [];
  const from = opts.primerBars * STEPS_PER_BAR;
  const to = (opts.primerBars + opts.bars) * STEPS_PER_BAR;
  for (const id of val) {
    const song = store.index.songs[id];
    const words = unpackWords(store.tokens, song.offset, song.words);
    const head = firstBars(words, opts.primerBars + opts.bars);
    if (countBars(head) < opts.primerBars + opts.bars) {
      skipped.tooShort++;
      continue;
    }
    const reference = notesBetween(decodeWords(head).notes, from, to);
    if (reference.length === 0) {
      skipped.silentReference++;
      continue;
    }
    const primer = firstBars(words, opts.primerBars);
    usable.push({ id, source: song.source, file: song.file, primer, next: head.slice(primer.length), primerNotes: decodeWords(primer).notes, reference });
  }
  const take = Math.min(opts.songs, usable.length);
  const cases = Array.from({ length: take }, (_, i) => usable[Math.floor((i * usable.length) / take)]);
  return { validation: val.length, eligible: usable.length, skipped, cases };
}
