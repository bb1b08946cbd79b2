// The per-family sampling flags (--temperature, --top-p, --top-k) that the commands which sample share.
// Each takes family=value pairs: "--temperature pitch=0.8,duration=1.5".

import { DEFAULT_PITCH_BALANCE, MAX_PITCH_BALANCE } from '../engine/sampler/pitch-balance.ts';
import type { SamplerSettingsInput } from '../engine/sampler/settings.ts';
import { FAMILIES, type Family } from '../engine/vocab.ts';
import { AntiphonError } from '../errors.ts';
import type { Options } from './command.ts';

const FLAGS = [
  ['temperature', 'temperature'],
  ['top-p', 'topP'],
  ['top-k', 'topK'],
] as const;

/** The three flags and --pitch-balance, for a command's `options`. */
export const FAMILY_FLAG_OPTIONS: Options = { ...Object.fromEntries(FLAGS.map(([flag]) => [flag, { type: 'string' }])), 'pitch-balance': { type: 'string' } };

/** Their --help lines. */
export const FAMILY_FLAG_HELP = [
  '  --temperature F=V,...   per-family temperature, e.g. pitch=0.8,duration=1.5 (0 is greedy)',
  '  --top-p F=V,...         per-family nucleus size in (0, 1]',
  '  --top-k F=V,...         per-family top-k (0 turns it off)',
  `  --pitch-balance A       steer the new notes' pitch classes toward the primer's, 0 (off) to ${MAX_PITCH_BALANCE} (default ${DEFAULT_PITCH_BALANCE})`,
].join('\n');

/** --pitch-balance, checked (E_USAGE), or the default. */
export function pitchBalanceFlag(values: Record<string, unknown>): number {
  const raw = values['pitch-balance'];
  if (raw === undefined) return DEFAULT_PITCH_BALANCE;
  const v = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(v) || v < 0 || v > MAX_PITCH_BALANCE) {
    throw new AntiphonError('E_USAGE', `--pitch-balance takes a number from 0 (off) to ${MAX_PITCH_BALANCE}, got "${String(raw)}"`);
  }
  return v;
}

/** "pitch=0.8,duration=1.5" for one flag, merged into `into`. The values are checked later, by the sampler. */
export function parseFamilyValues(raw: unknown, flag: string, key: 'temperature' | 'topP' | 'topK', into: SamplerSettingsInput = {}): SamplerSettingsInput {
  if (raw === undefined) return into;
  for (const part of String(raw).split(',').filter(Boolean)) {
    const [family, value, extra] = part.split('=');
    if (extra !== undefined || !FAMILIES.includes(family as Family) || value === undefined || value.trim() === '' || !Number.isFinite(Number(value))) {
      throw new AntiphonError('E_USAGE', `--${flag} takes family=value pairs (families: ${FAMILIES.join(', ')}), got "${part}"`);
    }
    into[family as Family] = { ...into[family as Family], [key]: Number(value) };
  }
  return into;
}

/** All three flags from parsed option values, as sampler settings over the defaults. */
export function familyFlags(values: Record<string, unknown>): SamplerSettingsInput {
  const settings: SamplerSettingsInput = {};
  for (const [flag, key] of FLAGS) parseFamilyValues(values[flag], flag, key, settings);
  return settings;
}
