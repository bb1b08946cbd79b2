// Folders of MIDI -> a token store, parsing on every core, skipping (and naming) bad files.

import { basename, relative, resolve } from 'node:path';
import { isAntiphonError, AntiphonError } from '../errors.ts';
import { FAMILIES, FAMILY_SIZES, UNUSED, VOCAB } from '../engine/vocab.ts';
import { listMidiFiles, MidiReaderPool, type MidiReaderOptions } from '../io/midi-pool.ts';
import { tokenizeMany, type Tokenized } from '../io/midi-tokens.ts';
import { STORE_FORMAT, packWords, writeTokenStore, type SongEntry, type StoreIndex } from './token-store.ts';

export interface BuildOptions {
  data: string[];
  out: string;
  reader?: Partial<MidiReaderOptions>;
  /** Called once per file, whatever happened to it. */
  onFile?: (file: string, error: AntiphonError | null) => void;
  /** Called once the files are listed. */
  onListed?: (count: number) => void;
}

export interface BuildStats {
  songs: number;
  words: number;
  notes: number;
  skipped: number;
  /** For each family, how many words hold each value; the last entry counts words where the family is unused. */
  familyCounts: Record<string, number[]>;
}

export async function buildDataset(opts: BuildOptions): Promise<{ index: StoreIndex; stats: BuildStats }> {
  const jobs: Array<{ file: string; root: string }> = [];
  for (const dir of opts.data) {
    const root = resolve(dir);
    for (const file of await listMidiFiles(root)) jobs.push({ file, root });
  }
  if (jobs.length === 0) throw new AntiphonError('E_DATASET', `no .mid or .midi files under ${opts.data.join(', ')}`);
  opts.onListed?.(jobs.length);

  const pool = new MidiReaderPool(opts.reader);
  let results: Array<Tokenized | AntiphonError>;
  try {
    results = await tokenizeMany(pool, jobs.map((j) => j.file), {
      requireNotes: true,
      onEach: (file, r) => opts.onFile?.(file, isAntiphonError(r) ? r : null),
    });
  } finally {
    await pool.dispose();
  }

  const songs: SongEntry[] = [];
  const skipped: StoreIndex['skipped'] = [];
  let total = 0;
  results.forEach((r, i) => {
    if (isAntiphonError(r)) skipped.push({ file: jobs[i].file, code: r.code, message: r.message });
    else total += r.words.length;
  });
  const tokens = new Uint8Array(total * FAMILIES.length);
  const familyCounts = Object.fromEntries(FAMILIES.map((f) => [f, new Array(FAMILY_SIZES[f] + 1).fill(0)])) as Record<string, number[]>;
  let offset = 0;
  let notes = 0;
  results.forEach((r, i) => {
    if (isAntiphonError(r)) return;
    packWords(r.words, tokens, offset);
    for (const w of r.words) {
      FAMILIES.forEach((f, k) => familyCounts[f][w[k] === UNUSED ? FAMILY_SIZES[f] : w[k]]++);
    }
    songs.push({ file: relative(jobs[i].root, jobs[i].file), source: basename(jobs[i].root), offset, words: r.words.length, notes: r.score.notes.length });
    offset += r.words.length;
    notes += r.score.notes.length;
  });
  const index: StoreIndex = {
    format: STORE_FORMAT,
    vocab: { version: VOCAB.version, families: VOCAB.families, sizes: { ...VOCAB.sizes } },
    created: new Date().toISOString(),
    sources: opts.data.map((d) => basename(resolve(d))),
    songs,
    skipped,
  };
  await writeTokenStore(opts.out, index, tokens);
  return { index, stats: { songs: songs.length, words: total, notes, skipped: skipped.length, familyCounts } };
}
