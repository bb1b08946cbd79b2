import { roundTripScore } from '../../engine/roundtrip.ts';
import { isAntiphonError } from '../../errors.ts';
import { listMidiFiles, MidiReaderPool } from '../../io/midi-pool.ts';
import { tokenizeMany } from '../../io/midi-tokens.ts';
import { AntiphonError } from '../../errors.ts';
import type { Command } from '../command.ts';
import { POOL_OPTIONS, poolHelp, poolOptions } from '../pool-options.ts';
import { progress } from '../progress.ts';

interface Failure {
  file: string;
  code: string;
  message: string;
}

export const roundtrip: Command = {
  name: 'roundtrip',
  summary: 'Encode MIDI files to compound words and decode them back; count the quantized notes that survive.',
  usage: 'roundtrip PATH... [--json]',
  help: [
    '  PATH                MIDI files or folders (searched recursively for .mid/.midi)',
    '  --json              print one JSON object: files, ok, failed[], notesIn, notesOut, notesLost, quantization',
    poolHelp(),
  ].join('\n'),
  options: { json: { type: 'boolean' }, ...POOL_OPTIONS },
  async run(values, positionals, io) {
    if (positionals.length === 0) throw new AntiphonError('E_USAGE', 'roundtrip needs at least one file or folder (see antiphon roundtrip --help)');
    const files = (await Promise.all(positionals.map((p) => listMidiFiles(p)))).flat();
    const pool = new MidiReaderPool(poolOptions(values));
    const failed: Failure[] = [];
    const totals = { notesIn: 0, notesOut: 0, notesLost: 0, words: 0 };
    const q = { notesRaw: 0, merged: 0, folded: 0, clamped: 0, offGrid: 0, onsetShiftSteps: 0 };
    let ok = 0;
    const bar = progress('roundtrip', files.length, { tty: io.tty, err: io.err });
    try {
      await tokenizeMany(pool, files, {
        onEach(file, t) {
          bar.tick();
          if (isAntiphonError(t)) {
            failed.push({ file, code: t.code, message: t.message });
            return;
          }
          const r = roundTripScore(t.score, t.words);
          totals.notesIn += r.notesIn;
          totals.notesOut += r.notesOut;
          totals.notesLost += r.notesLost;
          totals.words += r.words;
          for (const k of Object.keys(q) as Array<keyof typeof q>) q[k] += t.stats[k];
          ok++;
        },
      });
    } finally {
      bar.stop();
      await pool.dispose();
    }
    const quantization = {
      notesRaw: q.notesRaw,
      merged: q.merged,
      folded: q.folded,
      clamped: q.clamped,
      offGridPercent: q.notesRaw ? +((100 * q.offGrid) / q.notesRaw).toFixed(3) : 0,
      meanOnsetShiftSteps: q.notesRaw ? +(q.onsetShiftSteps / q.notesRaw).toFixed(4) : 0,
    };
    const report = { files: files.length, ok, failed, ...totals, quantization };
    if (values.json) io.out(JSON.stringify(report));
    else {
      const pct = totals.notesIn ? ((100 * totals.notesLost) / totals.notesIn).toFixed(3) : '0';
      io.out(`${ok}/${files.length} files round-tripped; ${totals.notesLost} of ${totals.notesIn} quantized notes lost (${pct}%), ${totals.words} words`);
      io.out(`quantization: ${q.notesRaw} notes read, ${q.merged} merged, ${q.folded} folded into range, ${q.clamped} shortened to 4 bars, ${quantization.offGridPercent}% off the sixteenth grid, mean onset shift ${quantization.meanOnsetShiftSteps} steps`);
      for (const f of failed) io.out(`failed: ${f.file}: ${f.code}: ${f.message}`);
    }
    return failed.length === files.length && files.length > 0 ? 1 : 0;
  },
};
