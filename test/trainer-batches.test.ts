import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BatchSampler, splitSongs, transposeWord } from '../src/trainer/batches.ts';
import { packWords, STORE_FORMAT, type TokenStore } from '../src/trainer/token-store.ts';
import { encodeScore } from '../src/engine/encode.ts';
import { quantize } from '../src/engine/quantize.ts';
import { F, FAMILIES, FAMILY_SIZES, TYPE, VOCAB, chordName, chordToken, wordError } from '../src/engine/vocab.ts';
import { Prng } from '../src/engine/sampler/prng.ts';

const W = FAMILIES.length;

/** A store of synthetic songs: random chords and melodies, between `low` and `high` MIDI pitch. */
function syntheticStore(songs: number, low = 40, high = 90): TokenStore {
  const rng = new Prng(99);
  const all: number[][][] = [];
  for (let s = 0; s < songs; s++) {
    const notes = Array.from({ length: 300 + Math.floor(rng.next() * 300) }, (_, i) => ({
      tick: i * 120 * (1 + Math.floor(rng.next() * 2)),
      dur: 240,
      pitch: low + Math.floor(rng.next() * (high - low + 1)),
      velocity: 64,
    }));
    all.push(encodeScore(quantize({ notes, tempos: [] }).score).map((w) => [...w]));
  }
  const total = all.reduce((a, w) => a + w.length, 0);
  const tokens = new Uint8Array(total * W);
  let offset = 0;
  const entries = all.map((words, i) => {
    packWords(words, tokens, offset);
    const e = { file: `song${i}.mid`, source: 'synthetic', offset, words: words.length, notes: 0 };
    offset += words.length;
    return e;
  });
  return {
    index: { format: STORE_FORMAT, vocab: { version: VOCAB.version, families: VOCAB.families, sizes: { ...VOCAB.sizes } }, created: '', sources: ['synthetic'], songs: entries, skipped: [] },
    tokens,
  };
}

test('the split is by whole song, disjoint, deterministic and near the asked fraction', () => {
  const store = syntheticStore(200);
  const a = splitSongs(store.index, 0.1);
  const b = splitSongs(store.index, 0.1);
  assert.equal(a, b);
  assert.is(a.train.length + a.val.length, 200);
  assert.ok(a.val.every((i) => !a.train.includes(i)));
  assert.ok(a.val.length >= 8 && a.val.length <= 35, `${a.val.length} validation songs`);
});

test('transposition moves pitches and chord roots together', () => {
  const w = [TYPE.METRICAL, 1, 0, chordToken(11, 1), -1, -1, -1];
  transposeWord(w, 2);
  assert.is(chordName(w[F.chord]), 'C#:min');
  transposeWord(w, -3);
  assert.is(chordName(w[F.chord]), 'A#:min');
  const n = [TYPE.NOTE, -1, -1, -1, 40, 3, 10];
  transposeWord(n, -5);
  assert.is(n[F.pitch], 35);
});

test('batches are a pure function of (seed, step): resume needs only the step', () => {
  const store = syntheticStore(20);
  const opts = { contextLength: 64, batchSize: 3, seed: 7, maxTranspose: 5 };
  const s1 = new BatchSampler(store, splitSongs(store.index, 0).train, opts);
  const s2 = new BatchSampler(store, splitSongs(store.index, 0).train, opts);
  assert.equal(s1.batch(41), s2.batch(41));
  assert.not.equal(s1.batch(41), s1.batch(42));
  assert.is(s1.batch(0).length, 3 * 65 * W);
});

test('crops are runs of a real song, transposed by one amount, within the piano', () => {
  const store = syntheticStore(10, 21, 60); // low songs: downward shifts are limited
  const T = 48;
  const sampler = new BatchSampler(store, [...store.index.songs.keys()], { contextLength: T, batchSize: 4, seed: 1, maxTranspose: 6 });
  let shifted = 0;
  for (let step = 0; step < 30; step++) {
    const batch = sampler.batch(step);
    for (let b = 0; b < 4; b++) {
      const words = Array.from({ length: T + 1 }, (_, t) => Array.from(batch.subarray((b * (T + 1) + t) * W, (b * (T + 1) + t + 1) * W)));
      for (const w of words) {
        assert.is(wordError(w), null);
        if (w[F.type] === TYPE.NOTE) assert.ok(w[F.pitch] >= 0 && w[F.pitch] < FAMILY_SIZES.pitch);
      }
      // Find the crop in the store under some single transposition.
      let found = false;
      for (let k = -6; k <= 6 && !found; k++) {
        const undone = words.map((w) => { const c = [...w]; transposeWord(c, -k); return c; });
        for (const song of store.index.songs) {
          for (let s = song.offset; s + T + 1 <= song.offset + song.words && !found; s++) {
            if (undone.every((w, t) => w.every((v, f) => v === (store.tokens[(s + t) * W + f] === 255 ? -1 : store.tokens[(s + t) * W + f])))) {
              found = true;
              if (k !== 0) shifted++;
            }
          }
        }
      }
      assert.ok(found, `step ${step} example ${b} is not a transposed crop of any song`);
    }
  }
  assert.ok(shifted > 0, 'augmentation transposed some crops');
});

test.run();
