// Beat annotations beside a MIDI file (POP909's beat_midi.txt): seconds -> beat positions.
// Each line: time in seconds, then two downbeat flags. In POP909 the first flag marks the
// downbeats of the song's own meter (every 2 or 3 beats) and the second marks every other one
// (every 4 or 6 beats). Bars are tokenized as four beats, so a 2-beat meter uses the second
// flag (one token bar = two 2/4 bars); a 3-beat meter keeps its first downbeat as the phase and
// then counts four-beat bars from it (documented in docs/representation.md).

import { readFile } from 'node:fs/promises';
import { AntiphonError } from '../errors.ts';

export interface BeatTrack {
  /** Beat times in seconds, strictly increasing, at least two. */
  times: number[];
  /** Index of the beat that opens a tokenized bar. */
  phase: number;
  /** Beats per bar of the song's own meter, as the annotations show it. */
  meterBeats: number;
}

export function parseBeatTrack(text: string, file: string): BeatTrack {
  const times: number[] = [];
  const meterFlag: boolean[] = [];
  const pairFlag: boolean[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (!line.trim()) continue;
    const cols = line.trim().split(/\s+/).map(Number);
    if (cols.length < 3 || cols.some((c) => !Number.isFinite(c))) {
      throw new AntiphonError('E_POP909_BEATS', `${file}: line ${i + 1} is not "time flag flag"`, { file });
    }
    if (times.length && cols[0] <= times[times.length - 1]) {
      throw new AntiphonError('E_POP909_BEATS', `${file}: beat times go backwards at line ${i + 1}`, { file });
    }
    times.push(cols[0]);
    meterFlag.push(cols[1] === 1);
    pairFlag.push(cols[2] === 1);
  }
  if (times.length < 2) throw new AntiphonError('E_POP909_BEATS', `${file}: fewer than two beats`, { file });
  const downs = meterFlag.flatMap((f, i) => (f ? [i] : []));
  const meterBeats = downs.length >= 2 ? downs[1] - downs[0] : 4;
  const firstPair = pairFlag.indexOf(true);
  const phase = meterBeats % 2 === 0 && firstPair >= 0 ? firstPair : Math.max(0, downs[0] ?? 0);
  return { times, phase, meterBeats };
}

export async function readBeatTrack(file: string): Promise<BeatTrack> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new AntiphonError('E_FILE_READ', `${file}: cannot read the beat annotations (${(e as Error).message})`, { file, cause: e });
  }
  return parseBeatTrack(text, file);
}

/** Fractional beat index of a time in seconds; outside the annotations the nearest beat length extends it. */
export function secondsToBeat(track: BeatTrack, seconds: number): number {
  const t = track.times;
  const n = t.length;
  if (seconds <= t[0]) return (seconds - t[0]) / (t[1] - t[0]);
  if (seconds >= t[n - 1]) return n - 1 + (seconds - t[n - 1]) / (t[n - 1] - t[n - 2]);
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (t[mid] <= seconds) lo = mid;
    else hi = mid;
  }
  return lo + (seconds - t[lo]) / (t[lo + 1] - t[lo]);
}
