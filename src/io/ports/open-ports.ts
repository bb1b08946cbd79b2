// `--midi-in`, `--midi-out` and `--virtual` to open ports, with every refusal a message a musician
// can act on. Nothing is loaded unless a port is asked for.

import { AntiphonError } from '../../errors.ts';
import { createEasymidiBackend, type EasymidiBackendOptions } from './easymidi-backend.ts';
import { matchPortName } from './match-port.ts';
import type { MidiBackend, MidiInputPort, MidiOutputPort } from './types.ts';

export const DEFAULT_VIRTUAL_NAME = 'Antiphon';

export interface MidiPortsRequest {
  /** --midi-in NAME: an existing input, matched by matchPortName. */
  input?: string;
  /** --midi-out NAME: an existing output. */
  output?: string;
  /**
   * --virtual [NAME]: create "NAME In" and "NAME Out" for a DAW (NAME defaults to "Antiphon").
   * --midi-in/--midi-out, when also given, replace that side with the named hardware port.
   */
  virtual?: string;
  /** Where the backend runs; for tests. Default process.platform. */
  platform?: NodeJS.Platform;
}

export interface OpenedPorts {
  input?: MidiInputPort;
  output?: MidiOutputPort;
}

export const wantsPorts = (r: MidiPortsRequest): boolean => r.input !== undefined || r.output !== undefined || r.virtual !== undefined;

export function virtualUnsupported(): AntiphonError {
  return new AntiphonError(
    'E_VIRTUAL_UNSUPPORTED',
    'Windows has no virtual MIDI ports in RtMidi, so --virtual cannot work here. Install loopMIDI ' +
      '(https://www.tobias-erichsen.de/software/loopmidi.html), create two ports in it, e.g. "Antiphon In" and "Antiphon Out", ' +
      'send your DAW track to "Antiphon In", record from "Antiphon Out", and run antiphon serve --midi-in "Antiphon In" --midi-out "Antiphon Out".',
  );
}

/**
 * Opens what `request` asks for; {} when it asks for nothing (no MIDI module is loaded then).
 * On any failure, ports already opened are closed before the error is thrown.
 */
export async function openMidiPorts(
  request: MidiPortsRequest,
  backend?: MidiBackend | (() => Promise<MidiBackend>),
  backendOptions: EasymidiBackendOptions = {},
): Promise<OpenedPorts> {
  if (!wantsPorts(request)) return {};
  const platform = request.platform ?? process.platform;
  if (request.virtual !== undefined && platform === 'win32') throw virtualUnsupported();
  const midi = typeof backend === 'function' ? await backend() : (backend ?? (await createEasymidiBackend(backendOptions)));
  const base = request.virtual?.trim() || DEFAULT_VIRTUAL_NAME;
  const opened: OpenedPorts = {};
  try {
    if (request.input !== undefined) opened.input = midi.openInput(matchPortName(request.input, midi.listInputs(), 'input'), { virtual: false });
    else if (request.virtual !== undefined) opened.input = midi.openInput(`${base} In`, { virtual: true });
    if (request.output !== undefined) opened.output = midi.openOutput(matchPortName(request.output, midi.listOutputs(), 'output'), { virtual: false });
    else if (request.virtual !== undefined) opened.output = midi.openOutput(`${base} Out`, { virtual: true });
  } catch (e) {
    opened.input?.close();
    opened.output?.close();
    throw e;
  }
  return opened;
}
