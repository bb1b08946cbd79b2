// Duet settings: defaults, and validation of partial updates (from a websocket message, a CLI
// flag or a MIDI CC) so that a bad value is refused by name and nothing changes.

import { z } from 'zod';
import { AntiphonError, isAntiphonError } from '../../errors.ts';
import { DEFAULT_DENSITY_BALANCE, MAX_DENSITY_BALANCE } from '../sampler/density-balance.ts';
import { DEFAULT_PITCH_BALANCE, MAX_PITCH_BALANCE } from '../sampler/pitch-balance.ts';
import { DEFAULT_SAMPLING, resolveSampling, type SamplerSettingsInput } from '../sampler/settings.ts';
import type { DuetSettings, DuetSettingsInput } from './types.ts';

export const DEFAULT_DUET_SETTINGS: DuetSettings = {
  sampling: DEFAULT_SAMPLING,
  minBars: 1,
  maxBars: 8,
  silenceMs: 600,
  handoffController: null,
  tempoSource: 'call',
  bpm: 100,
  lookaheadMs: 75,
  aiChannel: null,
  maxRestBars: 2,
  pitchBalance: DEFAULT_PITCH_BALANCE,
  densityBalance: DEFAULT_DENSITY_BALANCE,
};

/** Bounds of every setting; also what the client's controls offer. */
export const SETTING_LIMITS = {
  bars: [1, 32],
  silenceMs: [100, 10_000],
  bpm: [30, 300],
  lookaheadMs: [0, 1000],
  maxRestBars: [0, 64],
  pitchBalance: [0, MAX_PITCH_BALANCE],
  densityBalance: [0, MAX_DENSITY_BALANCE],
} as const;

const int = (lo: number, hi: number) => z.number().int().min(lo).max(hi);
const num = (lo: number, hi: number) => z.number().finite().min(lo).max(hi);

const schema = z
  .object({
    sampling: z.record(z.string(), z.record(z.string(), z.unknown())),
    minBars: int(...SETTING_LIMITS.bars),
    maxBars: int(...SETTING_LIMITS.bars),
    silenceMs: num(...SETTING_LIMITS.silenceMs),
    handoffController: int(0, 127).nullable(),
    tempoSource: z.enum(['fixed', 'call', 'clock']),
    bpm: num(...SETTING_LIMITS.bpm),
    lookaheadMs: num(...SETTING_LIMITS.lookaheadMs),
    aiChannel: int(0, 15).nullable(),
    maxRestBars: int(...SETTING_LIMITS.maxRestBars),
    pitchBalance: num(...SETTING_LIMITS.pitchBalance),
    densityBalance: num(...SETTING_LIMITS.densityBalance),
  })
  .partial()
  .strict();

/** Merges `input` over `base`; throws E_SETTING naming the bad setting, leaving `base` as it was. */
export function resolveDuetSettings(input: unknown, base: DuetSettings = DEFAULT_DUET_SETTINGS): DuetSettings {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.join('.') || 'settings';
    throw new AntiphonError('E_SETTING', `setting ${where} is invalid: ${issue.message}`);
  }
  const given = parsed.data as DuetSettingsInput;
  let sampling = base.sampling;
  if (given.sampling) {
    try {
      sampling = resolveSampling(given.sampling, base.sampling);
    } catch (e) {
      if (isAntiphonError(e)) throw new AntiphonError('E_SETTING', e.message);
      throw e;
    }
  }
  const out: DuetSettings = { ...base, ...given, sampling } as DuetSettings;
  if (out.minBars > out.maxBars) {
    throw new AntiphonError('E_SETTING', `setting minBars (${out.minBars}) must not exceed maxBars (${out.maxBars})`);
  }
  return out;
}

/**
 * A session's settings with a model's sampling defaults (its card's, chosen for that model)
 * beneath: a family the session names replaces the model's for that family.
 */
export function withModelSampling(settings: DuetSettingsInput | undefined, model: SamplerSettingsInput | undefined): DuetSettingsInput {
  return { ...settings, sampling: { ...model, ...settings?.sampling } };
}
