// The per-family sampling flags (--temperature, --top-p, --top-k) that the commands which sample share.
// Each takes family=value pairs: "--temperature pitch=0.8,duration=1.5".

import { DEFAULT_DENSITY_BALANCE, MAX_DENSITY_BALANCE } from '../engine/sampler/density-balance.ts';
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

/** The three flags, --pitch-balance and --density-balance, for a command's `options`. */
export const FAMILY_FLAG_OPTIONS: Options = {
  ...Object.fromEntries(FLAGS.map(([flag]) => [flag, { type: 'string' }])),
  'pitch-balance': { type: 'string' },
  'density-balance': { type: 'string' },
};

/** Their --help lines. */
export const FAMILY_FLAG_HELP = [
  '  --temperature F=V,...   per-family temperature, e.g. pitch=0.8,duration=1.5 (0 is greedy)',
  '  --top-p F=V,...         per-family nucleus size in (0, 1]',
  '  --top-k F=V,...         per-family top-k (0 turns it off)',
  `  --pitch-balance A       steer the new notes' pitch classes toward the primer's, 0 (off) to ${MAX_PITCH_BALANCE} (default ${DEFAULT_PITCH_BALANCE})`,
  `  --density-balance A     steer the notes per bar toward the primer's last bars', 0 (off) to ${MAX_DENSITY_BALANCE} (default ${DEFAULT_DENSITY_BALANCE})`,
].join('\n');

/** A strength flag from 0 (off) to `max`, checked (E_USAGE), or `fallback`. */
function strengthFlag(values: Record<string, unknown>, flag: string, fallback: number, max: number): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(v) || v < 0 || v > max) {
    throw new AntiphonError('E_USAGE', `--${flag} takes a number from 0 (off) to ${max}, got "${String(raw)}"`);
  }
  return v;
}

/** --pitch-balance, checked (E_USAGE), or the default. */
export const pitchBalanceFlag = (values: Record<string, unknown>): number => strengthFlag(values, 'pitch-balance', DEFAULT_PITCH_BALANCE, MAX_PITCH_BALANCE);

/** --density-balance, checked (E_USAGE), or the default. */
export const densityBalanceFlag = (values: Record<string, unknown>): number => strengthFlag(values, 'density-balance', DEFAULT_DENSITY_BALANCE, MAX_DENSITY_BALANCE);

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
