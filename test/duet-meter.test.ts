// A duet on a model with metrical heads: the session's cache keeps each word's grid step
// through speculation, barge-in and slides, and the answers are the same for the same seed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wordSteps } from '../src/engine/model/meter.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import type { KVCache } from '../src/engine/model/kv-cache.ts';
import { DuetRig, scaleCall } from './helpers/duet.ts';
import { engineBackend, METER, strongMeterTable, tinyConfig } from './helpers/engine-setup.ts';

const test = suite('duet with metrical heads');
const meterModel = (contextLength = 256) => strongMeterTable(CPTransformer.create(tinyConfig({ ...METER, contextLength, nKeep: 8 }), 3), 9);
const FIXED = { tempoSource: 'fixed' as const, bpm: 120, silenceMs: 600, maxBars: 2 };
const cacheOf = (rig: DuetRig) => rig.session['timeline'].cache as KVCache;

test.before(engineBackend);

test('call, answer, barge-in and a second answer: the cache steps are the words\' steps', () => {
  const model = meterModel();
  const rig = new DuetRig(model, { settings: FIXED });
  rig.play(scaleCall(1000));
  rig.run(7000); // mid-answer
  assert.ok(rig.of('noteon').length > 0, 'the AI answered');
  rig.play(scaleCall(7000, 4)); // barge-in
  rig.run();
  const cache = cacheOf(rig);
  assert.is(cache.slides, 0);
  assert.equal(cache.steps, wordSteps(cache.words));
  // every AI note-on has its note-off
  const on = rig.of('noteon').length;
  assert.is(rig.of('noteoff').length, on);
  rig.session.dispose();
  model.dispose();
});

test('the same seed gives the same answer on a meter model', () => {
  const answers = [1, 2].map(() => {
    const model = meterModel();
    const rig = new DuetRig(model, { settings: FIXED });
    rig.play(scaleCall(1000));
    rig.run();
    const notes = rig.of('noteon').map((n) => `${n.note}@${n.time}`);
    rig.session.dispose();
    model.dispose();
    return notes;
  });
  assert.ok(answers[0].length > 0);
  assert.equal(answers[0], answers[1]);
});

test('a session past its window slides and keeps each kept word its step', () => {
  const model = meterModel(64);
  const rig = new DuetRig(model, { settings: FIXED });
  for (let k = 0; k < 4; k++) rig.play(scaleCall(1000 + k * 9000, 12));
  rig.run();
  const cache = cacheOf(rig);
  assert.ok(cache.slides >= 1, `slides ${cache.slides}`);
  // After a slide the steps are no longer the kept words' own count, but they still rise.
  for (let i = 1; i < cache.steps.length; i++) assert.ok(cache.steps[i] >= cache.steps[i - 1], `step ${i} goes back`);
  assert.is(cache.steps.length, cache.words.length);
  rig.session.dispose();
  model.dispose();
});

test.run();
