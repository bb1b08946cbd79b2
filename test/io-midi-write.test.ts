// Writing then reading gives back the same integers: ticks, durations, pitches, velocities, tempos.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiphonError } from '../src/errors.ts';
import { readMidiFile } from '../src/io/midi-pool.ts';
import { parseMidiBytes } from '../src/io/midi-read.ts';
import { midiBytes, writeMidiFile, type SongToWrite } from '../src/io/midi-write.ts';

const plain = (notes: Array<{ ticks: number; durationTicks: number; midi: number; velocity: number }>) =>
  notes.map(({ ticks, durationTicks, midi, velocity }) => ({ ticks, durationTicks, midi, velocity }));

test('every velocity 1..127 and pitch 0..127 round-trips exactly', () => {
  const notes = Array.from({ length: 128 }, (_, i) => ({ ticks: i * 7, durationTicks: 1 + (i * 13) % 500, midi: i, velocity: 1 + (i % 127) }));
  const song: SongToWrite = { ppq: 384, tempos: [{ ticks: 0, bpm: 120 }], tracks: [{ name: 'Piano', notes }] };
  const p = parseMidiBytes(midiBytes(song), 'rt.mid');
  assert.is(p.ppq, 384);
  const track = p.tracks.find((t) => t.name === 'Piano')!;
  assert.equal(plain(track.notes), notes);
});

test('tempos (incl. non-integer BPM), meters, channels and adjacent same-pitch notes survive', () => {
  const song: SongToWrite = {
    tempos: [{ ticks: 0, bpm: 60_000_000 / 666_665 }, { ticks: 480, bpm: 60_000_000 / 1_050_000 }, { ticks: 960, bpm: 97 }],
    meters: [{ ticks: 0, numerator: 3, denominator: 4 }, { ticks: 1440, numerator: 6, denominator: 8 }],
    tracks: [
      { name: 'right', channel: 0, notes: [{ ticks: 0, durationTicks: 480, midi: 67, velocity: 80 }, { ticks: 480, durationTicks: 240, midi: 67, velocity: 81 }] },
      { name: 'left', channel: 1, notes: [{ ticks: 0, durationTicks: 960, midi: 43, velocity: 40 }] },
    ],
  };
  const p = parseMidiBytes(midiBytes(song), 'rt2.mid');
  assert.equal(p.tempos.slice(0, 2), song.tempos.slice(0, 2));
  assert.is(Math.round(60_000_000 / p.tempos[2].bpm), Math.round(60_000_000 / 97));
  assert.equal(p.meters, song.meters);
  const right = p.tracks.find((t) => t.name === 'right')!;
  const left = p.tracks.find((t) => t.name === 'left')!;
  assert.equal(plain(right.notes), song.tracks[0].notes);
  assert.equal(plain(left.notes), song.tracks[1].notes);
  assert.ok(left.notes.every((n) => n.channel === 1));
});

test('writeMidiFile writes a file the pool reads back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'antiphon-write-'));
  try {
    const path = join(dir, 'out.mid');
    const notes = [{ ticks: 10, durationTicks: 100, midi: 60, velocity: 127 }, { ticks: 20, durationTicks: 5, midi: 64, velocity: 1 }];
    await writeMidiFile(path, { tempos: [{ ticks: 0, bpm: 100 }], tracks: [{ notes }] });
    const p = await readMidiFile(path);
    assert.equal(plain(p.tracks.flatMap((t) => t.notes)), notes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('values a MIDI file cannot hold are refused with E_MIDI_RANGE', () => {
  const bad = (song: SongToWrite) => assert.throws(() => midiBytes(song, 'bad.mid'), (e: AntiphonError) => e.code === 'E_MIDI_RANGE' && e.message.includes('bad.mid'));
  bad({ tempos: [], tracks: [{ notes: [{ ticks: 0, durationTicks: 1, midi: 60, velocity: 0 }] }] });
  bad({ tempos: [], tracks: [{ notes: [{ ticks: 0, durationTicks: 1, midi: 128, velocity: 10 }] }] });
  bad({ tempos: [], tracks: [{ notes: [{ ticks: 0, durationTicks: 0, midi: 60, velocity: 10 }] }] });
  bad({ tempos: [], tracks: [{ notes: [{ ticks: 0.5, durationTicks: 1, midi: 60, velocity: 10 }] }] });
  bad({ tempos: [], tracks: [{ channel: 16, notes: [] }] });
  bad({ tempos: [{ ticks: 0, bpm: 0 }], tracks: [] });
  bad({ tempos: [], meters: [{ ticks: 0, numerator: 3, denominator: 3 }], tracks: [] });
});

test.run();
