import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CPTransformer, type NextWordLogits } from '../src/engine/model/transformer.ts';
import { OUTPUT_FAMILIES } from '../src/engine/model/weights.ts';
import { generate } from '../src/engine/sampler/generate.ts';
import { Grammar } from '../src/engine/sampler/grammar.ts';
import { Prng } from '../src/engine/sampler/prng.ts';
import { Sampler } from '../src/engine/sampler/sampler.ts';
import { DEFAULT_SAMPLING, GREEDY, resolveSampling } from '../src/engine/sampler/settings.ts';
import { BAR, beatToken, CONTI, FAMILY_SIZES, TYPE, UNUSED, wordError, type Word } from '../src/engine/vocab.ts';
import { isAntiphonError } from '../src/errors.ts';
import { engineBackend, tinyConfig } from './helpers/engine-setup.ts';

test.before(engineBackend);

const BAR_WORD: Word = [TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED];
const beat = (s: number): Word => [TYPE.METRICAL, beatToken(s), 0, 0, UNUSED, UNUSED, UNUSED];
const note = (p: number): Word => [TYPE.NOTE, UNUSED, UNUSED, UNUSED, p, 3, 20];

function settingError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(isAntiphonError(e), String(e));
    assert.is((e as { code: string }).code, 'E_SAMPLER_SETTING');
    return (e as Error).message;
  }
  assert.unreachable('no error');
  return '';
}

test('invalid sampler settings name the setting', () => {
  assert.match(settingError(() => new Sampler({ settings: { pitch: { temperature: -0.5 } } })), 'pitch.temperature');
  assert.match(settingError(() => new Sampler({ settings: { tempo: { topP: 0 } } })), 'tempo.topP');
  assert.match(settingError(() => new Sampler({ settings: { chord: { topP: 1.01 } } })), 'chord.topP');
  assert.match(settingError(() => new Sampler({ settings: { velocity: { topK: -1 } } })), 'velocity.topK');
  assert.match(settingError(() => new Sampler({ settings: { duration: { temperature: NaN } } })), 'duration.temperature');
  assert.match(settingError(() => resolveSampling({ loudness: {} } as never)), 'loudness');
  const s = new Sampler();
  settingError(() => s.update({ type: { temperature: -1 } }));
  assert.is(s.settings.type.temperature, 1, 'a rejected update changes nothing');
});

test('defaults follow the reference table', () => {
  const t = (f: keyof typeof DEFAULT_SAMPLING) => [DEFAULT_SAMPLING[f].temperature, DEFAULT_SAMPLING[f].topP];
  assert.equal(t('type'), [1, 0.9]);
  assert.equal(t('tempo'), [1.2, 0.9]);
  assert.equal(t('barBeat'), [1.2, 1]);
  assert.equal(t('chord'), [1, 0.99]);
  assert.equal(t('pitch'), [1, 0.9]);
  assert.equal(t('duration'), [2, 0.9]);
  assert.equal(t('velocity'), [5, 1]);
});

test('temperature 0 is greedy and respects the mask; top-k 1 and a tiny top-p are greedy too', () => {
  const logits = [0.1, 3, 2.9, -1];
  const g = new Sampler({ settings: { pitch: { temperature: 0 } } });
  assert.is(g.sampleToken('pitch', logits), 1);
  assert.is(g.sampleToken('pitch', logits, [1, 0, 1, 1]), 2);
  const k = new Sampler({ seed: 3, settings: { pitch: { temperature: 1, topK: 1 } } });
  const p = new Sampler({ seed: 3, settings: { pitch: { temperature: 1, topP: 0.01 } } });
  for (let i = 0; i < 50; i++) {
    assert.is(k.sampleToken('pitch', logits), 1);
    assert.is(p.sampleToken('pitch', logits), 1);
  }
});

test('sampling frequencies follow temperature and top-p', () => {
  const n = 6000;
  const count = (s: Sampler, logits: number[]) => {
    const c = new Array(logits.length).fill(0);
    for (let i = 0; i < n; i++) c[s.sampleToken('tempo', logits)]++;
    return c.map((x) => x / n);
  };
  // p = (0.25, 0.75) at temperature 1.
  const plain = count(new Sampler({ seed: 1, settings: { tempo: { temperature: 1, topP: 1 } } }), [0, Math.log(3)]);
  assert.ok(Math.abs(plain[1] - 0.75) < 0.03, `${plain}`);
  // Temperature 2 flattens it to sqrt: (1, sqrt 3) / (1 + sqrt 3).
  const hot = count(new Sampler({ seed: 2, settings: { tempo: { temperature: 2, topP: 1 } } }), [0, Math.log(3)]);
  assert.ok(Math.abs(hot[1] - Math.sqrt(3) / (1 + Math.sqrt(3))) < 0.03, `${hot}`);
  // Top-p 0.8 over (0.6, 0.3, 0.1) keeps the first two, renormalised to (2/3, 1/3).
  const nucleus = count(new Sampler({ seed: 3, settings: { tempo: { temperature: 1, topP: 0.8 } } }), [Math.log(0.6), Math.log(0.3), Math.log(0.1)]);
  assert.is(nucleus[2], 0);
  assert.ok(Math.abs(nucleus[0] - 2 / 3) < 0.03, `${nucleus}`);
});

test('the PRNG is seeded: same seed, same stream; another seed, another stream', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const sa = Array.from({ length: 8 }, () => a.next());
  assert.equal(sa, Array.from({ length: 8 }, () => b.next()));
  assert.not.equal(sa, Array.from({ length: 8 }, () => c.next()));
  assert.ok(sa.every((x) => x >= 0 && x < 1));
  // The state round-trips.
  const s = a.state;
  const x = a.next();
  a.state = s;
  assert.is(a.next(), x);
});

test('grammar: beats rise within a bar, notes need a beat, Bar words carry CONTI', () => {
  const g = new Grammar();
  assert.equal([...g.allowedTypes()], [0, 1, 0], 'the start allows only a Metrical word');
  assert.equal([...g.allowedBarBeat()].map((x, i) => (x ? i : -1)).filter((i) => i >= 0), [BAR]);
  g.advance(BAR_WORD);
  assert.is(g.allowedBarBeat().reduce((a, b) => a + b, 0), FAMILY_SIZES.barBeat, 'after a Bar, any beat');
  assert.is(g.allowedTypes()[TYPE.NOTE], 0, 'no note before a beat');
  g.advance(beat(6));
  const bb = g.allowedBarBeat();
  for (let s = 0; s <= 6; s++) assert.is(bb[beatToken(s)], 0, `beat ${s} would go backwards`);
  for (let s = 7; s < 16; s++) assert.is(bb[beatToken(s)], 1);
  assert.is(g.allowedTypes()[TYPE.NOTE], 1);
  assert.ok(g.violation(beat(6)));
  assert.ok(g.violation([TYPE.METRICAL, BAR, 5, 0, UNUSED, UNUSED, UNUSED]));
  assert.is(g.violation(note(40)), null);
  assert.ok(g.violation([TYPE.EOS, -1, -1, -1, -1, -1, -1]), 'EOS is off unless allowed');
  g.allowEos = true;
  assert.is(g.allowedTypes()[TYPE.EOS], 1);
});

test('grammar: tempo only on a beat, chord only where a chord window starts, a step\'s pitches rise', () => {
  const g = Grammar.after([BAR_WORD]);
  assert.is(g.allowedTempo(4), undefined, 'step 4 is a beat: any tempo');
  assert.equal([...g.allowedTempo(6)!].map((x, i) => (x ? i : -1)).filter((i) => i >= 0), [CONTI], 'step 6 is off the beat');
  assert.is(g.allowedChord(8), undefined);
  assert.equal([...g.allowedChord(4)!].map((x, i) => (x ? i : -1)).filter((i) => i >= 0), [CONTI], 'the chord window starts every 8 steps');
  assert.ok(g.violation([TYPE.METRICAL, beatToken(6), 12, CONTI, UNUSED, UNUSED, UNUSED]), 'a tempo off the beat');
  assert.ok(g.violation([TYPE.METRICAL, beatToken(4), CONTI, 7, UNUSED, UNUSED, UNUSED]), 'a chord inside a window');
  assert.is(g.violation([TYPE.METRICAL, beatToken(8), 12, 7, UNUSED, UNUSED, UNUSED]), null);
  g.advance(beat(8));
  g.advance(note(40));
  const p = g.allowedPitch();
  assert.is(p[40], 0, 'the same pitch twice in a step');
  assert.is(p[39], 0, 'a falling pitch in a step');
  assert.is(p[41], 1);
  assert.ok(g.violation(note(40)));
  g.advance(beat(9));
  assert.is(g.allowedPitch()[40], 1, 'a new step starts again from the bottom');
  g.advance(note(FAMILY_SIZES.pitch - 1));
  assert.is(g.allowedTypes()[TYPE.NOTE], 0, 'no pitch is left above the top one');
});

test('grammar: nothing before the current time', () => {
  const g = Grammar.after([BAR_WORD, beat(2), note(40), BAR_WORD, beat(0)], { notBefore: { bar: 1, step: 8 } });
  assert.is(g.bar, 1);
  assert.is(g.allowedTypes()[TYPE.NOTE], 0, 'a note at step 0 is in the past');
  const bb = g.allowedBarBeat();
  for (let s = 0; s < 8; s++) assert.is(bb[beatToken(s)], 0);
  for (let s = 8; s < 16; s++) assert.is(bb[beatToken(s)], 1);
  const far = Grammar.after([BAR_WORD, beat(2)], { notBefore: { bar: 3, step: 0 } });
  assert.equal([...far.allowedBarBeat()].map((x, i) => (x ? i : -1)).filter((i) => i >= 0), [BAR], 'only bars until bar 3');
  assert.is(far.allowedTypes()[TYPE.NOTE], 0);
});

function randomLogits(rng: Prng): NextWordLogits {
  const arr = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 3);
  const fam = () => Object.fromEntries(OUTPUT_FAMILIES.map((f) => [f, arr(FAMILY_SIZES[f])]));
  return { type: arr(3), given: { [TYPE.METRICAL]: fam(), [TYPE.NOTE]: fam() } } as unknown as NextWordLogits;
}

test('every sampled word is in the vocabulary and well formed (2,000 words, random logits)', () => {
  const rng = new Prng(9);
  const s = new Sampler({ seed: 4 });
  const g = new Grammar({ notBefore: { bar: 2, step: 5 } });
  let bars = 0;
  for (let i = 0; i < 2000; i++) {
    const w = s.sampleWord(randomLogits(rng), g);
    assert.is(wordError(w), null);
    assert.is(g.violation(w), null, `word ${i} ${JSON.stringify(w)}`);
    g.advance(w);
    if (w[1] === BAR) bars++;
  }
  assert.ok(bars > 10, 'the walk moved through bars');
});

const PRIMER: Word[] = [BAR_WORD, [TYPE.METRICAL, beatToken(0), 30, 5, UNUSED, UNUSED, UNUSED], [TYPE.NOTE, UNUSED, UNUSED, UNUSED, 39, 3, 20]];

test('golden: a fixed tiny model, seed and greedy decoding give this exact sequence', () => {
  const model = CPTransformer.create(tinyConfig(), 2025);
  const cache = model.createCache();
  const grammar = Grammar.after(PRIMER);
  const out = generate(model, cache, new Sampler({ seed: 1, settings: GREEDY }), grammar, model.prime(cache, PRIMER), 24);
  // Computed once on the wasm backend and frozen (again when the grammar learned that chords
  // and tempi change only on their steps, and that a step's pitches rise). Greedy decoding
  // loops, as the paper warns.
  const GOLDEN = [
    [2, -1, -1, -1, 82, 7, 23], [2, -1, -1, -1, 85, 19, 27], [2, -1, -1, -1, 86, 1, 9], [2, -1, -1, -1, 87, 1, 27],
    [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1], [1, 9, 45, 95, -1, -1, -1], [2, -1, -1, -1, 37, 19, 27],
    [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1], [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1],
    [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1], [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1],
    [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1], [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1],
    [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1], [1, 16, 0, 0, -1, -1, -1], [1, 0, 0, 0, -1, -1, -1],
  ];
  assert.equal(out.words, GOLDEN);
  const check = Grammar.after(PRIMER);
  for (const w of out.words) {
    assert.is(wordError(w), null);
    assert.is(check.violation(w), null);
    check.advance(w);
  }
  assert.is(cache.length, PRIMER.length + 24);
  cache.dispose();
  model.dispose();
});

test('a restored cache (with the sampler state) reproduces the same samples', () => {
  const model = CPTransformer.create(tinyConfig(), 77);
  const cache = model.createCache();
  const sampler = new Sampler({ seed: 99 });
  const first = model.prime(cache, PRIMER);
  const snap = cache.snapshot();
  const rngState = sampler.state;
  const g0 = Grammar.after(PRIMER);
  const a = generate(model, cache, sampler, g0.clone(), first, 30).words;
  cache.restore(snap);
  sampler.state = rngState;
  const b = generate(model, cache, sampler, g0.clone(), first, 30).words;
  assert.equal(b, a);
  // A different seed from the same cache gives another continuation, so the check can fail.
  cache.restore(snap);
  const c = generate(model, cache, new Sampler({ seed: 100 }), g0.clone(), first, 30).words;
  assert.not.equal(c, a);
  snap.dispose();
  cache.dispose();
  model.dispose();
});

test('the reference defaults carry over to our family sizes (the check in src/engine/sampler/README.md)', () => {
  // The reference's sizes on Pop1K7. Ours differ by up to 30%; a default suits us if it
  // leaves a confident prediction (90% on one token) about as confident as it did there.
  const REF = { type: 3, barBeat: 18, tempo: 56, chord: 135, pitch: 87, duration: 18, velocity: 25 } as const;
  const keptShare = (V: number, T: number, topP: number) => {
    const w = [0.9, ...new Array(V - 1).fill(0.1 / (V - 1))].map((x) => Math.pow(x, 1 / T));
    const tot = w.reduce((a, b) => a + b, 0);
    let keep = V;
    let cum = 0;
    if (topP < 1) {
      for (let i = 0; i < V; i++) {
        cum += w[i] / tot;
        if (cum >= topP - 1e-9) {
          keep = i + 1;
          break;
        }
      }
    }
    return w[0] / w.slice(0, keep).reduce((a, b) => a + b, 0);
  };
  for (const f of Object.keys(REF) as (keyof typeof REF)[]) {
    const { temperature, topP } = DEFAULT_SAMPLING[f];
    const ours = keptShare(FAMILY_SIZES[f], temperature, topP);
    const ref = keptShare(REF[f], temperature, topP);
    assert.ok(Math.abs(ours - ref) < 0.03, `${f}: ${ours} here vs ${ref} in the reference`);
  }
  // Velocity at T = 5 is close to uniform in both: 9% for the top bin here.
  assert.ok(keptShare(FAMILY_SIZES.velocity, 5, 1) < 0.1);
});

test.run();
