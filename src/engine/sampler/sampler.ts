// Draws a compound word one family at a time: type first, then the families that type
// uses, each with its own temperature, top-p and top-k, under the grammar's masks.
import { AntiphonError } from '../../errors.ts';
import { BAR, CONTI, F, FAMILIES, TYPE, UNUSED, FAMILY_SIZES, tokenToBeat, tokenToPitch, type Family, type Word } from '../vocab.ts';
import type { NextWordLogits } from '../model/transformer.ts';
import type { Grammar } from './grammar.ts';
import { Prng } from './prng.ts';
import { resolveSampling, type SamplerSettings, type SamplerSettingsInput } from './settings.ts';

export interface SamplerOptions {
  seed?: number;
  settings?: SamplerSettingsInput;
}

/** Each pitch token's pitch class (C = 0). */
const PITCH_CLASS = Array.from({ length: FAMILY_SIZES.pitch }, (_, t) => tokenToPitch(t) % 12);

export class Sampler {
  readonly rng: Prng;
  private current: SamplerSettings;

  constructor(opts: SamplerOptions = {}) {
    this.rng = new Prng(opts.seed ?? 0);
    this.current = resolveSampling(opts.settings);
  }

  get settings(): SamplerSettings {
    return this.current;
  }

  /** Changes some settings (e.g. a temperature CC); invalid values throw and change nothing. */
  update(input: SamplerSettingsInput): void {
    this.current = resolveSampling(input, this.current);
  }

  /** The PRNG state, to snapshot with a KV cache so a restore replays the same samples. */
  get state(): number {
    return this.rng.state;
  }
  set state(s: number) {
    this.rng.state = s;
  }

  /**
   * One token of `family` from its logits. `allowed` (1 = allowed) masks tokens out
   * before temperature, top-k and top-p apply, so the nucleus is taken over what the
   * grammar permits. Greedy (temperature 0) draws no random number.
   */
  sampleToken(family: Family, logits: ArrayLike<number>, allowed?: ArrayLike<number>): number {
    const { temperature, topP, topK } = this.current[family];
    const cand: number[] = [];
    for (let i = 0; i < logits.length; i++) if (!allowed || allowed[i]) cand.push(i);
    if (cand.length === 0) throw new AntiphonError('E_INTERNAL', `the grammar allows no ${family} token here`);
    if (temperature === 0) {
      let best = cand[0];
      for (const i of cand) if (logits[i] > logits[best]) best = i;
      return best;
    }
    let max = -Infinity;
    for (const i of cand) max = Math.max(max, logits[i]);
    const p = cand.map((i) => Math.exp((logits[i] - max) / temperature));
    // Likeliest first; ties keep token order, so the result never depends on sort internals.
    const order = cand.map((_, j) => j).sort((a, b) => p[b] - p[a] || a - b);
    let keep = topK > 0 ? Math.min(topK, order.length) : order.length;
    if (topP < 1) {
      let total = 0;
      for (let r = 0; r < keep; r++) total += p[order[r]];
      let cum = 0;
      for (let r = 0; r < keep; r++) {
        cum += p[order[r]];
        if (cum >= topP * total) {
          keep = r + 1;
          break;
        }
      }
    }
    let mass = 0;
    for (let r = 0; r < keep; r++) mass += p[order[r]];
    let u = this.rng.next() * mass;
    for (let r = 0; r < keep; r++) {
      u -= p[order[r]];
      if (u < 0) return cand[order[r]];
    }
    return cand[order[keep - 1]];
  }

  /**
   * The next word, well formed under `grammar` (which this does not advance). `pitchClassBias`,
   * twelve numbers by pitch class (pitch-balance.ts), is added to the pitch logits before
   * temperature and nucleus.
   */
  sampleWord(logits: NextWordLogits, grammar: Grammar, pitchClassBias: ArrayLike<number> | null = null): Word {
    const type = this.sampleToken('type', logits.type, grammar.allowedTypes());
    const word: number[] = new Array(FAMILIES.length).fill(UNUSED);
    word[F.type] = type;
    if (type === TYPE.METRICAL) {
      const g = logits.given[TYPE.METRICAL];
      const bb = this.sampleToken('barBeat', g.barBeat, grammar.allowedBarBeat());
      word[F.barBeat] = bb;
      // A Bar word is [Metrical, Bar, CONTI, CONTI]: its tempo and chord carry nothing.
      word[F.tempo] = bb === BAR ? CONTI : this.sampleToken('tempo', g.tempo, grammar.allowedTempo(tokenToBeat(bb)));
      word[F.chord] = bb === BAR ? CONTI : this.sampleToken('chord', g.chord, grammar.allowedChord(tokenToBeat(bb)));
    } else if (type === TYPE.NOTE) {
      const g = logits.given[TYPE.NOTE];
      const bias = pitchClassBias;
      const pitch = bias ? Float64Array.from(g.pitch, (v, t) => v + bias[PITCH_CLASS[t]]) : g.pitch;
      word[F.pitch] = this.sampleToken('pitch', pitch, grammar.allowedPitch());
      word[F.duration] = this.sampleToken('duration', g.duration);
      word[F.velocity] = this.sampleToken('velocity', g.velocity);
    }
    return word;
  }
}
