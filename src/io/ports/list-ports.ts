// What `antiphon ports` shows: the names --midi-in and --midi-out match against.

import { createEasymidiBackend } from './easymidi-backend.ts';
import type { MidiSystem } from './load-easymidi.ts';
import type { MidiBackend } from './types.ts';

export interface PortList {
  inputs: string[];
  outputs: string[];
}

/** Throws E_MIDI_PORT_UNAVAILABLE when the machine has no MIDI system. */
export async function listMidiPorts(backend?: MidiBackend, system?: MidiSystem): Promise<PortList> {
  const midi = backend ?? (await createEasymidiBackend({ system }));
  return { inputs: midi.listInputs(), outputs: midi.listOutputs() };
}
