import cliProgress from 'cli-progress';
import { AntiphonError } from '../../errors.ts';
import { train, TRAIN_DEFAULTS, type TrainOptions } from '../../trainer/train-run.ts';
import { backendOption, intOption, type Command } from '../command.ts';
import { POOL_OPTIONS, poolOptions } from '../pool-options.ts';

const d = TRAIN_DEFAULTS;

function numberOption(values: Record<string, unknown>, name: string, fallback: number, lo: number, hi: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < lo || n > hi) throw new AntiphonError('E_USAGE', `--${name} must be a number in [${lo}, ${hi}], got "${String(raw)}"`);
  return n;
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a CP Transformer from folders of MIDI (or a token store); checkpoints, curves and --resume.',
  usage: 'train --data DIR [--data DIR ...] --out models/NAME [options]',
  help: [
    '  --data DIR            MIDI folder (repeatable), or one token store from antiphon dataset build',
    '  --out DIR             the model folder to write (checkpoints/, metrics.jsonl, curves.svg inside)',
    `  --config C            small | base | a config JSON file (default ${d.config})`,
    `  --steps N             optimisation steps in all (default ${d.steps})`,
    '  --resume              continue from the newest checkpoint in --out: same data order, optimiser state and step',
    `  --backend B           auto | tensorflow | wasm | cpu (default ${d.backend})`,
    `  --seed N              initial weights and data order (default ${d.seed})`,
    `  --eval-every N        validate every N steps (default ${d.evalEvery})`,
    `  --checkpoint-every N  checkpoint every N steps (default ${d.checkpointEvery})`,
    `  --keep-checkpoints N  checkpoints kept; the best by validation loss is always kept (default ${d.keepCheckpoints})`,
    `  --batch-size N        examples per step (default ${d.batchSize})`,
    `  --context N           words per example (default ${d.context}, at most the config's context)`,
    `  --lr X                peak learning rate (default ${d.lr})`,
    `  --warmup N            warm-up steps (default ${d.warmup})`,
    `  --val-fraction X      share of songs held out for validation (default ${d.valFraction})`,
    `  --max-transpose N     transposition augmentation, semitones up or down (default ${d.maxTranspose})`,
    `  --eval-batches N      validation batches per evaluation (default ${d.evalBatches})`,
    `  --log-every N         a metrics.jsonl line every N steps (default ${d.logEvery})`,
    `  --workers N|auto      data-parallel worker threads, each training on its share of every batch (default ${d.workers}:`,
    '                        one per core, at most 8 and at most the batch size, on wasm and cpu; 1 on tensorflow)',
  ].join('\n'),
  options: {
    data: { type: 'string', multiple: true },
    out: { type: 'string' },
    config: { type: 'string' },
    steps: { type: 'string' },
    resume: { type: 'boolean' },
    backend: { type: 'string' },
    seed: { type: 'string' },
    'eval-every': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'keep-checkpoints': { type: 'string' },
    'batch-size': { type: 'string' },
    context: { type: 'string' },
    lr: { type: 'string' },
    warmup: { type: 'string' },
    'val-fraction': { type: 'string' },
    'max-transpose': { type: 'string' },
    'eval-batches': { type: 'string' },
    'log-every': { type: 'string' },
    workers: { type: 'string' },
    ...POOL_OPTIONS,
  },
  async run(values, positionals, io) {
    const data = (values.data as string[] | undefined) ?? [];
    if (positionals.length) throw new AntiphonError('E_USAGE', `unexpected argument "${positionals[0]}"; pass folders with --data`);
    if (!data.length || !values.out) throw new AntiphonError('E_USAGE', 'train needs --data DIR and --out DIR (see antiphon train --help)');
    const opts: TrainOptions = {
      data,
      out: values.out as string,
      config: (values.config as string | undefined) ?? d.config,
      steps: intOption(values, 'steps', d.steps),
      resume: Boolean(values.resume),
      backend: backendOption(values, d.backend),
      seed: intOption(values, 'seed', d.seed, 0),
      evalEvery: intOption(values, 'eval-every', d.evalEvery),
      checkpointEvery: intOption(values, 'checkpoint-every', d.checkpointEvery),
      keepCheckpoints: intOption(values, 'keep-checkpoints', d.keepCheckpoints),
      batchSize: intOption(values, 'batch-size', d.batchSize),
      context: intOption(values, 'context', d.context, 2),
      lr: numberOption(values, 'lr', d.lr, 1e-7, 1),
      warmup: intOption(values, 'warmup', d.warmup, 0),
      valFraction: numberOption(values, 'val-fraction', d.valFraction, 0, 0.5),
      maxTranspose: intOption(values, 'max-transpose', d.maxTranspose, 0),
      evalBatches: intOption(values, 'eval-batches', d.evalBatches),
      logEvery: intOption(values, 'log-every', d.logEvery),
      workers: values.workers === undefined || values.workers === 'auto' ? 'auto' : intOption(values, 'workers', 1),
    };
    let stop = false;
    const onSignal = () => {
      stop = true;
      io.err('stopping after this step; a checkpoint will be written');
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let bar: cliProgress.SingleBar | null = null;
    let lastPlain = 0;
    try {
      const result = await train(opts, {
        log: (line) => (bar ? bar.update({ detail: line }) : io.err(line)),
        shouldStop: () => stop,
        reader: poolOptions(values),
        onStep: (s) => {
          const payload = { loss: s.loss.toFixed(3), wps: Math.round(s.wordsPerSec), detail: '' };
          if (io.tty) {
            if (!bar) {
              bar = new cliProgress.SingleBar(
                { format: 'train [{bar}] {value}/{total} | loss {loss} | {wps} words/s | ETA {eta_formatted}', stream: process.stderr, etaBuffer: 50 },
                cliProgress.Presets.shades_classic,
              );
              bar.start(s.steps, s.step - 1, payload);
            }
            bar.update(s.step, payload);
          } else if (s.step - lastPlain >= opts.logEvery || s.step === s.steps) {
            lastPlain = s.step;
            io.err(`step ${s.step}/${s.steps} loss ${payload.loss} ${payload.wps} words/s lr ${s.lr.toExponential(2)}`);
          }
        },
      });
      (bar as cliProgress.SingleBar | null)?.stop();
      io.out(`${result.stopped ? 'stopped' : 'trained'} to step ${result.step}: loss ${result.trainLoss.toFixed(4)}${result.valLoss !== null ? `, validation ${result.valLoss.toFixed(4)}` : ''}; model in ${opts.out}`);
      return 0;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
};
