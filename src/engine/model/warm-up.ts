// The first model calls in a process pay one-off costs (the wasm kernels' first runs, the heap
// growing to its working size): a first 8-word prime took ~60 ms here against 4-8 ms once warm,
// and a first 191-word prime 142 ms against 72-82. A server warms its model before it takes a
// performer, so nobody's first phrase pays for it.
import { BAR, beatToken, CONTI, TYPE, UNUSED, type Word } from '../vocab.ts';
import type { CPTransformer } from './transformer.ts';

/** Words of a plain, well-formed bar pattern: a Bar, then a beat with a three-note chord every quarter. */
function warmWords(n: number): Word[] {
  const out: Word[] = [];
  for (let bar = 0; out.length < n; bar++) {
    out.push([TYPE.METRICAL, BAR, CONTI, CONTI, UNUSED, UNUSED, UNUSED]);
    for (let step = 0; step < 16 && out.length < n; step += 4) {
      out.push([TYPE.METRICAL, beatToken(step), CONTI, CONTI, UNUSED, UNUSED, UNUSED]);
      for (const pitch of [27, 31, 34]) out.push([TYPE.NOTE, UNUSED, UNUSED, UNUSED, pitch + (bar % 5), 3, 12]);
    }
  }
  return out.slice(0, n);
}

/**
 * Runs the kinds of call a session makes (a short prime, a step, a longer prime) on a throwaway
 * cache, then frees it. Returns the milliseconds it took.
 */
export function warmUp(model: CPTransformer, words = 160): number {
  const t0 = performance.now();
  const w = warmWords(Math.max(words, 16));
  const cache = model.createCache();
  try {
    model.prime(cache, w.slice(0, 8));
    model.step(cache, w[8]);
    model.prime(cache, w.slice(9));
  } finally {
    cache.dispose();
  }
  return performance.now() - t0;
}
