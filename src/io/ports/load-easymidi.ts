// easymidi loads a native module (RtMidi) that, on a machine without an ALSA sequencer, fails
// every call and prints ALSA errors to stderr. So it is imported only when ports are asked for,
// and on Linux /dev/snd/seq is checked first so a machine without MIDI gets one clear message
// instead of ALSA noise. The browser side of the server never comes through here.

import { existsSync } from 'node:fs';
import { AntiphonError } from '../../errors.ts';

/** The part of easymidi 3.2.0 Antiphon uses. */
export interface EasymidiModule {
  getInputs(): string[];
  getOutputs(): string[];
  Input: new (name: string, virtual?: boolean) => EasymidiInput;
  Output: new (name: string, virtual?: boolean) => EasymidiOutput;
}
export interface EasymidiInput {
  close(): void;
  /** Not public API: the @julusian/midi input whose 'message' events carry the raw bytes. */
  _input?: unknown;
}
export interface EasymidiOutput {
  close(): void;
  send(type: string, args?: unknown): void;
}

/** What the loader looks at; tests replace it to walk the failure paths on any machine. */
export interface MidiSystem {
  platform: NodeJS.Platform;
  hasAlsaSequencer(): boolean;
  importEasymidi(): Promise<EasymidiModule>;
}

export const ALSA_SEQ_DEVICE = '/dev/snd/seq';

export const nodeMidiSystem: MidiSystem = {
  platform: process.platform,
  hasAlsaSequencer: () => existsSync(ALSA_SEQ_DEVICE),
  importEasymidi: async () => {
    const mod = (await import('easymidi')) as unknown as EasymidiModule & { default?: EasymidiModule };
    return mod.default ?? mod;
  },
};

const BROWSER_STILL_WORKS = 'The browser client does not need MIDI ports and still works (antiphon serve without --midi-in, --midi-out or --virtual).';

function unavailable(what: string, cause?: unknown): AntiphonError {
  return new AntiphonError(
    'E_MIDI_PORT_UNAVAILABLE',
    `MIDI ports are unavailable: ${what}. To fix it, load the ALSA sequencer with \`sudo modprobe snd-seq\` ` +
      '(add snd-seq to /etc/modules-load.d/ to keep it after a reboot), or in a container pass the device in ' +
      `(docker run --device /dev/snd), or run Antiphon on a machine with sound hardware. ${BROWSER_STILL_WORKS}`,
    cause === undefined ? {} : { cause },
  );
}

let loaded: Promise<EasymidiModule> | undefined;

/**
 * easymidi, ready to use, or E_MIDI_PORT_UNAVAILABLE saying what is missing. A failure is not
 * remembered, so a server can try again after `modprobe snd-seq`.
 */
export async function loadEasymidi(system: MidiSystem = nodeMidiSystem): Promise<EasymidiModule> {
  if (system.platform === 'linux' && !system.hasAlsaSequencer()) {
    throw unavailable(`this machine has no ALSA sequencer (${ALSA_SEQ_DEVICE} does not exist), so RtMidi cannot start`);
  }
  if (system === nodeMidiSystem && loaded) return loaded;
  const attempt = (async () => {
    let mod: EasymidiModule;
    try {
      mod = await system.importEasymidi();
    } catch (e) {
      throw unavailable(`the native MIDI module (@julusian/midi) failed to load: ${(e as Error)?.message ?? String(e)}. On Linux it needs libasound2 (sudo apt install libasound2)`, e);
    }
    try {
      mod.getInputs(); // RtMidi starts here; "Failed to initialise RtMidi" when there is no MIDI system
    } catch (e) {
      throw unavailable(`RtMidi could not start (${(e as Error)?.message ?? String(e)}); the MIDI system (ALSA sequencer on Linux) is missing, or your user cannot open it (on Linux, join the audio group: sudo usermod -aG audio $USER, then log in again)`, e);
    }
    return mod;
  })();
  if (system === nodeMidiSystem) {
    loaded = attempt;
    attempt.catch(() => {
      if (loaded === attempt) loaded = undefined;
    });
  }
  return attempt;
}
