// Training data from a token store: a whole-song train/validation split, random crops of the
// context length, and transposition within the piano's range.
//
// Batches are a pure function of (seed, step), so `--resume` reproduces the exact data order
// from the step number alone, with no sampler state to save.

import { Prng } from '../engine/sampler/prng.ts';
import { CHORD_QUALITIES, chordToken, F, FAMILIES, FAMILY_SIZES, NO_CHORD, TYPE, UNUSED } from '../engine/vocab.ts';
import { unpackInto, type StoreIndex, type TokenStore } from './token-store.ts';

const W = FAMILIES.length;

/** FNV-1a, for a split that stays put when songs are added or reordered. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface Split {
  train: number[];
  val: number[];
}

/** Whole songs go to validation when their name's hash falls under `valFraction`. */
export function splitSongs(index: StoreIndex, valFraction: number): Split {
  const split: Split = { train: [], val: [] };
  index.songs.forEach((s, i) => {
    const u = hash32(`${s.source}/${s.file}`) / 2 ** 32;
    (u < valFraction ? split.val : split.train).push(i);
  });
  return split;
}

/** Transposes a word in place by `k` semitones: its pitch, and its chord's root. */
export function transposeWord(word: Int32Array | number[], k: number, at = 0): void {
  const type = word[at + F.type];
  if (type === TYPE.NOTE) word[at + F.pitch] += k;
  else if (type === TYPE.METRICAL) {
    const c = word[at + F.chord];
    if (c > NO_CHORD && c !== UNUSED) {
      const q = CHORD_QUALITIES.length;
      const root = Math.floor((c - chordToken(0, 0)) / q);
      word[at + F.chord] = chordToken((((root + k) % 12) + 12) % 12, (c - chordToken(0, 0)) % q);
    }
  }
}

export interface BatchOptions {
  /** Words per example, inputs and targets together come from T + 1 consecutive words. */
  contextLength: number;
  batchSize: number;
  seed: number;
  /** Largest transposition in semitones, up or down; 0 turns augmentation off. */
  maxTranspose: number;
}

export class BatchSampler {
  private readonly songs: number[];
  /** Cumulative crop starts, for choosing a song in proportion to its length. */
  private readonly cumulative: Float64Array;
  private readonly pitchRange: Array<[number, number]>;

  constructor(private readonly store: TokenStore, songIds: number[], readonly options: BatchOptions) {
    const T = options.contextLength;
    this.songs = songIds.filter((i) => store.index.songs[i].words >= T + 1);
    if (this.songs.length === 0) throw new Error(`no song is longer than the context length ${T}`);
    this.cumulative = new Float64Array(this.songs.length);
    let acc = 0;
    this.songs.forEach((id, j) => {
      acc += store.index.songs[id].words - T;
      this.cumulative[j] = acc;
    });
    this.pitchRange = this.songs.map((id) => this.songPitchRange(id));
  }

  /** Songs long enough to crop. */
  get songCount(): number {
    return this.songs.length;
  }

  /** (batch, T + 1, family) words for `step`, UNUSED as -1. */
  batch(step: number): Int32Array {
    const { contextLength: T, batchSize: B, seed, maxTranspose } = this.options;
    const rng = new Prng(hash32(`${seed}:${step}`));
    const out = new Int32Array(B * (T + 1) * W);
    const tokens = this.store.tokens;
    for (let b = 0; b < B; b++) {
      const r = rng.next() * this.cumulative[this.cumulative.length - 1];
      let lo = 0;
      let hi = this.cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.cumulative[mid] > r) hi = mid;
        else lo = mid + 1;
      }
      const song = this.store.index.songs[this.songs[lo]];
      const start = song.offset + Math.floor(rng.next() * (song.words - T));
      const [low, high] = this.pitchRange[lo];
      const kMin = Math.max(-maxTranspose, -low);
      const kMax = Math.min(maxTranspose, FAMILY_SIZES.pitch - 1 - high);
      const k = kMin + Math.floor(rng.next() * (kMax - kMin + 1));
      const base = b * (T + 1) * W;
      unpackInto(tokens, start, T + 1, out, base);
      if (k !== 0) for (let t = 0; t <= T; t++) transposeWord(out, k, base + t * W);
    }
    return out;
  }

  private songPitchRange(id: number): [number, number] {
    const s = this.store.index.songs[id];
    let low = Infinity;
    let high = -Infinity;
    for (let i = s.offset; i < s.offset + s.words; i++) {
      if (this.store.tokens[i * W + F.type] !== TYPE.NOTE) continue;
      const p = this.store.tokens[i * W + F.pitch];
      if (p < low) low = p;
      if (p > high) high = p;
    }
    return low === Infinity ? [0, FAMILY_SIZES.pitch - 1] : [low, high];
  }
}
