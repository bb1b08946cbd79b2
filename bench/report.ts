// docs/benchmarks.md keeps one section per (config, backend), between markers, so a run
// of one config refreshes its own figures and leaves the others in place.
import type { DuetBench } from './duet.ts';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { EngineBench } from './engine.ts';
import type { TrainProfile } from './train-profile.ts';

const HEADER = `# Benchmarks

Written by \`npm run bench\` (\`node --import tsx bench/run.ts\`); each section is replaced
when its config and backend are run again. Decode latency is one KV-cache step plus
sampling the word, at the stated context (words attended). "Recompute" computes the same
next-word distributions from scratch over all 512 words, by the faster of the training
forward pass and a batched prime into an empty cache; the ratio is recompute time over
the cached step's p50. Priming ingests 512 words into an empty cache in batched calls.
Peak RSS is the whole process's high-water mark.

Goals (default config, wasm, 2 cores): decode p99 <= 6 ms at context 512, and the
cache >= 200x faster than recompute at 512. The Compound Word Transformer's reference
code took 14.6 ms per word on a GPU for its 39 M-parameter model. Training goal: at least
1,200 words/s for the default config using both cores.
`;

interface LoadFigures {
  firstAnswerP50Ms: number;
  firstAnswerP99Ms: number;
  messagesLost: number;
  rssMb: number;
  serverLoopDelayP99Ms?: number;
  serverLoopDelayMaxMs?: number;
}

function loadRows(r: EngineBench): string[] {
  const l16 = r.load16 as LoadFigures | undefined;
  const l1 = r.load1 as LoadFigures | undefined;
  return [
    ...(l16
      ? [`| server, 16 sessions over WebSocket: first answer p50 / p99, messages lost, RSS (server and clients in one process) | ${l16.firstAnswerP50Ms} / ${l16.firstAnswerP99Ms} ms, ${l16.messagesLost} lost, ${l16.rssMb} MB |`]
      : []),
    ...(l16?.serverLoopDelayP99Ms !== undefined
      ? [`| server, 16 sessions: the server thread's timers late by, p99 / max | ${l16.serverLoopDelayP99Ms} / ${l16.serverLoopDelayMaxMs} ms |`]
      : []),
    ...(l1 ? [`| server, one session: first answer p50 / p99, RSS | ${l1.firstAnswerP50Ms} / ${l1.firstAnswerP99Ms} ms, ${l1.rssMb} MB |`] : []),
    ...(typeof r.serverRssOneSessionMb === 'number' ? [`| server RSS with one session (antiphon serve, its own process) | ${r.serverRssOneSessionMb} MB |`] : []),
  ];
}

function duetRows(r: EngineBench): string[] {
  const d = r as EngineBench & Partial<DuetBench>;
  if (!d.ingest || !d.firstAnswer) return [];
  return [
    `| duet ingest p50 / p99 (note event to its words in the cache) | ${d.ingest.p50Ms} / ${d.ingest.p99Ms} ms |`,
    ...(d.ingestNoPedal ? [`| duet ingest p50 / p99, the same calls without the sustain pedal | ${d.ingestNoPedal.p50Ms} / ${d.ingestNoPedal.p99Ms} ms |`] : []),
    ...(d.ingestNoForecast ? [`| duet ingest p50 / p99, pedalled, with the forecast off | ${d.ingestNoForecast.p50Ms} / ${d.ingestNoForecast.p99Ms} ms |`] : []),
    ...(d.forecast
      ? [`| duet forecast: the person's words already in the cache when they came; forecast words primed per word played | ${(d.forecast.keptShare * 100).toFixed(1)}%; ${d.forecast.primedPerWordPlayed} |`]
      : []),
    ...(d.block ? [`| duet longest hold of the thread p50 / p99 (one slice of model work) | ${d.block.p50Ms} / ${d.block.p99Ms} ms |`] : []),
    `| duet first answer p50 / p99 (phrase end to first note scheduled) | ${d.firstAnswer.p50Ms} / ${d.firstAnswer.p99Ms} ms |`,
    `| duet first answer with no speculation (hand-off CC) p50 / p99 | ${d.firstAnswerCold!.p50Ms} / ${d.firstAnswerCold!.p99Ms} ms |`,
    `| duet speculative preparation in the silence p50 / p99 | ${d.prepare!.p50Ms} / ${d.prepare!.p99Ms} ms |`,
    `| duet real-time factor (generation speed / speed the music needs) | ${d.realTimeFactor}x |`,
    `| duet model | ${d.duetModel} (${d.duetCalls} realistic 4-bar calls at 96 BPM) |`,
    ...loadRows(r),
  ];
}

/** Where a training unit's time goes (bench/train-profile.ts): its wall time, then the kernels that dominate. */
function profileRows(p: TrainProfile | undefined): string[] {
  if (!p) return [];
  const share = (ms: number) => `${((100 * ms) / p.kernelMs).toFixed(1)}%`;
  const kernels = p.kernels.slice(0, 5).map((k) => `${k.name} ${share(k.ms)}`).join(', ');
  return [
    `| training profile: one unit of ${p.rows} x ${p.context} words, loss and gradients | ${p.wallMs} ms; kernels ${p.kernelMs} ms in ${p.kernelCalls} calls |`,
    `| training profile: kernels by share of kernel time | ${kernels} |`,
  ];
}

function section(r: EngineBench): string {
  const d = r.decode;
  const params = typeof r.parameters === 'number' ? `${(r.parameters / 1e6).toFixed(1)} M parameters, ` : '';
  return [
    `## ${r.model} on ${r.backend}`,
    '',
    `${params}${r.layers} layers, d_model ${r.dModel}, ${r.heads} heads, context ${r.contextLength}. ` +
      `Node ${r.node}, ${r.cpus} CPUs, ${String(r.date).slice(0, 10)}.`,
    '',
    '| measure | value |',
    '|---|---|',
    `| decode p50 / p99, ctx 64 | ${d.ctx64.p50Ms} / ${d.ctx64.p99Ms} ms |`,
    `| decode p50 / p99, ctx 512 | ${d.ctx512.p50Ms} / ${d.ctx512.p99Ms} ms |`,
    `| decode p50 / p99, ctx 1024 | ${d.ctx1024.p50Ms} / ${d.ctx1024.p99Ms} ms |`,
    `| words/s at ctx 512 (from p99) | ${r.decodeWordsPerSecCtx512} |`,
    `| full recompute, ctx 512 | ${r.recomputeMsCtx512} ms |`,
    `| recompute / cached step, ctx 512 | ${r.recomputeRatioCtx512}x |`,
    `| priming | ${r.primeWordsPerSec} words/s |`,
    `| peak RSS | ${r.peakRssMb} MB |`,
    ...(r.trainWordsPerSec !== undefined
      ? [
          `| training, ${r.trainWorkers ?? 1} worker(s) (batch ${r.trainBatch} x ${r.trainContext}) | ${r.trainWordsPerSec} words/s (${r.trainStepMs} ms per step) |`,
          ...(r.trainWordsPerSecOneProcess !== undefined
            ? [`| training, one process | ${r.trainWordsPerSecOneProcess} words/s (${r.trainStepMsOneProcess} ms per step) |`]
            : []),
        ]
      : []),
    ...profileRows(r.trainProfile as TrainProfile | undefined),
    ...duetRows(r),
    '',
  ].join('\n');
}

export function writeBenchmarksDoc(path: string, results: EngineBench[], notes = ''): void {
  let body = existsSync(path) ? readFileSync(path, 'utf8') : HEADER;
  if (!body.startsWith('# Benchmarks')) body = HEADER;
  for (const r of results) {
    const tag = `${r.model}:${r.backend}`;
    const open = `<!-- bench ${tag} -->`;
    const close = `<!-- /bench ${tag} -->`;
    const block = `${open}\n${section(r)}${close}`;
    const re = new RegExp(`${open.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\s\\S]*?${close.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
    body = re.test(body) ? body.replace(re, block) : `${body.trimEnd()}\n\n${block}\n`;
  }
  const NOTES_OPEN = '<!-- notes -->';
  const NOTES_CLOSE = '<!-- /notes -->';
  if (notes) {
    const block = `${NOTES_OPEN}\n${notes.trim()}\n${NOTES_CLOSE}`;
    const re = new RegExp(`${NOTES_OPEN}[\\s\\S]*?${NOTES_CLOSE}`);
    body = re.test(body) ? body.replace(re, block) : `${body.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(path, body.trimEnd() + '\n');
}
