// A duet session's recording as a Standard MIDI File: a conductor track with the session's
// tempo, the person on one track and the AI on another. Milliseconds become ticks at that tempo
// from the session's bar 1, so the file's bar lines are the session's grid.

import type { RecordedNote, Recording } from '../engine/duet/types.ts';
import { midiBytes, type NoteToWrite } from './midi-write.ts';

const PPQ = 480;

export function recordingToMidi(rec: Recording): Uint8Array {
  // Notes played before bar 1 (a pickup) would land at negative ticks; shift the file by whole bars.
  const first = Math.min(rec.originMs, ...rec.person.map((n) => n.startMs), ...rec.ai.map((n) => n.startMs));
  const barMs = (4 * 60000) / rec.bpm;
  const origin = rec.originMs - Math.ceil((rec.originMs - first) / barMs) * barMs;
  const ticks = (ms: number) => Math.max(0, Math.round(((ms - origin) * rec.bpm * PPQ) / 60000));
  const notes = (list: RecordedNote[]): NoteToWrite[] =>
    list.map((n) => {
      const t = ticks(n.startMs);
      return { ticks: t, durationTicks: Math.max(1, ticks(n.endMs) - t), midi: n.note, velocity: Math.min(127, Math.max(1, n.velocity)) };
    });
  return midiBytes(
    {
      ppq: PPQ,
      tempos: [{ ticks: 0, bpm: rec.bpm }],
      meters: [{ ticks: 0, numerator: 4, denominator: 4 }],
      tracks: [
        { name: 'person', channel: rec.person[0]?.channel ?? 0, notes: notes(rec.person) },
        { name: 'antiphon', channel: rec.ai[0]?.channel ?? 0, notes: notes(rec.ai) },
      ],
    },
    'recording',
  );
}
