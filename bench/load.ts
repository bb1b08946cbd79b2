// The server under load: N concurrent WebSocket sessions (16 by default), each playing 4-bar calls
// in real time for a while (60 s by default) and listening to the answers, against an in-process
// server on 127.0.0.1 with the real duet session on a model folder (or any session factory).
//
//   import { runLoadBench } from './load.ts';
//   const r = await runLoadBench({ modelDir: 'models/default' });            // the real session
//   const r = await runLoadBench({ createSession, model, durationMs: 5000 }); // any factory
//   // r: { firstAnswerP50Ms, firstAnswerP99Ms, messagesLost, rssMb, ... }
//
// First-answer latency, per call: when the answer's first note reached the player, measured from
// the moment it could first have been sent: the later of the phrase end (the last note-off plus
// the silence threshold) and the note's own time minus the look-ahead (an answer placed on the
// next beat is not late for waiting for that beat).
//
// Messages lost: client frames the server did not receive, frames it refused (rate limit,
// invalid), AI notes it dropped for backpressure, AI note-ons whose note-off never came, and
// error messages. RSS is the peak of this process, which holds the server and the clients
// (the clients are plain sockets and timers, a few MB).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { BackendChoice } from '../src/engine/backend.ts';
import type { DuetSessionApi, DuetSettingsInput } from '../src/engine/duet/types.ts';
import { loadModelSessions, type ModelSessions } from '../src/server/model-sessions.ts';
import type { ModelInfo } from '../src/server/protocol.ts';
import { createServer, type SessionFactory } from '../src/server/server.ts';

export interface LoadBenchOptions {
  /** A model folder: the real DuetSession factory is built from it (unless createSession is given). */
  modelDir?: string;
  backend?: BackendChoice;
  /** Engine worker threads for the real sessions (default: one per core, at most 2; 0 = the server thread). */
  engineWorkers?: number;
  /** The sessions' workSliceWords (default: the session's). */
  workSliceWords?: number;
  /** Any session factory instead (a fake, or a session built elsewhere); `model` describes it. */
  createSession?: SessionFactory;
  model?: ModelInfo;
  /** Concurrent sessions (default 16). */
  sessions?: number;
  /** How long calls keep starting, ms (default 60 000); answers under way are then heard out. */
  durationMs?: number;
  /** Bars per call (default 4). */
  bars?: number;
  /** The calls' tempo, fixed (default 120). */
  bpm?: number;
  /** The phrase-end silence (default 600 ms, the session's default). */
  silenceMs?: number;
  /** More settings for every session. */
  settings?: DuetSettingsInput;
  /** Longest wait for an answer to finish before the next call (default 30 000 ms). */
  answerTimeoutMs?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface LoadBenchResult {
  firstAnswerP50Ms: number;
  firstAnswerP99Ms: number;
  messagesLost: number;
  /** Peak RSS of the process during the run. */
  rssMb: number;
  sessions: number;
  calls: number;
  /** Calls answered with at least one note. */
  answers: number;
  /** The engine's own trigger-to-first-note time (DuetSession.stats.firstAnswerMs), when it keeps one. */
  engineFirstAnswerP50Ms: number | null;
  engineFirstAnswerP99Ms: number | null;
  /** How late this thread's timers ran (the server and the clients share it): p99 and max, ms. */
  serverLoopDelayP99Ms: number;
  serverLoopDelayMaxMs: number;
  /** The three latest first answers: ms late, when their phrase ended (s into the run), which player. */
  slowest: Array<{ ms: number; atS: number; player: number }>;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Nearest-rank percentile of unsorted values; NaN for none. */
function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** A small deterministic generator, so every run plays the same calls. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface CallNote {
  at: number;
  dur: number;
  note: number;
  velocity: number;
}

/** `bars` bars of 4/4 at `bpm`: a walk on a C major scale in eighths and quarters, some dyads. */
function makeCall(bars: number, bpm: number, rand: () => number): CallNote[] {
  const beat = 60_000 / bpm;
  const scale = [0, 2, 4, 5, 7, 9, 11];
  const notes: CallNote[] = [];
  let degree = 7 + Math.floor(rand() * 7);
  for (let t = 0; t < bars * 4; ) {
    const len = rand() < 0.6 ? 0.5 : 1;
    degree = Math.max(0, Math.min(20, degree + Math.floor(rand() * 5) - 2));
    const pitch = 48 + 12 * Math.floor(degree / 7) + scale[degree % 7];
    const velocity = 60 + Math.floor(rand() * 50);
    notes.push({ at: t * beat, dur: len * beat * 0.9, note: pitch, velocity });
    if (rand() < 0.2) notes.push({ at: t * beat, dur: len * beat * 0.9, note: pitch - 12 < 21 ? pitch + 4 : pitch - 12, velocity });
    t += len;
  }
  return notes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

interface PlayerResult {
  latencies: number[];
  /** When each latency's call ended, ms since the bench began. */
  endedAt: number[];
  calls: number;
  answers: number;
  sent: number;
  lost: number;
}

type Msg = { type: string; [k: string]: unknown };

/** One simulated musician: plays a call, waits for the answer to finish, again until `endAt`. */
async function player(url: string, index: number, o: Required<Pick<LoadBenchOptions, 'bars' | 'bpm' | 'silenceMs' | 'answerTimeoutMs' | 'seed'>> & { settings: DuetSettingsInput; endAt: number; startedAt: number }): Promise<PlayerResult> {
  const rand = rng(o.seed * 7919 + index * 104_729);
  const result: PlayerResult = { latencies: [], endedAt: [], calls: 0, answers: 0, sent: 0, lost: 0 };
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const inbox: Msg[] = [];
  let wake: (() => void) | null = null;
  const sounding = new Map<string, number>();
  let lookaheadMs = 75;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as Msg;
    (m as Msg & { arrivedAt: number }).arrivedAt = performance.now();
    inbox.push(m);
    wake?.();
  });
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (m: Msg) => {
    ws.send(JSON.stringify(m));
    result.sent++;
  };
  const handle = (m: Msg) => {
    const k = `${String(m.channel)}:${String(m.note)}`;
    if (m.type === 'noteon') sounding.set(k, (sounding.get(k) ?? 0) + 1);
    if (m.type === 'noteoff') {
      const n = sounding.get(k) ?? 0;
      if (n <= 1) sounding.delete(k);
      else sounding.set(k, n - 1);
    }
    if (m.type === 'error') result.lost++;
    if (m.type === 'hello' || m.type === 'settings') lookaheadMs = (m.settings as { lookaheadMs?: number })?.lookaheadMs ?? lookaheadMs;
  };
  const nextMessage = async (deadline: number): Promise<Msg | null> => {
    while (!inbox.length) {
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      wake = null;
    }
    const m = inbox.shift()!;
    handle(m);
    return m;
  };
  /** Handles messages until one matches `pred` (returned) or `timeoutMs` pass (null). */
  const until = async (pred: (m: Msg) => boolean, timeoutMs: number, onMsg: (m: Msg) => void = () => {}): Promise<Msg | null> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = await nextMessage(deadline);
      if (m === null) return null;
      onMsg(m);
      if (pred(m)) return m;
    }
  };
  /** Handles messages until no AI note sounds, or `timeoutMs` pass. */
  const silent = async (timeoutMs: number): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    while (sounding.size > 0 && (await nextMessage(deadline)) !== null);
  };

  await until((m) => m.type === 'hello', 10_000);
  send({ type: 'settings', tempoSource: 'fixed', bpm: o.bpm, silenceMs: o.silenceMs, ...o.settings });
  await until((m) => m.type === 'settings' || m.type === 'error', 10_000);
  await sleep(rand() * (4 * 60_000) / o.bpm); // stagger the players over a bar

  while (performance.now() < o.endAt) {
    const call = makeCall(o.bars, o.bpm, rand);
    const start = performance.now();
    const events = call.flatMap((n) => [
      { at: n.at, m: { type: 'noteon', note: n.note, velocity: n.velocity } },
      { at: n.at + n.dur, m: { type: 'noteoff', note: n.note } },
    ]).sort((a, b) => a.at - b.at || (a.m.type === 'noteoff' ? -1 : 1));
    for (const e of events) {
      await sleep(start + e.at - performance.now());
      send({ ...e.m, time: performance.now() });
    }
    result.calls++;
    const phraseEnd = performance.now() + o.silenceMs;
    let first: (Msg & { arrivedAt: number; time: number }) | null = null;
    const onMsg = (m: Msg) => {
      if (m.type === 'noteon' && first === null) first = m as Msg & { arrivedAt: number; time: number };
    };
    const answering = await until((m) => m.type === 'state' && m.turn === 'answering', o.silenceMs + o.answerTimeoutMs, onMsg);
    if (answering) await until((m) => m.type === 'state' && m.turn === 'listening', o.answerTimeoutMs, onMsg);
    if (first !== null) {
      const f: Msg & { arrivedAt: number; time: number } = first;
      result.answers++;
      result.latencies.push(f.arrivedAt - Math.max(phraseEnd, f.time - lookaheadMs));
      result.endedAt.push(phraseEnd - o.startedAt);
    }
    // The last note-offs may trail the turn change a little.
    await silent(200);
  }
  await silent(o.answerTimeoutMs);
  result.lost += [...sounding.values()].reduce((a, b) => a + b, 0);
  ws.close(1000);
  await closed;
  return result;
}

export async function runLoadBench(opts: LoadBenchOptions = {}): Promise<LoadBenchResult> {
  const log = opts.log ?? (() => {});
  const sessions = opts.sessions ?? 16;
  const durationMs = opts.durationMs ?? 60_000;
  let loaded: ModelSessions | null = null;
  let createSession = opts.createSession;
  let model = opts.model;
  if (!createSession) {
    if (!opts.modelDir) throw new Error('runLoadBench needs modelDir or createSession');
    loaded = await loadModelSessions(opts.modelDir, opts.backend ?? 'auto', log, {
      ...(opts.engineWorkers === undefined ? {} : { engineWorkers: opts.engineWorkers }),
      workSliceWords: opts.workSliceWords,
    });
    createSession = loaded.createSession;
    model = loaded.info;
  }
  const made: DuetSessionApi[] = [];
  const factory: SessionFactory = (o) => {
    const s = createSession!(o);
    made.push(s);
    return s;
  };
  const server = await createServer({
    host: '127.0.0.1',
    port: 0,
    createSession: factory,
    model: model ?? { name: 'unnamed', description: '', parameters: null, trainingSteps: 0, dataSources: [] },
    staticDir: null,
    limits: { maxSessions: Math.max(32, sessions) },
    log,
  });
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  try {
    log(`load: ${sessions} sessions, ${durationMs} ms of ${opts.bars ?? 4}-bar calls against ${model?.name ?? 'a session factory'}`);
    const endAt = performance.now() + durationMs;
    const results = await Promise.all(
      Array.from({ length: sessions }, (_, i) =>
        player(`ws://127.0.0.1:${server.port}/ws`, i, {
          bars: opts.bars ?? 4,
          bpm: opts.bpm ?? 120,
          silenceMs: opts.silenceMs ?? 600,
          answerTimeoutMs: opts.answerTimeoutMs ?? 30_000,
          seed: opts.seed ?? 1,
          settings: opts.settings ?? {},
          endAt,
          startedAt: endAt - durationMs,
        }),
      ),
    );
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await server.closeSessions();
    const stats = server.stats();
    const latencies = results.flatMap((r) => r.latencies);
    const sent = results.reduce((a, r) => a + r.sent, 0);
    const lost = results.reduce((a, r) => a + r.lost, 0) + Math.max(0, sent - stats.received) + stats.rateLimited + stats.invalid + stats.dropped;
    const engine = made.flatMap((s) => (s as { stats?: { firstAnswerMs?: number[] } }).stats?.firstAnswerMs ?? []);
    const out: LoadBenchResult = {
      firstAnswerP50Ms: round(percentile(latencies, 0.5)),
      firstAnswerP99Ms: round(percentile(latencies, 0.99)),
      messagesLost: lost,
      rssMb: Math.round(peakRss / 2 ** 20),
      sessions,
      calls: results.reduce((a, r) => a + r.calls, 0),
      answers: results.reduce((a, r) => a + r.answers, 0),
      engineFirstAnswerP50Ms: engine.length ? round(percentile(engine, 0.5)) : null,
      engineFirstAnswerP99Ms: engine.length ? round(percentile(engine, 0.99)) : null,
      // The histogram counts the sampling resolution in every delay; take it out.
      serverLoopDelayP99Ms: round(Math.max(0, loopDelay.percentile(99) / 1e6 - 5)),
      serverLoopDelayMaxMs: round(Math.max(0, loopDelay.max / 1e6 - 5)),
      slowest: results
        .flatMap((r, player) => r.latencies.map((ms, i) => ({ ms: round(ms), atS: round(r.endedAt[i] / 1000), player })))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 3),
    };
    log(`load: ${JSON.stringify(out)}`);
    return out;
  } finally {
    loopDelay.disable();
    clearInterval(rssTimer);
    await server.close();
    await loaded?.dispose();
  }
}
