import { selectBackend } from '../../engine/backend.ts';
import { resolveSampling } from '../../engine/sampler/settings.ts';
import { AntiphonError } from '../../errors.ts';
import { MARKOV_DEFAULT_ORDER } from '../../trainer/judge/markov.ts';
import { formatReport } from '../../trainer/judge/report.ts';
import { expandModelDirs, judge } from '../../trainer/judge/run.ts';
import { backendOption, intOption, type Command } from '../command.ts';
import { FAMILY_FLAG_HELP, FAMILY_FLAG_OPTIONS, densityBalanceFlag, familyFlags, pitchBalanceFlag } from '../family-flags.ts';
import { progress } from '../progress.ts';

const DEFAULT_SONGS = 24;

export const judgeCommand: Command = {
  name: 'judge',
  summary: 'Continue held-out songs with models and two peers (echo, Markov) and measure them against the real bars.',
  usage: 'judge --model DIR [--model DIR ...] --data DIR [--songs N] [--primer-bars N] [--bars M] [--seed S] [--json]',
  help: [
    '  --model DIR             a model folder, or a folder of them such as a run\'s checkpoints/ (repeatable)',
    '  --data DIR              the token store the model was trained on (antiphon dataset build, or a run\'s dataset/);',
    '                          only the validation songs of the trainer\'s split are judged',
    `  --songs N               validation songs to judge, spread over the store (default ${DEFAULT_SONGS})`,
    '  --primer-bars N         bars of each song given as the primer (default 4)',
    '  --bars M                bars to continue and compare with the real ones (default 4)',
    '  --seed S                seed of the model\'s and the Markov peer\'s sampling and of the bootstrap (default 1)',
    FAMILY_FLAG_HELP,
    '  --val-fraction X        the trainer\'s validation fraction (default: from the model card, else 0.05)',
    '  --max-words N           cut a continuation after N words (default 128 per bar)',
    `  --markov-order K        longest context of the Markov peer, in note events (default ${MARKOV_DEFAULT_ORDER})`,
    '  --backend B             auto | tensorflow | wasm | cpu (default auto)',
    '  --json                  print one JSON object (docs/judging.md gives its shape)',
  ].join('\n'),
  options: {
    model: { type: 'string', multiple: true }, data: { type: 'string' }, songs: { type: 'string' },
    'primer-bars': { type: 'string' }, bars: { type: 'string' }, seed: { type: 'string' },
    ...FAMILY_FLAG_OPTIONS,
    'val-fraction': { type: 'string' }, 'max-words': { type: 'string' }, 'markov-order': { type: 'string' },
    backend: { type: 'string' }, json: { type: 'boolean' },
  },
  async run(values, positionals, io) {
    const models = (values.model as string[] | undefined) ?? [];
    if (positionals.length || !models.length || !values.data) {
      throw new AntiphonError('E_USAGE', 'judge needs --model DIR and --data DIR (see antiphon judge --help)');
    }
    const sampling = familyFlags(values);
    resolveSampling(sampling); // a bad value fails before loading anything
    const pitchBalance = pitchBalanceFlag(values);
    const densityBalance = densityBalanceFlag(values);
    const bars = intOption(values, 'bars', 4);
    let valFraction: number | undefined;
    if (values['val-fraction'] !== undefined) {
      valFraction = Number(values['val-fraction']);
      if (!(valFraction > 0 && valFraction <= 1)) throw new AntiphonError('E_USAGE', `--val-fraction must be a number in (0, 1], got "${String(values['val-fraction'])}"`);
    }
    const opts = {
      data: values.data as string,
      models: await expandModelDirs(models),
      songs: intOption(values, 'songs', DEFAULT_SONGS),
      primerBars: intOption(values, 'primer-bars', 4),
      bars,
      seed: intOption(values, 'seed', 1, 0),
      sampling,
      valFraction,
      maxWords: intOption(values, 'max-words', 128 * bars),
      pitchBalance,
      densityBalance,
      markovOrder: intOption(values, 'markov-order', MARKOV_DEFAULT_ORDER),
    };
    await selectBackend(backendOption(values), io.err);
    const report = await judge(opts, {
      log: io.err,
      progress: (total) => progress('judge', total, { tty: io.tty, err: io.err }),
    });
    if (values.json) io.out(JSON.stringify(report));
    else for (const line of formatReport(report)) io.out(line);
    return 0;
  },
};
