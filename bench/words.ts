// Plausible words for timing: the model's cost does not depend on which tokens it sees,
// but a musically shaped stream keeps the grammar masks in their usual state.
import { Prng } from '../src/engine/sampler/prng.ts';
import { BAR, beatToken, FAMILY_SIZES, TYPE, UNUSED, type Word } from '../src/engine/vocab.ts';

export function benchWords(n: number, seed = 1): Word[] {
  const rng = new Prng(seed);
  const pick = (k: number) => Math.floor(rng.next() * k);
  const out: Word[] = [];
  while (out.length < n) {
    out.push([TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED]);
    for (let step = 0; step < 16 && out.length < n; step += 2 + pick(3)) {
      out.push([TYPE.METRICAL, beatToken(step), pick(FAMILY_SIZES.tempo), pick(FAMILY_SIZES.chord), UNUSED, UNUSED, UNUSED]);
      for (let k = 1 + pick(3); k > 0; k--) {
        out.push([TYPE.NOTE, UNUSED, UNUSED, UNUSED, 20 + pick(50), pick(FAMILY_SIZES.duration), 10 + pick(15)]);
      }
    }
  }
  return out.slice(0, n);
}
