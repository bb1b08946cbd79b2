// A parsed MIDI file -> one merged piano Performance at TICKS_PER_BEAT.
// Tracks merge; percussion is dropped; the sustain pedal of each channel lengthens that channel's
// notes to the pedal's release. With a BeatTrack (POP909), time comes from the beat annotations
// instead of the file's tempo map, so notes land on the song's real beats.

import type { ParsedMidi, RawControl } from './midi-types.ts';
import type { BeatTrack } from './beat-track.ts';
import { secondsToBeat } from './beat-track.ts';
import type { Performance, PerfNote, TempoPoint } from '../engine/score.ts';
import { TICKS_PER_BEAT } from '../engine/vocab.ts';

const SUSTAIN = 64;

/** Pedal-down intervals [down, up) of one channel, in file ticks; only presses that are released count. */
function sustainIntervals(pedals: RawControl[], channel: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let down = -1;
  const events = pedals.filter((p) => p.controller === SUSTAIN && p.channel === channel).sort((a, b) => a.ticks - b.ticks);
  for (const p of events) {
    if (p.value >= 64 && down < 0) down = p.ticks;
    else if (p.value < 64 && down >= 0) {
      out.push([down, p.ticks]);
      down = -1;
    }
  }
  // A press that never lifts is ignored: in POP909 such lone CC64 values (73, 81) are
  // controller artefacts, and honouring them would stretch every later note to the song's end.
  return out;
}

/** The note's end after the pedal: if the key is released while the pedal is down, the note lasts until the pedal lifts. */
function pedalEnd(end: number, intervals: Array<[number, number]>): number {
  for (const [d, u] of intervals) if (d <= end && end < u) return u;
  return end;
}

/** Seconds at each file tick, from the file's tempo map. */
function tickToSecondsFn(midi: ParsedMidi): (tick: number) => number {
  const tempos = midi.tempos.length ? [...midi.tempos].sort((a, b) => a.ticks - b.ticks) : [{ ticks: 0, bpm: 120 }];
  const starts: number[] = [];
  let acc = 0;
  for (let i = 0; i < tempos.length; i++) {
    if (i > 0) acc += ((tempos[i].ticks - tempos[i - 1].ticks) / midi.ppq) * (60 / tempos[i - 1].bpm);
    starts.push(acc);
  }
  return (tick) => {
    let i = 0;
    while (i + 1 < tempos.length && tempos[i + 1].ticks <= tick) i++;
    const base = tick < tempos[0].ticks ? 0 : starts[i];
    const from = tick < tempos[0].ticks ? 0 : tempos[i].ticks;
    return base + ((tick - from) / midi.ppq) * (60 / tempos[i].bpm);
  };
}

export function performanceFromMidi(midi: ParsedMidi, beats?: BeatTrack): Performance {
  let toTick: (fileTick: number) => number;
  let tempos: TempoPoint[];
  if (beats) {
    const seconds = tickToSecondsFn(midi);
    toTick = (t) => (secondsToBeat(beats, seconds(t)) - beats.phase) * TICKS_PER_BEAT;
    tempos = beats.times.slice(0, -1).map((t, i) => ({
      tick: (i - beats.phase) * TICKS_PER_BEAT,
      bpm: 60 / (beats.times[i + 1] - t),
    }));
  } else {
    const scale = TICKS_PER_BEAT / midi.ppq;
    toTick = (t) => t * scale;
    tempos = [...midi.tempos].sort((a, b) => a.ticks - b.ticks).map((t) => ({ tick: t.ticks * scale, bpm: t.bpm }));
  }

  const notes: PerfNote[] = [];
  for (const track of midi.tracks) {
    if (track.percussion) continue;
    const pedalsByChannel = new Map<number, Array<[number, number]>>();
    for (const n of track.notes) {
      let iv = pedalsByChannel.get(n.channel);
      if (!iv) pedalsByChannel.set(n.channel, (iv = sustainIntervals(track.pedals, n.channel)));
      const start = toTick(n.ticks);
      const end = toTick(pedalEnd(n.ticks + n.durationTicks, iv));
      notes.push({ tick: start, dur: Math.max(1e-6, end - start), pitch: n.midi, velocity: Math.max(1, n.velocity) });
    }
  }
  notes.sort((a, b) => a.tick - b.tick || a.pitch - b.pitch);
  return { notes, tempos };
}
