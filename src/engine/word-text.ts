// Compound words as a musician reads them, for `antiphon tokenize` without --json.

import {
  BAR, CONTI, DURATION_STEPS, F, TYPE, chordName, tokenToBeat, tokenToPitch, tokenToTempo, tokenToVelocity, type Word,
} from './vocab.ts';

const NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
export const pitchName = (midi: number): string => `${NAMES[midi % 12]}${Math.floor(midi / 12) - 1}`;

export function describeWord(w: Word): string {
  switch (w[F.type]) {
    case TYPE.EOS:
      return 'EOS';
    case TYPE.METRICAL: {
      if (w[F.barBeat] === BAR) return 'Bar';
      const parts = [`Beat ${tokenToBeat(w[F.barBeat])}`];
      if (w[F.tempo] !== CONTI) parts.push(`tempo ${tokenToTempo(w[F.tempo])}`);
      if (w[F.chord] !== CONTI) parts.push(`chord ${chordName(w[F.chord])}`);
      return parts.join('  ');
    }
    default:
      return `  Note ${pitchName(tokenToPitch(w[F.pitch]))}  dur ${DURATION_STEPS[w[F.duration]]}/16  vel ${tokenToVelocity(w[F.velocity])}`;
  }
}
