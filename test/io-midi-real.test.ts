// Real corpus files from ../shared/data, read through the worker pool.
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiphonError } from '../src/errors.ts';
import { MidiReaderPool, listMidiFiles, liveWorkerCount } from '../src/io/midi-pool.ts';
import type { ParsedMidi } from '../src/io/midi-types.ts';

const data = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const pool = new MidiReaderPool({ workers: 2 });
test.after(() => pool.dispose());

const noteCount = (p: ParsedMidi) => p.tracks.reduce((n, t) => n + t.notes.length, 0);

test('pop1k7: 480 ppq, a tempo event per beat after a 120 BPM placeholder, 4/4, notes', async () => {
  for (const name of ['src_001/0.mid', 'src_001/1.mid', 'src_001/10.mid']) {
    const p = await pool.read(data + 'pop1k7/' + name);
    assert.is(p.ppq, 480);
    assert.is(p.tempos[0].bpm, 120);
    assert.ok(p.tempos.length > 20, `${name}: ${p.tempos.length} tempos`);
    assert.ok(p.tempos.every((t, i) => i === 0 || t.ticks >= p.tempos[i - 1].ticks), 'tempos sorted');
    assert.ok(p.meters.every((m) => m.numerator === 4 && m.denominator === 4));
    assert.ok(noteCount(p) > 100, `${name}: ${noteCount(p)} notes`);
    assert.ok(p.tracks.every((t) => t.pedals.length === 0 && !t.percussion));
    for (const n of p.tracks.flatMap((t) => t.notes)) {
      assert.ok(n.durationTicks > 0 && n.velocity >= 1 && n.velocity <= 127 && n.ticks + n.durationTicks <= p.endTicks);
    }
  }
});

test('pop909: three named piano tracks with notes', async () => {
  for (const id of ['001', '002', '909']) {
    const p = await pool.read(`${data}pop909/${id}/${id}.mid`);
    assert.is(p.ppq, 480);
    assert.ok(p.tempos.length >= 1);
    const named = p.tracks.filter((t) => t.notes.length > 0).map((t) => t.name);
    assert.equal(named, ['MELODY', 'BRIDGE', 'PIANO']);
    assert.ok(noteCount(p) > 300, `${id}: ${noteCount(p)} notes`);
  }
});

test('readMany over 50 real files with 2 workers returns every result in order', async () => {
  const paths = (await listMidiFiles(data + 'pop909')).slice(0, 50);
  assert.is(paths.length, 50);
  let peak = 0;
  const results = await pool.readMany(paths, () => { peak = Math.max(peak, liveWorkerCount()); });
  results.forEach((r, i) => {
    assert.not.instance(r, AntiphonError, String((r as AntiphonError).message));
    assert.is((r as ParsedMidi).file, paths[i]);
  });
  assert.is(peak, 2, 'both workers were used');
});

test.run();
