import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { parseBeatTrack, secondsToBeat } from '../src/io/beat-track.ts';
import { MidiReaderPool } from '../src/io/midi-pool.ts';
import { tokenizeFile, tokenizeParsed } from '../src/io/midi-tokens.ts';
import { parseMidiBytes } from '../src/io/midi-read.ts';
import { POP909 } from './helpers/data.ts';
import { smf, on, off, meter, tempo } from './helpers/midi-bytes.ts';
import { BAR, F, TYPE } from '../src/engine/vocab.ts';
import { decodeWords } from '../src/engine/encode.ts';

test('beat annotations: 2-beat meters phase on every other downbeat, 3-beat meters on their own', () => {
  const two = parseBeatTrack('0.5 0.0 0.0\n1.0 1.0 0.0\n1.5 0.0 0.0\n2.0 1.0 1.0\n2.5 0.0 0.0\n', 'a');
  assert.is(two.meterBeats, 2);
  assert.is(two.phase, 3);
  const three = parseBeatTrack('0.3 0.0 0.0\n0.9 1.0 1.0\n1.5 0.0 0.0\n2.1 0.0 0.0\n2.7 1.0 0.0\n', 'b');
  assert.is(three.meterBeats, 3);
  assert.is(three.phase, 1);
  assert.is(secondsToBeat(two, 0.75), 0.5);
  assert.is(secondsToBeat(two, 0), -1, 'before the first beat the first beat length extends');
  assert.is(secondsToBeat(two, 3), 5);
});

test('bad beat files give E_POP909_BEATS', () => {
  for (const bad of ['', '1.0 1.0', '1.0 0 0\n0.5 0 0\n', 'x y z\n1 2 3\n']) {
    try {
      parseBeatTrack(bad, 'beat_midi.txt');
      assert.unreachable('should throw');
    } catch (e) {
      assert.is((e as { code: string }).code, 'E_POP909_BEATS');
    }
  }
});

test('POP909: the beat file puts notes on the grid (few off-grid onsets) and sets the tempo', async () => {
  const pool = new MidiReaderPool({ workers: 1 });
  try {
    for (const id of ['001', '034']) {
      const t = await tokenizeFile(pool, join(POP909, id, `${id}.mid`));
      assert.is(t.grid, 'beat-annotations');
      assert.ok(t.stats.offGrid / t.stats.notesRaw < 0.08, `${id}: ${t.stats.offGrid} of ${t.stats.notesRaw} off the grid`);
      const firstTempo = t.words.find((w) => w[F.type] === TYPE.METRICAL && w[F.tempo] > 0)!;
      assert.ok(firstTempo, 'a tempo is given');
    }
    // Song 001's beats are 0.667 s apart: 90 BPM, the bin at 89.
    const t = await tokenizeFile(pool, join(POP909, '001', '001.mid'));
    assert.ok(t.stats.merged > 0, 'the doubled melody merges into the accompaniment');
    const bpm = 32 + 3 * (t.words.find((w) => w[F.type] === TYPE.METRICAL && w[F.tempo] > 0)![F.tempo] - 1);
    assert.ok(Math.abs(bpm - 90) <= 1.5, `tempo ${bpm}`);
  } finally {
    await pool.dispose();
  }
});

test('a 3/4 file is tokenized in four-beat bars and keeps every note', () => {
  // Twelve quarter notes in 3/4: four 3/4 bars, three token bars.
  const ev = [meter(0, 3, 2), tempo(0, 500000)];
  for (let i = 0; i < 12; i++) ev.push(on(0, 60 + i, 80), off(480, 60 + i));
  const parsed = parseMidiBytes(smf([ev]), 'waltz.mid');
  const t = tokenizeParsed(parsed);
  const bars = t.words.filter((w) => w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR).length;
  assert.is(bars, 3);
  const back = decodeWords(t.words).notes;
  assert.equal(back.map((n) => n.step), Array.from({ length: 12 }, (_, i) => i * 4));
});

test.run();
