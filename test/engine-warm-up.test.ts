// Warming a model up runs real calls on a throwaway cache and leaves nothing behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { warmUp } from '../src/engine/model/warm-up.ts';
import { engineBackend, tinyConfig } from './helpers/engine-setup.ts';

test.before(() => engineBackend());

test('warmUp runs a prime, a step and a longer prime (sliding a small window), and frees every tensor', () => {
  const model = CPTransformer.create(tinyConfig({ contextLength: 64, nKeep: 4 }), 5);
  const first = model.createCache();
  model.step(first, [1, 0, 0, 0, -1, -1, -1]); // the inference weights exist before counting
  first.dispose();
  const tensors = tf.memory().numTensors;
  const ids = tf.engine().backend.numDataIds();
  const ms = warmUp(model, 160);
  assert.ok(ms > 0);
  assert.is(tf.memory().numTensors, tensors, 'engine tensors');
  assert.is(tf.engine().backend.numDataIds(), ids, 'backend buffers');
  model.dispose();
});

test.run();
