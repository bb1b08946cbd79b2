// Per-family sampling settings, merged over defaults and validated up front, so a bad
// value from a CLI flag or a websocket message fails with the setting's name.
import { AntiphonError } from '../../errors.ts';
import { FAMILIES, type Family } from '../vocab.ts';

export interface FamilySampling {
  /** 0 means greedy; 1 leaves the model's distribution as it is. */
  temperature: number;
  /** Nucleus size in (0, 1]; 1 turns it off. */
  topP: number;
  /** Keep only the k likeliest tokens; 0 turns it off. */
  topK: number;
}

export type SamplerSettings = Readonly<Record<Family, Readonly<FamilySampling>>>;
export type SamplerSettingsInput = { [F in Family]?: Partial<FamilySampling> };

/**
 * The reference implementation's defaults (README.md in this folder checks that they
 * suit our vocabulary). "none" in its table is topP 1.
 */
export const DEFAULT_SAMPLING: SamplerSettings = {
  type: { temperature: 1.0, topP: 0.9, topK: 0 },
  barBeat: { temperature: 1.2, topP: 1, topK: 0 },
  tempo: { temperature: 1.2, topP: 0.9, topK: 0 },
  chord: { temperature: 1.0, topP: 0.99, topK: 0 },
  pitch: { temperature: 1.0, topP: 0.9, topK: 0 },
  duration: { temperature: 2.0, topP: 0.9, topK: 0 },
  velocity: { temperature: 5.0, topP: 1, topK: 0 },
};

/** Every family greedy: the golden tests and deterministic renders. */
export const GREEDY: SamplerSettingsInput = Object.fromEntries(FAMILIES.map((f) => [f, { temperature: 0 }]));

function bad(setting: string, value: unknown, rule: string): never {
  throw new AntiphonError('E_SAMPLER_SETTING', `sampler setting ${setting} = ${String(value)} is invalid: ${rule}`);
}

/** A balance's strength (pitch-balance.ts, density-balance.ts): a number from 0 (off) to `max`, or E_SAMPLER_SETTING naming `what`. */
export function checkStrength(what: string, strength: number, max: number): number {
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength < 0 || strength > max) {
    throw new AntiphonError('E_SAMPLER_SETTING', `${what} ${String(strength)} is invalid: must be a number from 0 (off) to ${max}`);
  }
  return strength;
}

/** Merges `input` over `base` (the defaults) and validates the result. */
export function resolveSampling(input: SamplerSettingsInput = {}, base: SamplerSettings = DEFAULT_SAMPLING): SamplerSettings {
  const known = new Set<string>(FAMILIES);
  for (const k of Object.keys(input)) if (!known.has(k)) bad(k, '…', `no such family (families: ${FAMILIES.join(', ')})`);
  const out = {} as Record<Family, FamilySampling>;
  for (const f of FAMILIES) {
    const given = input[f] ?? {};
    for (const k of Object.keys(given)) {
      if (!['temperature', 'topP', 'topK'].includes(k)) bad(`${f}.${k}`, (given as Record<string, unknown>)[k], 'no such setting (temperature, topP, topK)');
    }
    const s = { ...base[f], ...given };
    if (typeof s.temperature !== 'number' || !Number.isFinite(s.temperature) || s.temperature < 0) {
      bad(`${f}.temperature`, s.temperature, 'must be a finite number >= 0 (0 is greedy)');
    }
    if (typeof s.topP !== 'number' || !(s.topP > 0 && s.topP <= 1)) bad(`${f}.topP`, s.topP, 'must be in (0, 1] (1 turns it off)');
    if (typeof s.topK !== 'number' || !Number.isInteger(s.topK) || s.topK < 0) bad(`${f}.topK`, s.topK, 'must be an integer >= 0 (0 turns it off)');
    out[f] = s;
  }
  return out;
}
