// MidiBackend over easymidi 3.2.0. Inputs read raw bytes from the native input underneath
// easymidi's Input (easymidi parses SysEx with a bug and passes clock through, so its parsed
// events are not used); outputs go through easymidi's public send(). RtMidi never says a device
// went away, so hardware ports are watched by polling the port list.

import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { AntiphonError } from '../../errors.ts';
import type { ListenerHost } from './guard.ts';
import { loadEasymidi, nodeMidiSystem, type EasymidiModule, type MidiSystem } from './load-easymidi.ts';
import { NativeInputPort, NativeOutputPort } from './native-port.ts';
import { stderrLogger, type MidiBackend, type MidiInputPort, type MidiOutputPort, type PortLogger } from './types.ts';

export interface EasymidiBackendOptions {
  logger?: PortLogger;
  /** How often a hardware port checks that its device is still listed, in ms; 0 never. Default 2000. */
  unplugPollMs?: number;
  /** Runs the unplug polls. Default asyncScheduler. */
  scheduler?: SchedulerLike;
  system?: MidiSystem;
}

export const EASYMIDI_DEFAULTS = { unplugPollMs: 2000 } as const;

interface NativeInput extends ListenerHost {
  ignoreTypes(sysex: boolean, timing: boolean, activeSensing: boolean): void;
}

const isNativeInput = (x: unknown): x is NativeInput =>
  typeof x === 'object' && x !== null && ['listeners', 'removeListener', 'on', 'ignoreTypes'].every((k) => typeof (x as Record<string, unknown>)[k] === 'function');

/** Raw channel-voice and real-time bytes as the easymidi send() call that produces them. */
export function easymidiMessage(bytes: readonly number[]): [string, Record<string, number>?] {
  const [status = -1, d1 = 0, d2 = 0] = bytes;
  const channel = status & 0x0f;
  switch (status & 0xf0) {
    case 0x80: return ['noteoff', { note: d1, velocity: d2, channel }];
    case 0x90: return ['noteon', { note: d1, velocity: d2, channel }];
    case 0xa0: return ['poly aftertouch', { note: d1, pressure: d2, channel }];
    case 0xb0: return ['cc', { controller: d1, value: d2, channel }];
    case 0xc0: return ['program', { number: d1, channel }];
    case 0xd0: return ['channel aftertouch', { pressure: d1, channel }];
    case 0xe0: return ['pitch', { value: d1 + d2 * 128, channel }];
  }
  const realtime: Record<number, string> = { 0xf8: 'clock', 0xfa: 'start', 0xfb: 'continue', 0xfc: 'stop' };
  if (realtime[status]) return [realtime[status]];
  throw new AntiphonError('E_MIDI_PORT_FAILED', `cannot send MIDI message [${bytes.join(', ')}] through easymidi`);
}

function failed(kind: string, name: string, e: unknown): AntiphonError {
  return new AntiphonError('E_MIDI_PORT_FAILED', `could not open the MIDI ${kind} "${name}": ${(e as Error)?.message ?? String(e)}. Another program may hold it; close it and try again`, { cause: e });
}

/** Loads easymidi (E_MIDI_PORT_UNAVAILABLE when there is no MIDI system) and wraps it. */
export async function createEasymidiBackend(options: EasymidiBackendOptions = {}): Promise<MidiBackend> {
  const midi = await loadEasymidi(options.system ?? nodeMidiSystem);
  return new EasymidiBackend(midi, options);
}

class EasymidiBackend implements MidiBackend {
  private readonly logger: PortLogger;
  private readonly pollMs: number;
  private readonly scheduler: SchedulerLike;

  constructor(private readonly midi: EasymidiModule, options: EasymidiBackendOptions) {
    this.logger = options.logger ?? stderrLogger;
    this.pollMs = options.unplugPollMs ?? EASYMIDI_DEFAULTS.unplugPollMs;
    this.scheduler = options.scheduler ?? asyncScheduler;
  }

  listInputs(): string[] {
    return this.midi.getInputs();
  }

  listOutputs(): string[] {
    return this.midi.getOutputs();
  }

  openInput(name: string, { virtual }: { virtual: boolean }): MidiInputPort {
    let input;
    try {
      input = new this.midi.Input(name, virtual);
    } catch (e) {
      throw failed('input', name, e);
    }
    const native = input._input;
    if (!isNativeInput(native)) {
      input.close();
      throw new AntiphonError('E_MIDI_PORT_FAILED', `easymidi's Input changed shape (no native input with 'message' events); Antiphon supports easymidi 3.2.x`);
    }
    // RtMidi drops SysEx and active sensing itself; clock (timing) is kept for tempo following.
    native.ignoreTypes(true, false, true);
    const port = new NativeInputPort({ name, virtual, native, closeNative: () => input.close(), logger: this.logger });
    if (!virtual) this.watch(port, () => this.listInputs());
    return port;
  }

  openOutput(name: string, { virtual }: { virtual: boolean }): MidiOutputPort {
    let output: InstanceType<EasymidiModule['Output']>;
    try {
      output = new this.midi.Output(name, virtual);
    } catch (e) {
      throw failed('output', name, e);
    }
    const port = new NativeOutputPort({
      name,
      virtual,
      sendNative: (bytes) => output.send(...easymidiMessage(bytes)),
      closeNative: () => output.close(),
      logger: this.logger,
    });
    if (!virtual) this.watch(port, () => this.listOutputs());
    return port;
  }

  private watch(port: NativeInputPort | NativeOutputPort, list: () => string[]): void {
    if (this.pollMs <= 0) return;
    const { logger, pollMs } = this;
    const task: Subscription = this.scheduler.schedule(function (this: SchedulerAction<void>) {
      try {
        if (!list().includes(port.name)) {
          logger.warn(`${port.name}: the MIDI device was unplugged`);
          port.lost('unplugged');
          return;
        }
      } catch (e) {
        port.lost('failed', e);
        return;
      }
      this.schedule(undefined, pollMs);
    }, pollMs);
    port.closed$.subscribe(() => task.unsubscribe());
  }
}
