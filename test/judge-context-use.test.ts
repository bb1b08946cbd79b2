// contextUse (src/trainer/judge/context-use.ts): the real next bars' NLL after the whole primer
// and after its last bar only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { BAR, F, TYPE, type Word } from '../src/engine/vocab.ts';
import { contextUse } from '../src/trainer/judge/context-use.ts';
import { engineBackend, METER, randomWords, tinyConfig } from './helpers/engine-setup.ts';

test.before(engineBackend);

/** randomWords cut at its k-th Bar word (the first k bars) and the rest up to `n` words. */
function split(words: Word[], k: number): { primer: Word[]; next: Word[] } {
  let seen = 0;
  const at = words.findIndex((w) => w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR && ++seen > k);
  return { primer: words.slice(0, at), next: words.slice(at) };
}

test('a one-bar primer is its own last bar: the gain is exactly 0', () => {
  const model = CPTransformer.create(tinyConfig({ ...METER, contextLength: 256 }), 4);
  const songs = [randomWords(120, 1), randomWords(120, 2)].map((w) => split(w, 1));
  assert.ok(songs.every((s) => s.primer.length > 1 && s.next.length > 1));
  const u = contextUse(model, songs);
  assert.is(u.songs, 2);
  assert.is(u.words, songs[0].next.length + songs[1].next.length);
  assert.is(u.nllPerWord.gain, 0);
  assert.is(u.pitch.full, u.pitch.lastBar);
  model.dispose();
});

test('with more bars of primer the two contexts differ; songs past the window are left out', () => {
  const model = CPTransformer.create(tinyConfig({ ...METER, contextLength: 256 }), 4);
  const songs = [randomWords(200, 1), randomWords(200, 2)].map((w) => split(w, 3));
  assert.ok(songs.every((s) => s.primer.length > 0 && s.next.length > 0));
  const u = contextUse(model, [...songs, split(randomWords(400, 3), 3)]);
  assert.is(u.songs, 2, 'the 400-word song does not fit 256 words');
  assert.ok(Math.abs(u.nllPerWord.gain) > 1e-6 && Math.abs(u.pitch.gain) > 1e-6, JSON.stringify(u));
  assert.ok(Number.isFinite(u.chord.full));
  model.dispose();
});

test.run();
