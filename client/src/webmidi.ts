// WebMIDI: the person's instrument in, the AI's notes out. Devices come and go (hot-plug), the
// pickers follow, and an output that is switched away or lost gets all-notes-off first.

import { noteOffBytes, noteOnBytes, panicBytes, parseMidi, type MidiEvent } from './midi-messages.ts';
import type { AudioAction } from './scheduler.ts';

export interface MidiHandlers {
  /** An event from an input; `source` identifies the device, `time` is on performance.now(). */
  event(ev: MidiEvent, time: number, source: string): void;
  /** A device came or went: the pickers should be redrawn. */
  devicesChanged(): void;
  /** An input vanished: let go of whatever it held. */
  inputLost(source: string): void;
}

export interface DeviceInfo {
  id: string;
  name: string;
}

export class MidiIO {
  readonly supported = typeof navigator !== 'undefined' && typeof navigator.requestMIDIAccess === 'function';
  private access: MIDIAccess | null = null;
  private inputChoice = 'all';
  private outputChoice = 'none';
  private readonly listening = new Map<string, MIDIInput>();
  /** What the AI holds down on the output: key → [channel, note]. */
  private readonly sounding = new Map<number, [number, number]>();

  constructor(private readonly handlers: MidiHandlers) {}

  get enabled(): boolean {
    return this.access !== null;
  }

  /** True if the browser already allows MIDI (no prompt will show). */
  async permitted(): Promise<boolean> {
    try {
      const status = await navigator.permissions.query({ name: 'midi' as PermissionName });
      return status.state === 'granted';
    } catch {
      return false;
    }
  }

  async enable(): Promise<void> {
    if (this.access || !this.supported) return;
    this.access = await navigator.requestMIDIAccess({ sysex: false });
    this.access.addEventListener('statechange', (e) => this.onStateChange(e as MIDIConnectionEvent));
    this.attachInputs();
    this.handlers.devicesChanged();
  }

  inputs(): DeviceInfo[] {
    return this.access ? [...this.access.inputs.values()].filter(connected).map(info) : [];
  }

  outputs(): DeviceInfo[] {
    return this.access ? [...this.access.outputs.values()].filter(connected).map(info) : [];
  }

  get input(): string {
    return this.inputChoice;
  }

  get output(): string {
    return this.outputChoice;
  }

  /** 'all', 'none' or a device id. */
  selectInput(choice: string): void {
    this.inputChoice = choice;
    this.attachInputs();
  }

  /** 'none' or a device id. The old output is silenced first. */
  selectOutput(choice: string): void {
    if (choice === this.outputChoice) return;
    this.panic();
    this.outputChoice = choice;
  }

  get outputActive(): boolean {
    return this.currentOutput() !== null;
  }

  /** Plays one of the scheduler's actions on the chosen output, timestamped in advance. */
  aiAction(a: AudioAction): void {
    const out = this.currentOutput();
    if (!out) return;
    try {
      if (a.kind === 'attack') {
        out.send(noteOnBytes(a.channel, a.note, a.velocity), a.time);
        this.sounding.set(a.id, [a.channel, a.note]);
      } else if (a.kind === 'release') {
        if (!this.sounding.delete(a.id)) return;
        out.send(noteOffBytes(a.channel, a.note), a.time);
      } else {
        if (!this.sounding.delete(a.id)) return;
        // Its noteon may still be queued for onTime: the noteoff must not overtake it.
        out.send(noteOffBytes(a.channel, a.note), Math.max(performance.now(), a.onTime));
      }
    } catch {
      // A device that vanished mid-send: the statechange handler tidies up.
    }
  }

  /**
   * Note-offs for everything the AI holds, then all-notes-off on every channel. The panic goes
   * out a little in the future so it lands after any noteon already queued with a timestamp.
   */
  panic(delayMs = 80): void {
    const out = this.currentOutput();
    this.sounding.clear();
    if (!out) return;
    const at = performance.now() + delayMs;
    try {
      for (const bytes of panicBytes()) out.send(bytes, at);
    } catch {
      // gone already
    }
  }

  private currentOutput(): MIDIOutput | null {
    if (!this.access || this.outputChoice === 'none') return null;
    const out = this.access.outputs.get(this.outputChoice);
    return out && out.state === 'connected' ? out : null;
  }

  private attachInputs(): void {
    if (!this.access) return;
    const want = new Map<string, MIDIInput>();
    for (const input of this.access.inputs.values()) {
      if (!connected(input)) continue;
      if (this.inputChoice === 'all' || this.inputChoice === input.id) want.set(input.id, input);
    }
    for (const [id, input] of this.listening) {
      if (!want.has(id)) {
        input.onmidimessage = null;
        this.listening.delete(id);
        this.handlers.inputLost(sourceOf(id));
      }
    }
    for (const [id, input] of want) {
      if (this.listening.has(id)) continue;
      this.listening.set(id, input);
      input.onmidimessage = (e) => this.onMessage(e, id);
    }
  }

  private onMessage(e: MIDIMessageEvent, id: string): void {
    if (!e.data) return;
    const ev = parseMidi(e.data);
    if (!ev) return;
    const now = performance.now();
    const t = e.timeStamp > 0 && e.timeStamp <= now && now - e.timeStamp < 1000 ? e.timeStamp : now;
    this.handlers.event(ev, t, sourceOf(id));
  }

  private onStateChange(e: MIDIConnectionEvent): void {
    const port = e.port;
    if (port && port.type === 'output' && port.id === this.outputChoice && port.state === 'disconnected') {
      // Its notes died with it; forget them so a reconnect starts clean.
      this.sounding.clear();
    }
    this.attachInputs();
    this.handlers.devicesChanged();
  }
}

function connected(p: MIDIPort): boolean {
  return p.state === 'connected';
}

function info(p: MIDIPort): DeviceInfo {
  return { id: p.id, name: p.name || p.manufacturer || p.id };
}

function sourceOf(id: string): string {
  return `midi:${id}`;
}
