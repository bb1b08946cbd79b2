import { selectBackend } from '../../engine/backend.ts';
import { continueWords, firstBars } from '../../engine/continue.ts';
import { decodedToPerformance, decodeWords } from '../../engine/encode.ts';
import { loadModel } from '../../engine/model/checkpoint.ts';
import { Sampler } from '../../engine/sampler/sampler.ts';
import { resolveSampling, type SamplerSettingsInput } from '../../engine/sampler/settings.ts';
import { FAMILY_FLAG_HELP, FAMILY_FLAG_OPTIONS, densityBalanceFlag, familyFlags, pitchBalanceFlag } from '../family-flags.ts';
import type { PerfNote } from '../../engine/score.ts';
import { BAR, F, TICKS_PER_BEAT, TYPE } from '../../engine/vocab.ts';
import { AntiphonError } from '../../errors.ts';
import { MidiReaderPool } from '../../io/midi-pool.ts';
import { tokenizeFile } from '../../io/midi-tokens.ts';
import { writeMidiFile } from '../../io/midi-write.ts';
import { backendOption, intOption, type Command } from '../command.ts';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Continue a MIDI file offline with a trained model and write the result as MIDI.',
  usage: 'generate --model DIR --primer FILE.mid --out OUT.mid [--primer-bars N] [--bars M] [--seed S]',
  help: [
    '  --model DIR             a model folder written by antiphon train',
    '  --primer FILE           the MIDI file to continue',
    '  --primer-bars N         bars of the primer to keep (default 4)',
    '  --bars M                bars to add (default 8)',
    '  --seed S                sampling seed (default 1); the same seed gives the same music',
    FAMILY_FLAG_HELP,
    '  --max-words N           stop after N sampled words whatever the bar count (default 4096)',
    '  --out FILE              the MIDI file to write: track 1 the primer, track 2 the continuation',
    '  --backend B             auto | tensorflow | wasm | cpu (default auto)',
    '  --json                  print { "out", "primerWords", "words", "notes", "bars" }',
  ].join('\n'),
  options: {
    model: { type: 'string' }, primer: { type: 'string' }, out: { type: 'string' },
    'primer-bars': { type: 'string' }, bars: { type: 'string' }, seed: { type: 'string' },
    ...FAMILY_FLAG_OPTIONS,
    'max-words': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
  },
  async run(values, positionals, io) {
    if (positionals.length || !values.model || !values.primer || !values.out) {
      throw new AntiphonError('E_USAGE', 'generate needs --model DIR, --primer FILE and --out FILE (see antiphon generate --help)');
    }
    const settings = familyFlags(values);
    resolveSampling(settings); // a bad value fails before anything loads
    const seed = intOption(values, 'seed', 1, 0);
    const primerBars = intOption(values, 'primer-bars', 4);
    const bars = intOption(values, 'bars', 8);
    const maxWords = intOption(values, 'max-words', 4096);
    const pitchBalance = pitchBalanceFlag(values);
    const densityBalance = densityBalanceFlag(values);
    const backend = backendOption(values);

    const pool = new MidiReaderPool({ workers: 1 });
    let primer;
    try {
      primer = firstBars((await tokenizeFile(pool, values.primer as string)).words, primerBars);
    } finally {
      await pool.dispose();
    }
    if (primer.length === 0) throw new AntiphonError('E_MIDI_EMPTY', `${String(values.primer)}: no piano notes to continue`, { file: values.primer as string });

    await selectBackend(backend, io.err);
    const { model, card } = await loadModel(values.model as string);
    // The flags sit over the model card's sampling defaults.
    const sampler = new Sampler({ seed, settings: resolveSampling(settings, resolveSampling(card.sampling as SamplerSettingsInput | undefined)) });
    let added;
    try {
      added = continueWords(model, primer, sampler, { bars, maxWords, pitchBalance, densityBalance });
    } finally {
      model.dispose();
    }
    const whole = decodedToPerformance(decodeWords([...primer, ...added]));
    const primerNotes = decodeWords(primer).notes.length;
    const toWrite = (notes: PerfNote[]) => notes.map((n) => ({ ticks: Math.round(n.tick), durationTicks: Math.round(n.dur), midi: n.pitch, velocity: n.velocity }));
    await writeMidiFile(values.out as string, {
      ppq: TICKS_PER_BEAT,
      tempos: whole.tempos.map((t) => ({ ticks: t.tick, bpm: t.bpm })),
      tracks: [
        { name: 'primer', channel: 0, notes: toWrite(whole.notes.slice(0, primerNotes)) },
        { name: 'antiphon', channel: 1, notes: toWrite(whole.notes.slice(primerNotes)) },
      ],
    });
    const barsAdded = added.filter((w) => w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR).length;
    const summary = { out: values.out, primerWords: primer.length, words: added.length, notes: whole.notes.length - primerNotes, bars: barsAdded };
    if (values.json) io.out(JSON.stringify(summary));
    else io.out(`wrote ${String(values.out)}: ${primer.length} primer words, ${added.length} new words, ${summary.notes} new notes over ${barsAdded} new bars`);
    return 0;
  },
};
