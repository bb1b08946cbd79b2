import { FAMILIES } from '../../engine/vocab.ts';
import { describeWord } from '../../engine/word-text.ts';
import { MidiReaderPool } from '../../io/midi-pool.ts';
import { tokenizeFile } from '../../io/midi-tokens.ts';
import { AntiphonError } from '../../errors.ts';
import type { Command } from '../command.ts';
import { POOL_OPTIONS, poolHelp, poolOptions } from '../pool-options.ts';

export const tokenize: Command = {
  name: 'tokenize',
  summary: 'Turn one MIDI file into compound words. A beat_midi.txt beside the file (POP909) sets its beat grid.',
  usage: 'tokenize FILE [--json]',
  help: ['  --json              print { "families": [...], "words": [[...], ...] }; unused families are -1', poolHelp()].join('\n'),
  options: { json: { type: 'boolean' }, ...POOL_OPTIONS },
  async run(values, positionals, io) {
    if (positionals.length !== 1) throw new AntiphonError('E_USAGE', 'tokenize takes exactly one MIDI file (see antiphon tokenize --help)');
    const pool = new MidiReaderPool({ ...poolOptions(values), workers: 1 });
    try {
      const t = await tokenizeFile(pool, positionals[0]);
      if (values.json) {
        io.out(JSON.stringify({ families: FAMILIES, words: t.words }));
      } else {
        for (const w of t.words) io.out(describeWord(w));
        io.err(`${t.file}: ${t.stats.notes} notes, ${t.words.length} words (grid from ${t.grid})`);
      }
      return 0;
    } finally {
      await pool.dispose();
    }
  },
};
