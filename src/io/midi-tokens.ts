// MIDI files -> compound words: the file tokenizer every command and the dataset builder share.
// A `beat_midi.txt` beside a file (POP909's layout) supplies its beat grid; otherwise the file's
// own ticks and tempo map are used.

import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ParsedMidi } from './midi-types.ts';
import type { MidiReaderPool } from './midi-pool.ts';
import { AntiphonError, isAntiphonError } from '../errors.ts';
import { readBeatTrack, type BeatTrack } from './beat-track.ts';
import { performanceFromMidi } from './performance-from-midi.ts';
import { quantize, type QuantizeStats } from '../engine/quantize.ts';
import { encodeScore } from '../engine/encode.ts';
import type { Performance, Score } from '../engine/score.ts';
import type { Word } from '../engine/vocab.ts';

export const BEAT_FILE = 'beat_midi.txt';

export interface Tokenized {
  file: string;
  score: Score;
  stats: QuantizeStats;
  words: Word[];
  /** Where the beat grid came from. */
  grid: 'file' | 'beat-annotations';
}

/** The beat annotations beside a MIDI file, if it has any. */
export async function findBeatTrack(file: string): Promise<BeatTrack | undefined> {
  const path = join(dirname(file), BEAT_FILE);
  try {
    await access(path);
  } catch {
    return undefined;
  }
  return readBeatTrack(path);
}

export function tokenizePerformance(perf: Performance): { score: Score; stats: QuantizeStats; words: Word[] } {
  const { score, stats } = quantize(perf);
  return { score, stats, words: encodeScore(score) };
}

export function tokenizeParsed(midi: ParsedMidi, beats?: BeatTrack): Tokenized {
  const { score, stats, words } = tokenizePerformance(performanceFromMidi(midi, beats));
  return { file: midi.file, score, stats, words, grid: beats ? 'beat-annotations' : 'file' };
}

/** Reads (in the pool's sandboxed workers) and tokenizes one file. Rejects with an AntiphonError naming it. */
export async function tokenizeFile(pool: MidiReaderPool, file: string): Promise<Tokenized> {
  const [midi, beats] = await Promise.all([pool.read(file), findBeatTrack(file)]);
  return tokenizeParsed(midi, beats);
}

export interface TokenizeManyOptions {
  /** A file with no piano notes counts as failed (E_MIDI_EMPTY). */
  requireNotes?: boolean;
  /** Called as each file finishes, whatever happened to it. */
  onEach?: (file: string, result: Tokenized | AntiphonError) => void;
}

/** Reads and tokenizes files on the pool's workers. Results keep the order of `files`; a bad file yields its error. */
export function tokenizeMany(pool: MidiReaderPool, files: string[], opts: TokenizeManyOptions = {}): Promise<Array<Tokenized | AntiphonError>> {
  return Promise.all(
    files.map(async (file) => {
      let result: Tokenized | AntiphonError;
      try {
        result = await tokenizeFile(pool, file);
        if (opts.requireNotes && result.score.notes.length === 0) result = new AntiphonError('E_MIDI_EMPTY', `${file}: no piano notes`, { file });
      } catch (e) {
        result = isAntiphonError(e) ? e : new AntiphonError('E_INTERNAL', `${file}: ${(e as Error)?.message ?? String(e)}`, { file, cause: e });
      }
      opts.onEach?.(file, result);
      return result;
    }),
  );
}
