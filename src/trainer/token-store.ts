// Cached token arrays on disk: the dataset builder writes them, the trainer reads them.
//
//   tokens.u8   every song's words back to back, one byte per family (UNUSED stored as 255),
//               7 bytes a word: (word, family)
//   index.json  format version, vocabulary, and for each song its source file and word range
//
// One byte is enough because every family's vocabulary is under 255 values (checked below).

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AntiphonError } from '../errors.ts';
import { FAMILIES, FAMILY_SIZES, UNUSED, VOCAB_VERSION, type Word } from '../engine/vocab.ts';

export const TOKENS_FILE = 'tokens.u8';
export const INDEX_FILE = 'index.json';
export const STORE_FORMAT = 'antiphon-tokens/1';
const UNUSED_BYTE = 255;

for (const f of FAMILIES) {
  if (FAMILY_SIZES[f] >= UNUSED_BYTE) throw new Error(`family ${f} no longer fits in a byte`);
}

export interface SongEntry {
  /** Path relative to its data folder. */
  file: string;
  /** The data folder it came from, as given on the command line. */
  source: string;
  /** First word, in words from the start of tokens.u8. */
  offset: number;
  words: number;
  notes: number;
}

export interface StoreIndex {
  format: string;
  vocab: { version: string; families: readonly string[]; sizes: Record<string, number> };
  created: string;
  sources: string[];
  songs: SongEntry[];
  skipped: Array<{ file: string; code: string; message: string }>;
}

export interface TokenStore {
  index: StoreIndex;
  /** (word, family) */
  tokens: Uint8Array;
}

export function packWords(words: readonly Word[], out: Uint8Array, offsetWords: number): void {
  const n = FAMILIES.length;
  for (let i = 0; i < words.length; i++) {
    for (let f = 0; f < n; f++) {
      const v = words[i][f];
      out[(offsetWords + i) * n + f] = v === UNUSED ? UNUSED_BYTE : v;
    }
  }
}

/** Copies words [start, start + count) into `out` at `at` (both in family units), UNUSED restored. */
export function unpackInto(tokens: Uint8Array, start: number, count: number, out: Int32Array | number[], at = 0): void {
  const n = FAMILIES.length;
  for (let i = 0; i < count * n; i++) {
    const b = tokens[start * n + i];
    out[at + i] = b === UNUSED_BYTE ? UNUSED : b;
  }
}

/** Words [start, start + count) of the store, as arrays of integers with UNUSED restored. */
export function unpackWords(tokens: Uint8Array, start: number, count: number): number[][] {
  const n = FAMILIES.length;
  const flat = new Int32Array(count * n);
  unpackInto(tokens, start, count, flat);
  return Array.from({ length: count }, (_, i) => Array.from(flat.subarray(i * n, (i + 1) * n)));
}

export async function writeTokenStore(dir: string, index: StoreIndex, tokens: Uint8Array): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Write then rename, so a reader never sees half a store.
  await writeFile(join(dir, `${TOKENS_FILE}.tmp`), tokens);
  await writeFile(join(dir, `${INDEX_FILE}.tmp`), JSON.stringify(index, null, 1));
  await rename(join(dir, `${TOKENS_FILE}.tmp`), join(dir, TOKENS_FILE));
  await rename(join(dir, `${INDEX_FILE}.tmp`), join(dir, INDEX_FILE));
}

export async function readTokenStore(dir: string): Promise<TokenStore> {
  const indexPath = join(dir, INDEX_FILE);
  let index: StoreIndex;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8')) as StoreIndex;
  } catch (e) {
    throw new AntiphonError('E_DATASET', `${indexPath}: cannot read the dataset index (${(e as Error).message}); build it with antiphon dataset build`, { file: indexPath });
  }
  if (index.format !== STORE_FORMAT) throw new AntiphonError('E_DATASET', `${indexPath}: format ${index.format}, expected ${STORE_FORMAT}; rebuild it`, { file: indexPath });
  if (index.vocab?.version !== VOCAB_VERSION) {
    throw new AntiphonError('E_DATASET', `${indexPath}: built for vocabulary ${index.vocab?.version}, this tokenizer is ${VOCAB_VERSION}; rebuild it`, { file: indexPath });
  }
  const tokensPath = join(dir, TOKENS_FILE);
  const tokens = new Uint8Array(await readFile(tokensPath));
  const words = index.songs.reduce((a, s) => a + s.words, 0);
  if (tokens.length !== words * FAMILIES.length) {
    throw new AntiphonError('E_DATASET', `${tokensPath}: holds ${tokens.length} bytes, the index says ${words * FAMILIES.length}; rebuild it`, { file: tokensPath });
  }
  return { index, tokens };
}
