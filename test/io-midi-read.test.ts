// parseMidiBytes on hand-built files: pairing rules, track handling, range checks, broken bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiphonError } from '../src/errors.ts';
import { parseMidiBytes } from '../src/io/midi-read.ts';
import { cc, chunk, endOfTrack, ev, header, meter, off, on, smf, tempo, track, trackName } from './helpers/midi-bytes.ts';

function throwsCode(fn: () => unknown, code: string, ...mustMention: string[]): AntiphonError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, AntiphonError);
    const err = e as AntiphonError;
    assert.is(err.code, code, err.message);
    for (const s of mustMention) assert.ok(err.message.includes(s), `"${err.message}" should mention "${s}"`);
    return err;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const strip = (n: object) => JSON.parse(JSON.stringify(n));

test('pairs a plain note and reads ppq, tempo, meter, name', () => {
  const p = parseMidiBytes(smf([[trackName(0, 'Piano'), tempo(0, 500000), meter(0, 3, 2), on(0, 60, 90), off(240, 60)]], 96), 'a.mid');
  assert.is(p.file, 'a.mid');
  assert.is(p.ppq, 96);
  assert.equal(p.tempos, [{ ticks: 0, bpm: 120 }]);
  assert.equal(p.meters, [{ ticks: 0, numerator: 3, denominator: 4 }]);
  assert.is(p.tracks.length, 1);
  assert.is(p.tracks[0].name, 'Piano');
  assert.is(p.tracks[0].percussion, false);
  assert.equal(strip(p.tracks[0].notes), [{ ticks: 0, durationTicks: 240, midi: 60, velocity: 90, channel: 0 }]);
  assert.is(p.endTicks, 240);
});

test('note-on with velocity 0 ends the note', () => {
  const p = parseMidiBytes(smf([[on(0, 64, 100), on(120, 64, 0), on(0, 65, 50), on(60, 65, 0)]]), 'v0.mid');
  assert.equal(p.tracks[0].notes.map((n) => [n.ticks, n.durationTicks, n.midi, n.velocity, n.unterminated ?? false]), [
    [0, 120, 64, 100, false],
    [120, 60, 65, 50, false],
  ]);
});

test('a note with no note-off ends at the track end, flagged unterminated', () => {
  const p = parseMidiBytes(smf([[on(0, 60, 80), on(100, 62, 80), off(50, 62), endOfTrack(850)]]), 'open.mid');
  const [a, b] = p.tracks[0].notes;
  assert.equal([a.ticks, a.durationTicks, a.unterminated], [0, 1000, true]);
  assert.equal([b.ticks, b.durationTicks, b.unterminated], [100, 50, undefined]);
  assert.is(p.endTicks, 1000);
});

test('an unterminated note on the last tick still lasts 1 tick', () => {
  const p = parseMidiBytes(smf([[on(0, 60, 80), on(480, 61, 80)]]), 'late.mid');
  const late = p.tracks[0].notes[1];
  assert.equal([late.ticks, late.durationTicks, late.unterminated], [480, 1, true]);
});

test('re-striking a sounding pitch ends the earlier note there', () => {
  const p = parseMidiBytes(smf([[on(0, 60, 70), on(100, 60, 90), off(200, 60), off(10, 60)]]), 'restrike.mid');
  assert.equal(p.tracks[0].notes.map((n) => [n.ticks, n.durationTicks, n.velocity]), [
    [0, 100, 70],
    [100, 200, 90],
  ]);
});

test('same pitch on two channels does not re-strike', () => {
  const p = parseMidiBytes(smf([[on(0, 60, 70, 0), on(10, 60, 70, 1), off(10, 60, 0), off(10, 60, 1)]]), 'ch.mid');
  assert.equal(p.tracks[0].notes.map((n) => [n.channel, n.ticks, n.durationTicks]), [[0, 0, 20], [1, 10, 20]]);
});

test('zero-length notes become 1 tick long', () => {
  const p = parseMidiBytes(smf([[on(0, 60, 70), off(0, 60), on(0, 60, 70), on(0, 60, 70), off(5, 60)]]), 'zero.mid');
  assert.equal(p.tracks[0].notes.map((n) => [n.ticks, n.durationTicks]), [[0, 1], [0, 1], [0, 5]]);
});

test('several tracks keep their names and notes; endTicks spans all', () => {
  const p = parseMidiBytes(smf([
    [tempo(0, 600000)],
    [trackName(0, 'MELODY'), on(0, 72, 100), off(480, 72)],
    [trackName(0, 'PIANO'), on(0, 48, 60), off(960, 48), on(0, 52, 60), off(960, 52)],
  ]), 'multi.mid');
  assert.equal(p.tracks.map((t) => [t.name, t.notes.length]), [['', 0], ['MELODY', 1], ['PIANO', 2]]);
  assert.is(p.tempos[0].bpm, 100);
  assert.is(p.endTicks, 1920);
});

test('channel 10 is percussion; a mixed format-0 track is split, not dropped', () => {
  const drumsOnly = parseMidiBytes(smf([[on(0, 36, 100, 9), off(10, 36, 9)]]), 'drums.mid');
  assert.is(drumsOnly.tracks[0].percussion, true);
  const mixed = parseMidiBytes(smf([[trackName(0, 'All'), on(0, 36, 100, 9), on(0, 60, 80, 0), off(10, 36, 9), off(0, 60, 0)]]), 'mixed.mid');
  assert.equal(mixed.tracks.map((t) => [t.name, t.percussion, t.notes.map((n) => n.midi)]), [
    ['All', false, [60]],
    ['All (drums)', true, [36]],
  ]);
});

test('keeps only pedal controllers 64, 66 and 67', () => {
  const p = parseMidiBytes(smf([[cc(0, 64, 127), cc(10, 7, 100), cc(10, 66, 0), cc(10, 67, 90), cc(10, 1, 5), on(0, 60, 1), off(1, 60)]]), 'ped.mid');
  assert.equal(p.tracks[0].pedals, [
    { ticks: 0, channel: 0, controller: 64, value: 127 },
    { ticks: 20, channel: 0, controller: 66, value: 0 },
    { ticks: 30, channel: 0, controller: 67, value: 90 },
  ]);
});

test('a file with no notes parses to tracks with no notes', () => {
  const p = parseMidiBytes(smf([[tempo(0, 500000)], []]), 'empty.mid');
  assert.is(p.tracks.length, 2);
  assert.ok(p.tracks.every((t) => t.notes.length === 0));
  assert.is(p.tempos.length, 1);
});

test('controller value 168 is E_MIDI_RANGE naming file, track and tick', () => {
  throwsCode(() => parseMidiBytes(smf([[on(0, 60, 70), cc(30, 64, 168)]]), 'cc168.mid'), 'E_MIDI_RANGE', 'cc168.mid', 'track 1', 'tick 30', '168');
});

test('out-of-range note number, velocity and tempo are E_MIDI_RANGE', () => {
  throwsCode(() => parseMidiBytes(smf([[ev(5, 0x90, 0x85, 0x40)]]), 'note.mid'), 'E_MIDI_RANGE', 'note.mid', 'tick 5', '133');
  throwsCode(() => parseMidiBytes(smf([[], [ev(7, 0x90, 60, 200)]]), 'vel.mid'), 'E_MIDI_RANGE', 'track 2', 'tick 7', 'velocity');
  throwsCode(() => parseMidiBytes(smf([[tempo(0, 0)]]), 'tempo0.mid'), 'E_MIDI_RANGE', 'tempo0.mid', 'tempo');
  throwsCode(() => parseMidiBytes(smf([[tempo(0, 10)]]), 'fast.mid'), 'E_MIDI_RANGE', 'fast.mid', '6000000');
});

test('a zero meter numerator is E_MIDI_RANGE', () => {
  throwsCode(() => parseMidiBytes(smf([[meter(0, 0, 2)]]), 'meter.mid'), 'E_MIDI_RANGE', 'meter.mid', '0/4');
});

test('SMPTE time division is refused', () => {
  const bytes = Uint8Array.from([...chunk('MThd', [0, 0, 0, 1, 0xe7, 0x28]), ...track([on(0, 60, 60), off(1, 60)])]);
  throwsCode(() => parseMidiBytes(bytes, 'smpte.mid'), 'E_MIDI_RANGE', 'smpte.mid', 'SMPTE');
});

test('garbage bytes are E_MIDI_PARSE naming the file', () => {
  throwsCode(() => parseMidiBytes(new TextEncoder().encode('this is not a MIDI file at all'), 'junk.mid'), 'E_MIDI_PARSE', 'junk.mid');
  throwsCode(() => parseMidiBytes(new Uint8Array(0), 'zero.mid'), 'E_MIDI_PARSE', 'zero.mid');
});

test('a truncated file is E_MIDI_PARSE', () => {
  const whole = smf([[on(0, 60, 70), off(100, 60), on(0, 62, 70), off(100, 62)]]);
  throwsCode(() => parseMidiBytes(whole.subarray(0, whole.length - 6), 'cut.mid'), 'E_MIDI_PARSE', 'cut.mid', 'cut short');
  const twoPromised = Uint8Array.from([...header(2), ...track([on(0, 60, 70), off(1, 60)])]);
  throwsCode(() => parseMidiBytes(twoPromised, 'onetrack.mid'), 'E_MIDI_PARSE', 'onetrack.mid', 'promises 2 tracks');
});

test('an event cut short inside a consistent chunk is E_MIDI_PARSE, not a range error', () => {
  const bytes = Uint8Array.from([...header(1), ...chunk('MTrk', [0x00, 0x90, 60])]);
  throwsCode(() => parseMidiBytes(bytes, 'half.mid'), 'E_MIDI_PARSE', 'half.mid', 'cut short');
});

test('an unknown event type is E_MIDI_PARSE', () => {
  const bytes = Uint8Array.from([...header(1), ...chunk('MTrk', [0x00, 0xf5, 0x00])]);
  throwsCode(() => parseMidiBytes(bytes, 'f5.mid'), 'E_MIDI_PARSE', 'f5.mid');
});

test.run();
