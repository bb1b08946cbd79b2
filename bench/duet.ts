// The live duet benchmark: ingest latency (an event that makes words final until the last of
// them is in the cache), the longest the session holds its thread at once (a slice of work),
// first-answer latency (the phrase-end trigger until the answer's first note is in the
// scheduler) and the real-time factor, on the default model with realistic 4-bar calls.
//
// Timing is wall-clock compute; the music runs in virtual time (an RxJS VirtualTimeScheduler),
// so a session of many calls takes seconds and the numbers measure the engine, not the waiting.
import { existsSync } from 'node:fs';
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { DuetSession } from '../src/engine/duet/session.ts';
import { loadModel } from '../src/engine/model/checkpoint.ts';
import { presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import type { NoteEvent } from '../src/engine/note-events.ts';
import type { Latency } from './engine.ts';

export interface DuetBench {
  duetModel: string;
  ingest: Latency;
  /** The same calls played without the sustain pedal: words become final every half bar, a few at a time. */
  ingestNoPedal: Latency;
  /** The pedalled calls with the session's forecast off: every commit primed when it comes. */
  ingestNoForecast: Latency;
  /**
   * The forecast in the pedalled calls: the share of the person's words that were already in
   * the cache when they came, and the forecast words primed per word played (its idle work).
   */
  forecast: { keptShare: number; primedPerWordPlayed: number };
  /** Each uninterrupted piece of the session's model work (ingest slices, preparation slices, answer pumps). */
  block: Latency;
  firstAnswer: Latency;
  /** The same trigger with no speculation (a hand-off controller): the cost the silence hides. */
  firstAnswerCold: Latency;
  /** The speculative work done in the silence before a phrase end. */
  prepare: Latency;
  realTimeFactor: number;
  duetCalls: number;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const latency = (xs: number[]): Latency => ({ p50Ms: round(pct(xs, 0.5)), p99Ms: round(pct(xs, 0.99)) });

/**
 * A 4-bar call at `bpm`: a melody of eighths and quarters over a left hand that plays a
 * chord on beats 1 and 3, with the sustain pedal changed every bar, as a pianist would play.
 */
export function realisticCall(startMs: number, bpm: number, variant: number): NoteEvent[] {
  const beat = 60000 / bpm;
  const ev: NoteEvent[] = [];
  const on = (t: number, note: number, velocity: number, dur: number) => {
    ev.push({ type: 'noteon', time: t, note, velocity, channel: 0 }, { type: 'noteoff', time: t + dur, note, channel: 0 });
  };
  const roots = [[48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50]];
  const melody = [72, 74, 76, 79, 77, 76, 74, 72, 71, 72, 74, 76, 72, 69, 71, 72];
  for (let bar = 0; bar < 4; bar++) {
    const t0 = startMs + bar * 4 * beat;
    ev.push({ type: 'cc', time: t0 - 20, controller: 64, value: 0, channel: 0 }, { type: 'cc', time: t0 + 30, controller: 64, value: 100, channel: 0 });
    for (const half of [0, 2]) for (const p of roots[(bar + variant) % 4]) on(t0 + half * beat + 5, p, 62, beat * 1.8);
    let b = 0;
    let i = bar * 4 + variant;
    while (b < 4) {
      const len = (i + bar) % 3 === 0 ? 1 : 0.5;
      on(t0 + b * beat, melody[i % melody.length], 70 + ((i * 7) % 30), beat * len * 0.9);
      b += len;
      i++;
    }
  }
  ev.push({ type: 'cc', time: startMs + 16 * beat, controller: 64, value: 0, channel: 0 });
  return ev.sort((a, b) => a.time - b.time);
}

export async function runDuetBench(opts: {
  config: string;
  calls?: number;
  modelDir?: string;
  /** The session's workSliceWords (default: the session's default). */
  workSliceWords?: number;
  log?: (l: string) => void;
}): Promise<DuetBench> {
  const log = opts.log ?? (() => {});
  const dir = opts.modelDir ?? 'models/default';
  let model: CPTransformer;
  let name: string;
  if (existsSync(dir)) {
    model = (await loadModel(dir)).model;
    name = dir;
  } else {
    model = CPTransformer.create(presetConfig(opts.config), 1);
    name = `${opts.config} (random weights: ${dir} not found)`;
  }
  const calls = opts.calls ?? 40;
  const ingest: number[] = [];
  const ingestNoPedal: number[] = [];
  const ingestNoForecast: number[] = [];
  let forecastKept = 0;
  let forecastPrimed = 0;
  let wordsPlayed = 0;
  const block: number[] = [];
  const first: number[] = [];
  const cold: number[] = [];
  const prepare: number[] = [];
  let generateMs = 0;
  let answeredMs = 0;
  let wordsGenerated = 0;
  const bpm = 96;
  const callMs = (16 * 60000) / bpm;
  for (const mode of ['silence', 'handoff', 'nopedal', 'noforecast'] as const) {
    const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
    const session = new DuetSession(model, {
      seed: 7,
      scheduler,
      statsSamples: Infinity,
      workSliceWords: opts.workSliceWords,
      forecast: mode !== 'noforecast',
      settings: { tempoSource: 'fixed', bpm, minBars: 4, maxBars: 4, handoffController: mode === 'handoff' ? 67 : null },
    });
    const errors: string[] = [];
    session.output$.subscribe((o) => o.type === 'error' && errors.push(o.message));
    // Each cycle: a 4-bar call, then its 4-bar answer, then a beat of rest.
    const cycle = callMs * 2 + 2000;
    for (let c = 0; c < calls / 2; c++) {
      const start = 1000 + c * cycle;
      for (const e of realisticCall(start, bpm, c)) {
        if (mode === 'nopedal' && e.type === 'cc') continue;
        scheduler.schedule(() => session.push({ ...e, time: scheduler.now() }), e.time);
      }
      if (mode === 'handoff') {
        scheduler.schedule(() => session.push({ type: 'cc', controller: 67, value: 127, time: scheduler.now() }), start + callMs + 10);
      }
    }
    scheduler.flush();
    if (errors.length) throw new Error(`the duet bench session reported: ${errors[0]}`);
    const s = session.stats;
    session.dispose();
    log(`duet bench (${mode}): ${s.firstAnswerMs.length} answers, ${s.wordsPlayed} words played, ${s.wordsGenerated} generated`);
    // The unpedalled run only measures ingest; the others are the pedalled call's figures.
    if (mode === 'nopedal' || mode === 'noforecast') {
      (mode === 'nopedal' ? ingestNoPedal : ingestNoForecast).push(...s.ingestMs);
      continue;
    }
    forecastKept += s.forecastKept;
    forecastPrimed += s.forecastPrimed;
    wordsPlayed += s.wordsPlayed;
    (mode === 'silence' ? first : cold).push(...s.firstAnswerMs);
    ingest.push(...s.ingestMs);
    block.push(...s.blockMs);
    prepare.push(...s.prepareMs);
    generateMs += s.generateMs;
    answeredMs += s.answeredMs;
    wordsGenerated += s.wordsGenerated;
  }
  model.dispose();
  return {
    duetModel: name,
    ingest: latency(ingest),
    ingestNoPedal: latency(ingestNoPedal),
    ingestNoForecast: latency(ingestNoForecast),
    forecast: { keptShare: round(forecastKept / Math.max(wordsPlayed, 1)), primedPerWordPlayed: round(forecastPrimed / Math.max(wordsPlayed, 1), 2) },
    block: latency(block),
    firstAnswer: latency(first),
    firstAnswerCold: latency(cold),
    prepare: latency(prepare),
    // Generation speed over the speed the music needs: words per second of compute divided by
    // the answer's words per second of music.
    realTimeFactor: round(answeredMs / Math.max(generateMs, 1e-9), 1),
    duetCalls: first.length + cold.length,
  };
}
