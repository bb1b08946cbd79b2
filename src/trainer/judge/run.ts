// `antiphon judge`: continue held-out songs with each model and with two peers (echo, and a
// Continuator-style Markov model of the primer), and measure every continuation against the real
// bars that followed. docs/judging.md defines the measures.

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { continueWords } from '../../engine/continue.ts';
import { decodeWords } from '../../engine/encode.ts';
import { CARD_FILE, CONFIG_FILE, loadModel, type ModelCard } from '../../engine/model/checkpoint.ts';
import { Sampler } from '../../engine/sampler/sampler.ts';
import { resolveSampling, type SamplerSettings, type SamplerSettingsInput } from '../../engine/sampler/settings.ts';
import type { ScoreNote } from '../../engine/score.ts';
import { STEPS_PER_BAR } from '../../engine/vocab.ts';
import { AntiphonError } from '../../errors.ts';
import { readTokenStore } from '../token-store.ts';
import { TRAIN_DEFAULTS } from '../train-run.ts';
import { contextUse, type ContextUse } from './context-use.ts';
import { echoContinuation } from './echo.ts';
import { heldOutCases, type JudgeCase } from './held-out.ts';
import { keyName, keyOfNotes, type Key } from './key.ts';
import { markovContinuation } from './markov.ts';
import {
  densityError,
  distinctNgramShare,
  harmonyRepeatShare,
  histogramDistance,
  inKeyShare,
  notesBetween,
  onsetHistogram,
  pitchClassHistogram,
  pitchSequence,
} from './metrics.ts';
import { pairedDifference, summarize, type Stat } from './stats.ts';

export const MEASURES = ['pitchClass', 'onset', 'density', 'notesPerBar', 'inKey', 'distinct4', 'harmonyRepeat'] as const;
export type Measure = (typeof MEASURES)[number];
/** The measures on which a model should beat the Markov peer. */
export const HISTOGRAM_MEASURES = ['pitchClass', 'onset'] as const;
/** The measures the real bars have too (the others are distances to them). */
export const REFERENCE_MEASURES = ['notesPerBar', 'inKey', 'distinct4', 'harmonyRepeat'] as const;

export type SongScores = Record<Measure, number | null>;

export interface JudgeOptions {
  /** A token store built by antiphon dataset build (or a training run's dataset/). */
  data: string;
  /** Model folders, each judged on its own. */
  models: string[];
  songs: number;
  primerBars: number;
  bars: number;
  seed: number;
  sampling: SamplerSettingsInput;
  /** The trainer's validation fraction; undefined: read it from the first model's card, else the trainer's default. */
  valFraction?: number;
  /** A model's continuation stops after this many words, whatever its bar count. */
  maxWords: number;
  markovOrder: number;
  /** The models' pitch balance (sampler/pitch-balance.ts); default 0, off. */
  pitchBalance?: number;
  /** The models' density balance (sampler/density-balance.ts); default 0, off. */
  densityBalance?: number;
}

export interface JudgeHooks {
  log?: (line: string) => void;
  /** A progress display for `total` model continuations. */
  progress?: (total: number) => { tick(detail?: string): void; stop(): void };
}

export interface SystemReport {
  name: string;
  kind: 'model' | 'echo' | 'markov';
  /** The model folder, for a model. */
  model?: string;
  trainingSteps?: number;
  measures: Record<Measure, Stat | null>;
  /** For a model: model minus Markov per histogram measure (lower is better), and whether its mean is lower. */
  vsMarkov?: Record<(typeof HISTOGRAM_MEASURES)[number], { beats: boolean; difference: Stat | null }>;
  /** For a model: continuations cut short by maxWords. */
  hitMaxWords?: number;
  /** For a model: how much it uses the primer (context-use.ts). */
  contextUse?: ContextUse;
  /** Wall-clock seconds spent continuing every song. */
  seconds: number;
}

export interface JudgeReport {
  data: string;
  split: {
    valFraction: number;
    valFractionFrom: 'option' | 'model card' | 'trainer default';
    validationSongs: number;
    eligible: number;
    skipped: { tooShort: number; silentReference: number };
  };
  primerBars: number;
  bars: number;
  seed: number;
  maxWords: number;
  markovOrder: number;
  sampling: SamplerSettings;
  pitchBalance: number;
  densityBalance: number;
  songs: { requested: number; judged: number; list: Array<{ source: string; file: string; key: string | null }> };
  reference: Record<(typeof REFERENCE_MEASURES)[number], Stat | null>;
  systems: SystemReport[];
}

/** A model folder as is, or a folder of them (a training run's checkpoints/): its model subfolders, sorted. */
export async function expandModelDirs(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    if (existsSync(join(dir, CONFIG_FILE))) {
      out.push(dir);
      continue;
    }
    if (!existsSync(dir)) throw new AntiphonError('E_MODEL_MISSING', `--model ${dir}: no such folder`, { file: dir });
    const subs = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, CONFIG_FILE)))
      .map((e) => join(dir, e.name))
      .sort();
    if (subs.length === 0) throw new AntiphonError('E_MODEL_MISSING', `--model ${dir}: neither a model folder nor a folder of them (no ${CONFIG_FILE})`, { file: dir });
    out.push(...subs);
  }
  return out;
}

/** Short unique names: the folder's name, or parent/name where two share a name. */
export function modelNames(dirs: readonly string[]): string[] {
  const base = dirs.map((d) => basename(d.replace(/\/+$/, '')));
  return dirs.map((d, i) => (base.filter((b) => b === base[i]).length > 1 ? `${basename(dirname(d.replace(/\/+$/, '')))}/${base[i]}` : base[i]));
}

/** What antiphon train wrote in the card's notes: "N songs; ... (fraction 0.05) ...". */
export function splitFromCard(card: Pick<ModelCard, 'notes'>): { valFraction?: number; songs?: number } {
  const notes = card.notes ?? '';
  const f = /\(fraction ([0-9.]+)\)/.exec(notes);
  const s = /^(\d+) songs;/.exec(notes);
  return { ...(f ? { valFraction: Number(f[1]) } : {}), ...(s ? { songs: Number(s[1]) } : {}) };
}

/** splitFromCard of the card in model folder `dir` (nothing when it cannot be read). */
export async function readSplitFromCard(dir: string): Promise<{ valFraction?: number; songs?: number }> {
  try {
    const card = JSON.parse(await readFile(join(dir, CARD_FILE), 'utf8')) as { notes?: unknown };
    return typeof card.notes === 'string' ? splitFromCard({ notes: card.notes }) : {};
  } catch {
    return {}; // loadModel names what is wrong with the folder
  }
}

/** A 32-bit seed per (run seed, song, stream), so a song's draws do not depend on which others are judged. */
export function songSeed(seed: number, song: number, stream: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (song + 0x632be5ab), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (stream * 0x27d4eb2f), 0x165667b1) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Every measure of one continuation (its notes in the judged bars) against the song's real bars. */
export function scoreContinuation(notes: readonly ScoreNote[], c: JudgeCase, key: Key | null, primerBars: number, bars: number): SongScores {
  return {
    pitchClass: histogramDistance(pitchClassHistogram(notes), pitchClassHistogram(c.reference)),
    onset: histogramDistance(onsetHistogram(notes), onsetHistogram(c.reference)),
    density: densityError(notes.length, c.reference.length),
    notesPerBar: notes.length / bars,
    inKey: inKeyShare(notes, key),
    distinct4: distinctNgramShare(pitchSequence(notes), 4),
    harmonyRepeat: harmonyRepeatShare(notes, c.primerNotes, primerBars * STEPS_PER_BAR, bars),
  };
}

function summarizeAll(scores: readonly SongScores[], seed: number): Record<Measure, Stat | null> {
  return Object.fromEntries(MEASURES.map((m, i) => [m, summarize(scores.map((s) => s[m]), songSeed(seed, i, 99))])) as Record<Measure, Stat | null>;
}

export async function judge(opts: JudgeOptions, hooks: JudgeHooks = {}): Promise<JudgeReport> {
  const log = hooks.log ?? (() => {});
  const sampling = resolveSampling(opts.sampling); // a bad setting fails before any work
  if (opts.models.length === 0) throw new AntiphonError('E_USAGE', 'judge needs at least one model');
  const store = await readTokenStore(opts.data);

  // The split: the trainer's fraction, from the option, the first model's card, or the trainer's default.
  const fromCard = await readSplitFromCard(opts.models[0]);
  const valFraction = opts.valFraction ?? fromCard.valFraction ?? TRAIN_DEFAULTS.valFraction;
  const valFractionFrom = opts.valFraction !== undefined ? 'option' : fromCard.valFraction !== undefined ? 'model card' : 'trainer default';
  if (fromCard.songs !== undefined && fromCard.songs !== store.index.songs.length) {
    log(`warning: ${opts.models[0]} was trained on a store of ${fromCard.songs} songs, ${opts.data} holds ${store.index.songs.length}: its validation split may differ`);
  }
  const held = heldOutCases(store, { valFraction, songs: opts.songs, primerBars: opts.primerBars, bars: opts.bars });
  if (held.cases.length === 0) {
    throw new AntiphonError(
      'E_DATASET',
      `${opts.data}: none of its ${held.validation} validation songs (fraction ${valFraction}) has ${opts.primerBars + opts.bars} bars with notes after the primer`,
    );
  }
  const skippedCount = held.skipped.tooShort + held.skipped.silentReference;
  log(
    `judging ${held.cases.length} of ${held.validation} validation songs` +
      (skippedCount ? ` (${skippedCount} skipped: ${held.skipped.tooShort} shorter than ${opts.primerBars + opts.bars} bars, ${held.skipped.silentReference} silent after the primer)` : ''),
  );

  const from = opts.primerBars * STEPS_PER_BAR;
  const to = (opts.primerBars + opts.bars) * STEPS_PER_BAR;
  const keys = held.cases.map((c) => keyOfNotes(c.primerNotes));
  const systems: SystemReport[] = [];
  const perSong = new Map<string, SongScores[]>();

  const bar = hooks.progress?.(held.cases.length * opts.models.length);
  const names = modelNames(opts.models);
  try {
    for (const [m, dir] of opts.models.entries()) {
      const { model, card } = await loadModel(dir);
      const scores: SongScores[] = [];
      let hit = 0;
      const t0 = performance.now();
      let listens: ContextUse | undefined;
      try {
        listens = contextUse(model, held.cases);
        for (const [i, c] of held.cases.entries()) {
          const sampler = new Sampler({ seed: songSeed(opts.seed, c.id, 1), settings: sampling });
          const added = continueWords(model, c.primer, sampler, { bars: opts.bars, maxWords: opts.maxWords, pitchBalance: opts.pitchBalance ?? 0, densityBalance: opts.densityBalance ?? 0 });
          if (added.length >= opts.maxWords) hit++;
          const notes = notesBetween(decodeWords([...c.primer, ...added]).notes, from, to);
          scores.push(scoreContinuation(notes, c, keys[i], opts.primerBars, opts.bars));
          bar?.tick(names[m]);
        }
      } finally {
        model.dispose();
      }
      perSong.set(names[m], scores);
      systems.push({
        name: names[m], kind: 'model', model: dir, trainingSteps: card.trainingSteps,
        measures: summarizeAll(scores, opts.seed), hitMaxWords: hit, contextUse: listens, seconds: (performance.now() - t0) / 1000,
      });
    }
  } finally {
    bar?.stop();
  }

  const peer = (name: 'echo' | 'markov', make: (c: JudgeCase) => ScoreNote[]): void => {
    const t0 = performance.now();
    const scores = held.cases.map((c, i) => scoreContinuation(notesBetween(make(c), from, to), c, keys[i], opts.primerBars, opts.bars));
    perSong.set(name, scores);
    systems.push({ name, kind: name, measures: summarizeAll(scores, opts.seed), seconds: (performance.now() - t0) / 1000 });
  };
  peer('echo', (c) => echoContinuation(c.primerNotes, opts.primerBars, opts.bars));
  peer('markov', (c) => markovContinuation(c.primerNotes, { order: opts.markovOrder, seed: songSeed(opts.seed, c.id, 2), fromStep: from, toStep: to }));

  const markov = perSong.get('markov')!;
  const markovMeasures = systems.find((s) => s.kind === 'markov')!.measures;
  for (const s of systems) {
    if (s.kind !== 'model') continue;
    const mine = perSong.get(s.name)!;
    s.vsMarkov = Object.fromEntries(
      HISTOGRAM_MEASURES.map((k, i) => [
        k,
        {
          // the histogram distances are defined for every song, so both means are over the same songs
          beats: s.measures[k]!.mean < markovMeasures[k]!.mean,
          difference: pairedDifference(mine.map((x) => x[k]), markov.map((x) => x[k]), songSeed(opts.seed, i, 98)),
        },
      ]),
    ) as SystemReport['vsMarkov'];
  }

  const reference = held.cases.map((c, i) => ({
    notesPerBar: c.reference.length / opts.bars,
    inKey: inKeyShare(c.reference, keys[i]),
    distinct4: distinctNgramShare(pitchSequence(c.reference), 4),
    harmonyRepeat: harmonyRepeatShare(c.reference, c.primerNotes, from, opts.bars),
  }));
  return {
    data: opts.data,
    split: { valFraction, valFractionFrom, validationSongs: held.validation, eligible: held.eligible, skipped: held.skipped },
    primerBars: opts.primerBars,
    bars: opts.bars,
    seed: opts.seed,
    maxWords: opts.maxWords,
    markovOrder: opts.markovOrder,
    sampling,
    pitchBalance: opts.pitchBalance ?? 0,
    densityBalance: opts.densityBalance ?? 0,
    songs: {
      requested: opts.songs,
      judged: held.cases.length,
      list: held.cases.map((c, i) => ({ source: c.source, file: c.file, key: keys[i] ? keyName(keys[i]) : null })),
    },
    reference: Object.fromEntries(
      REFERENCE_MEASURES.map((m, i) => [m, summarize(reference.map((r) => r[m]), songSeed(opts.seed, i, 97))]),
    ) as JudgeReport['reference'],
    systems,
  };
}
