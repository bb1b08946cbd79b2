// Pitch-class balance: the bias that steers generated pitch classes toward a reference's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { continueWords } from '../src/engine/continue.ts';
import { resolveDuetSettings } from '../src/engine/duet/settings.ts';
import { Timeline } from '../src/engine/duet/timeline.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { Grammar } from '../src/engine/sampler/grammar.ts';
import { notePitchClasses, PitchBalance, REFERENCE_NOTES } from '../src/engine/sampler/pitch-balance.ts';
import { Sampler } from '../src/engine/sampler/sampler.ts';
import { BAR, CONTI, F, FAMILY_SIZES, TYPE, beatToken, pitchToToken, type Word } from '../src/engine/vocab.ts';
import { engineBackend, randomWords, tinyConfig } from './helpers/engine-setup.ts';

const note = (midi: number): Word => [TYPE.NOTE, -1, -1, -1, pitchToToken(midi), 3, 20];
const tv = (a: number[], b: number[]) => {
  const h = (xs: number[]) => {
    const c = new Array(12).fill(0);
    for (const x of xs) c[x] += 1 / xs.length;
    return c;
  };
  const [p, q] = [h(a), h(b)];
  return p.reduce((s, x, i) => s + Math.abs(x - q[i]), 0) / 2;
};

test.before(engineBackend);

test('the bias starts at zero, then lifts the classes played less than the reference and lowers the overplayed', () => {
  const b = new PitchBalance(4);
  assert.is(b.bias(), null, 'no reference, no bias');
  b.setReference(notePitchClasses([note(60), note(67), note(64), note(60), note(72), note(67)]));
  const start = b.bias()!;
  assert.ok(start.every((x) => Math.abs(x) < 1e-9), 'nothing generated yet: no push');
  for (let i = 0; i < 8; i++) b.observe(note(60));
  b.observe([TYPE.METRICAL, BAR, CONTI, CONTI, -1, -1, -1]); // not a note: ignored
  const after = b.bias()!;
  assert.ok(after[0] < -1, `C overplayed: ${after[0]}`);
  assert.ok(after[7] > 1 && after[4] > 1, 'G and E underplayed');
  assert.ok(Math.abs(after[1]) < Math.abs(after[7]), 'a class the reference lacks is pushed least');
  assert.is(new PitchBalance(0).bias(), null, 'strength 0 is off');
});

test('only the latest notes of the reference count, and a bad strength is refused by name', () => {
  const b = new PitchBalance(4);
  b.setReference([...new Array(100).fill(0), ...new Array(REFERENCE_NOTES).fill(2)]);
  for (let i = 0; i < 4; i++) b.observe(note(60));
  assert.ok(b.bias()![0] < -4, `the old Cs are forgotten: four Cs are overplayed (${b.bias()![0]})`);
  for (const bad of [-1, 17, Number.NaN]) assert.throws(() => new PitchBalance(bad), /pitch balance/);
  assert.throws(() => resolveDuetSettings({ pitchBalance: 17 }), (e: Error & { code?: string }) => e.code === 'E_SETTING' && /pitchBalance/.test(e.message));
  assert.is(resolveDuetSettings({ pitchBalance: 0 }).pitchBalance, 0);
});

test('the sampler adds the bias to the pitch logits by pitch class', () => {
  const s = new Sampler({ seed: 1, settings: { pitch: { temperature: 0 }, type: { temperature: 0 } } });
  const flat = () => new Float32Array(FAMILY_SIZES.pitch);
  const logits = {
    type: Float32Array.from([0, 0, 5]), // a Note
    given: { [TYPE.NOTE]: { pitch: flat(), duration: new Float32Array(FAMILY_SIZES.duration), velocity: new Float32Array(FAMILY_SIZES.velocity) } },
  } as never;
  const grammar = Grammar.after([[TYPE.METRICAL, BAR, CONTI, CONTI, -1, -1, -1], [TYPE.METRICAL, beatToken(0), 10, 5, -1, -1, -1]]);
  const w = s.sampleWord(logits, grammar, Array.from({ length: 12 }, (_, k) => (k === 7 ? 3 : 0)));
  assert.is(w[F.type], TYPE.NOTE);
  assert.is((w[F.pitch] + 21) % 12, 7, 'a G');
});

test('a continuation with the balance keeps closer to the primer\'s pitch classes than one without; 0 changes nothing', () => {
  const model = CPTransformer.create(tinyConfig(), 8);
  const primer = randomWords(120, 9).filter((w) => w[F.type] !== TYPE.EOS);
  const run = (pitchBalance?: number) => continueWords(model, primer, new Sampler({ seed: 3 }), { bars: 8, maxWords: 300, pitchBalance });
  const off = run();
  assert.equal(run(0), off, 'strength 0 is the plain continuation');
  const on = run(16);
  const ref = notePitchClasses(primer).slice(-REFERENCE_NOTES);
  const [dOff, dOn] = [off, on].map((ws) => tv(notePitchClasses(ws), ref));
  assert.ok(notePitchClasses(on).length > 20, 'enough notes to compare');
  assert.ok(dOn < dOff - 0.1, `pitch-class distance to the primer: ${dOn.toFixed(3)} with, ${dOff.toFixed(3)} without`);
  model.dispose();
});

test('the timeline keeps the latest notes of both parts for the reference, and a rollback takes them back', () => {
  const model = CPTransformer.create(tinyConfig(), 8);
  const t = new Timeline(model);
  const words = randomWords(60, 10);
  t.append(words.slice(0, 30));
  const m = t.mark();
  const before = [...t.recentPitchClasses];
  assert.equal(before, notePitchClasses(words.slice(0, 30)).slice(-REFERENCE_NOTES));
  t.append(words.slice(30));
  assert.ok(t.recentPitchClasses.length >= before.length);
  assert.ok(t.rollback(m));
  assert.equal([...t.recentPitchClasses], before);
  t.dispose();
  model.dispose();
});

test.run();
