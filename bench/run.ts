// npm run bench [-- --json] [--config small|base|small,base] [--backend auto|tensorflow|wasm|cpu] [--steps N] [--no-write] [--no-train] [--no-duet] [--no-load] [--load-seconds N]
// Each config runs in its own process, so that its peak RSS is its own.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BACKEND_CHOICES, type BackendChoice } from '../src/engine/backend.ts';
import { runEngineBench, type EngineBench } from './engine.ts';
import { writeBenchmarksDoc } from './report.ts';
import { runTrainBench } from './train.ts';
import { profileTrainUnit } from './train-profile.ts';
import { runDuetBench } from './duet.ts';
import { runLoadBench } from './load.ts';
import { measureServerRss } from './server-rss.ts';

interface Args {
  json: boolean;
  configs: string[];
  backend: BackendChoice;
  steps?: number;
  write: boolean;
  child: boolean;
  /** Also time training steps (trainWordsPerSec). */
  train: boolean;
  /** Also run the live duet benchmark (ingest, firstAnswer, realTimeFactor). */
  duet: boolean;
  /** Also run the server load test (16 sessions) and the one-session RSS, in their own process. */
  load: boolean;
  loadSeconds: number;
  loadChild: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { json: false, configs: ['small'], backend: 'auto', write: true, child: false, train: true, duet: true, load: true, loadSeconds: 60, loadChild: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--json') a.json = true;
    else if (k === '--config') a.configs = value().split(',');
    else if (k === '--backend') {
      const b = value();
      if (!BACKEND_CHOICES.includes(b as BackendChoice)) throw new Error(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
      a.backend = b as BackendChoice;
    } else if (k === '--steps') a.steps = Number(value());
    else if (k === '--no-write') a.write = false;
    else if (k === '--child') a.child = true;
    else if (k === '--no-train') a.train = false;
    else if (k === '--no-duet') a.duet = false;
    else if (k === '--no-load') a.load = false;
    else if (k === '--load-seconds') a.loadSeconds = Number(value());
    else if (k === '--load-child') a.loadChild = true;
    else throw new Error(`unknown option ${k}`);
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (l: string) => process.stderr.write(`${l}\n`);
  if (args.loadChild) {
    const load16 = await runLoadBench({ modelDir: 'models/default', backend: args.backend, sessions: 16, durationMs: args.loadSeconds * 1000, log });
    const pick = (r: typeof load16) => ({
      firstAnswerP50Ms: r.firstAnswerP50Ms,
      firstAnswerP99Ms: r.firstAnswerP99Ms,
      messagesLost: r.messagesLost,
      rssMb: r.rssMb,
      serverLoopDelayP99Ms: r.serverLoopDelayP99Ms,
      serverLoopDelayMaxMs: r.serverLoopDelayMaxMs,
    });
    // One performer: the server's own process, measured from outside.
    const one = await measureServerRss({ backend: args.backend, log });
    process.stdout.write(JSON.stringify({ load16: pick(load16), serverRssOneSessionMb: one.rssMb }) + '\n');
    return;
  }
  if (args.child) {
    const r = await runEngineBench({ config: args.configs[0], backend: args.backend, steps: args.steps, log });
    const t = args.train ? runTrainBench({ config: args.configs[0], log }) : {};
    // The profile needs the wasm training kernels; on other backends their profile would not apply.
    const profile = args.train && r.backend === 'wasm' ? { trainProfile: await profileTrainUnit({ config: args.configs[0] }) } : {};
    // The duet runs on the shipped default model, which is the small config.
    const d = args.duet && args.configs[0] === 'small' ? await runDuetBench({ config: args.configs[0], log }) : {};
    process.stdout.write(JSON.stringify({ ...r, ...t, ...profile, ...d }) + '\n');
    return;
  }
  const results: EngineBench[] = [];
  for (const config of args.configs) {
    log(`bench: ${config} on ${args.backend}`);
    const childArgs = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--config', config, '--backend', args.backend];
    if (args.steps) childArgs.push('--steps', String(args.steps));
    if (!args.train) childArgs.push('--no-train');
    if (!args.duet) childArgs.push('--no-duet');
    const p = spawnSync(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 20 });
    if (p.status !== 0) throw new Error(`the ${config} benchmark failed (exit ${p.status})`);
    results.push(JSON.parse(p.stdout.trim().split('\n').pop()!) as EngineBench);
  }
  if (args.load) {
    log(`bench: server load, 16 sessions for ${args.loadSeconds} s, then one session`);
    const p = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--load-child', '--backend', args.backend, '--load-seconds', String(args.loadSeconds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (p.status !== 0) throw new Error(`the load benchmark failed (exit ${p.status})`);
    Object.assign(results[0], JSON.parse(p.stdout.trim().split('\n').pop()!));
  }
  if (args.write) writeBenchmarksDoc(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)), results);
  if (args.json) {
    // Exactly one JSON object: the first config's, with any others under `others`.
    const [first, ...rest] = results;
    process.stdout.write(JSON.stringify(rest.length ? { ...first, others: rest } : first, null, 2) + '\n');
  } else {
    for (const r of results) {
      const d = r.decode;
      console.log(
        `${r.model} on ${r.backend}: decode p50/p99 ctx64 ${d.ctx64.p50Ms}/${d.ctx64.p99Ms} ms, ctx512 ${d.ctx512.p50Ms}/${d.ctx512.p99Ms} ms, ` +
          `ctx1024 ${d.ctx1024.p50Ms}/${d.ctx1024.p99Ms} ms; recompute ${r.recomputeMsCtx512} ms (${r.recomputeRatioCtx512}x); ` +
          `prime ${r.primeWordsPerSec} words/s; peak RSS ${r.peakRssMb} MB` +
          (r.trainWordsPerSec !== undefined ? `; training ${r.trainWordsPerSec} words/s` : '') +
          (r.ingest ? `; duet ingest p99 ${(r.ingest as { p99Ms: number }).p99Ms} ms, first answer p50/p99 ${(r.firstAnswer as { p50Ms: number }).p50Ms}/${(r.firstAnswer as { p99Ms: number }).p99Ms} ms, real-time factor ${r.realTimeFactor}x` : ''),
      );
    }
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
