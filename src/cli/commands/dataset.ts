import { AntiphonError } from '../../errors.ts';
import { FAMILIES, FAMILY_SIZES } from '../../engine/vocab.ts';
import { buildDataset } from '../../trainer/dataset-build.ts';
import type { Command } from '../command.ts';
import { POOL_OPTIONS, poolHelp, poolOptions } from '../pool-options.ts';
import { progress, type Progress } from '../progress.ts';

export const datasetBuild: Command = {
  name: 'dataset build',
  summary: 'Tokenize folders of MIDI into cached token arrays for the trainer.',
  usage: 'dataset build --data DIR [--data DIR ...] --out DIR [--json]',
  help: [
    '  --data DIR          a folder of MIDI files, searched recursively (repeatable)',
    '  --out DIR           where tokens.u8 and index.json are written',
    '  --json              print the statistics as one JSON object',
    poolHelp(),
  ].join('\n'),
  options: { data: { type: 'string', multiple: true }, out: { type: 'string' }, json: { type: 'boolean' }, ...POOL_OPTIONS },
  async run(values, positionals, io) {
    const data = (values.data as string[] | undefined) ?? [];
    if (positionals.length) throw new AntiphonError('E_USAGE', `unexpected argument "${positionals[0]}"; pass folders with --data`);
    if (!data.length || !values.out) throw new AntiphonError('E_USAGE', 'dataset build needs --data DIR and --out DIR (see antiphon dataset build --help)');
    let bar: Progress | undefined;
    const { stats, index } = await buildDataset({
      data,
      out: values.out as string,
      reader: poolOptions(values),
      onListed: (n) => (bar = progress('dataset', n, { tty: io.tty, err: io.err })),
      onFile: (file, error) => {
        if (error) io.err(`skipped ${file}: ${error.code}: ${error.message}`);
        bar?.tick();
      },
    });
    bar?.stop();
    if (values.json) {
      io.out(JSON.stringify({ out: values.out, ...stats, skippedFiles: index.skipped }));
      return 0;
    }
    io.out(`${stats.songs} songs, ${stats.words} words, ${stats.notes} notes, ${stats.skipped} files skipped -> ${String(values.out)}`);
    for (const f of FAMILIES) {
      const counts = stats.familyCounts[f];
      const used = counts.slice(0, FAMILY_SIZES[f]);
      const top = used.map((c, v) => [v, c]).filter(([, c]) => c > 0).sort((a, b) => b[1] - a[1]).slice(0, 8);
      io.out(`  ${f.padEnd(9)} ${used.filter((c) => c > 0).length}/${FAMILY_SIZES[f]} values used; most common: ${top.map(([v, c]) => `${v}:${c}`).join(' ')}; unused in ${counts[FAMILY_SIZES[f]]} words`);
    }
    return 0;
  },
};
