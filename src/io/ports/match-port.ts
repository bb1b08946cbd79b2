// `--midi-in piano` should find "Digital Piano MIDI 1" without the musician typing the ALSA
// client numbers, but never guess between two candidates.

import { AntiphonError } from '../../errors.ts';

const list = (names: string[]) => names.map((n) => JSON.stringify(n)).join(', ');

/**
 * The port `query` names: an exact match, else the only case-insensitive exact match, else the
 * only port whose name contains it (ignoring case). Throws E_MIDI_PORT_NOT_FOUND or
 * E_MIDI_PORT_AMBIGUOUS with the names that exist.
 */
export function matchPortName(query: string, names: string[], kind: 'input' | 'output'): string {
  const flag = kind === 'input' ? '--midi-in' : '--midi-out';
  if (query.trim() === '') throw new AntiphonError('E_USAGE', `${flag} needs a port name (antiphon ports lists them)`);
  if (names.includes(query)) return query;
  const q = query.toLowerCase();
  const same = names.filter((n) => n.toLowerCase() === q);
  if (same.length === 1) return same[0];
  const containing = names.filter((n) => n.toLowerCase().includes(q));
  if (containing.length === 1) return containing[0];
  if (containing.length > 1) {
    throw new AntiphonError(
      'E_MIDI_PORT_AMBIGUOUS',
      `"${query}" matches ${containing.length} MIDI ${kind}s: ${list(containing)}. Give more of the name, e.g. ${flag} ${JSON.stringify(containing[0])}`,
    );
  }
  if (names.length === 0) {
    throw new AntiphonError(
      'E_MIDI_PORT_NOT_FOUND',
      `no MIDI ${kind} matches "${query}": this machine has no MIDI ${kind}s at all. Check that the device is plugged in and switched on, or use --virtual to create ports for a DAW`,
    );
  }
  throw new AntiphonError('E_MIDI_PORT_NOT_FOUND', `no MIDI ${kind} matches "${query}". The MIDI ${kind}s are: ${list(names)}`);
}
