import { selectBackend } from '../../engine/backend.ts';
import { loadModel } from '../../engine/model/checkpoint.ts';
import { AntiphonError, isAntiphonError } from '../../errors.ts';
import { listMidiFiles, MidiReaderPool } from '../../io/midi-pool.ts';
import { tokenizeMany } from '../../io/midi-tokens.ts';
import { emptyTotals, evaluateSong, summarizeEval } from '../../trainer/evaluate.ts';
import { backendOption, intOption, type Command } from '../command.ts';
import { POOL_OPTIONS, poolHelp, poolOptions } from '../pool-options.ts';
import { progress } from '../progress.ts';

export const evalCommand: Command = {
  name: 'eval',
  summary: "Measure a model's NLL per word and per-family accuracy on MIDI files.",
  usage: 'eval --model DIR --data PATH [--data PATH ...] [--json]',
  help: [
    '  --model DIR         a model folder written by antiphon train',
    '  --data PATH         a MIDI file or folder (repeatable)',
    "  --window N          words per window (default: the model's context)",
    '  --backend B         auto | tensorflow | wasm | cpu (default auto)',
    '  --json              print { "words", "nllPerWord", "families": { name: { "nll", "accuracy" } }, "skipped" }',
    poolHelp(),
  ].join('\n'),
  options: { model: { type: 'string' }, data: { type: 'string', multiple: true }, window: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, ...POOL_OPTIONS },
  async run(values, positionals, io) {
    const data = (values.data as string[] | undefined) ?? [];
    if (positionals.length || !data.length || !values.model) throw new AntiphonError('E_USAGE', 'eval needs --model DIR and --data PATH (see antiphon eval --help)');
    const backend = backendOption(values);
    await selectBackend(backend, io.err);
    const { model } = await loadModel(values.model as string);
    const pool = new MidiReaderPool(poolOptions(values));
    const skipped: Array<{ file: string; code: string; message: string }> = [];
    const totals = emptyTotals();
    try {
      const window = intOption(values, 'window', model.config.contextLength);
      if (window > model.config.contextLength) throw new AntiphonError('E_USAGE', `--window ${window} is larger than the model's context ${model.config.contextLength}`);
      const files = (await Promise.all(data.map((p) => listMidiFiles(p)))).flat();
      const bar = progress('eval', files.length, { tty: io.tty, err: io.err });
      const tokenized = await tokenizeMany(pool, files, { requireNotes: true });
      for (const [i, t] of tokenized.entries()) {
        if (isAntiphonError(t)) {
          skipped.push({ file: files[i], code: t.code, message: t.message });
          io.err(`skipped ${files[i]}: ${t.code}: ${t.message}`);
        } else {
          evaluateSong(model, t.words, totals, window);
        }
        bar.tick();
      }
      bar.stop();
    } finally {
      await pool.dispose();
      model.dispose();
    }
    const summary = { ...summarizeEval(totals), skipped };
    if (values.json) io.out(JSON.stringify(summary));
    else {
      io.out(`${summary.words} words: ${summary.nllPerWord.toFixed(4)} nats per word`);
      for (const [f, v] of Object.entries(summary.families)) io.out(`  ${f.padEnd(9)} nll ${v.nll.toFixed(4)}  accuracy ${(100 * v.accuracy).toFixed(1)}%`);
    }
    return summary.words > 0 ? 0 : 1;
  },
};
