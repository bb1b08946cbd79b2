// A MIDI device for tests: one port that is both an input (inject bytes as a driver would deliver
// them) and an output (read what was sent). It is built from the same NativeInputPort and
// NativeOutputPort as the easymidi ports, so the guards under test are the production ones.

import { EventEmitter } from 'node:events';
import type { Observable, SchedulerLike, Subscription } from 'rxjs';
import { NativeInputPort, NativeOutputPort } from './native-port.ts';
import { silentLogger, type MidiBackend, type MidiInputPort, type MidiOutputPort, type PortClosed, type PortLogger } from './types.ts';

export interface FakePortOptions {
  virtual?: boolean;
  logger?: PortLogger;
  /** Feed every sent message back into the input after delayMs, as a DAW routing output to input does. */
  loopback?: { scheduler: SchedulerLike; delayMs: number };
  /**
   * Put a native listener in front, as easymidi 3.2.0's Input does, that throws
   * `ReferenceError: sysex is not defined` whenever a chunked SysEx ends.
   */
  easymidiSysexBug?: boolean;
}

export class FakePort implements MidiInputPort, MidiOutputPort {
  /** Stands in for @julusian/midi's native input: emits 'message' (deltaSeconds, bytes). */
  readonly native = new EventEmitter();
  /** Every message that went out, in order. */
  readonly sent: number[][] = [];
  private readonly input: NativeInputPort;
  private readonly output: NativeOutputPort;
  private sendError: Error | null = null;
  private readonly echoes = new Set<Subscription>();
  nativeClosed = false;

  constructor(readonly name = 'Fake MIDI', options: FakePortOptions = {}) {
    const logger = options.logger ?? silentLogger;
    const virtual = options.virtual ?? false;
    if (options.easymidiSysexBug) this.native.on('message', easymidiLikeListener());
    this.input = new NativeInputPort({ name, virtual, native: this.native, closeNative: () => this.shutNative(), logger });
    this.output = new NativeOutputPort({
      name,
      virtual,
      sendNative: (bytes) => {
        if (this.sendError) throw this.sendError;
        this.sent.push(bytes);
        const lb = options.loopback;
        if (lb && !this.input.closed) {
          const task = lb.scheduler.schedule(() => {
            this.echoes.delete(task);
            this.inject(bytes);
          }, lb.delayMs);
          this.echoes.add(task);
        }
      },
      closeNative: () => this.shutNative(),
      logger,
    });
    // One device: when either side goes, both go (the output side first, so a sink can still send).
    this.output.closed$.subscribe(() => this.input.close());
  }

  get virtual(): boolean {
    return this.input.virtual;
  }

  get messages$(): Observable<readonly number[]> {
    return this.input.messages$;
  }

  get closed$(): Observable<PortClosed> {
    return this.output.closed$;
  }

  get closed(): boolean {
    return this.output.closed;
  }

  send(bytes: readonly number[]): boolean {
    return this.output.send(bytes);
  }

  close(): void {
    this.output.close();
  }

  /** Delivers messages as the driver would, each through the native 'message' event. */
  inject(...messages: number[][]): void {
    for (const m of messages) this.native.emit('message', 0, m);
  }

  /** Every later send throws inside the "driver" (null to heal). */
  failSends(error: Error | null = new Error('device write failed')): void {
    this.sendError = error;
  }

  /** The cable is pulled: no more input, sends go nowhere. */
  unplug(): void {
    this.output.lost('unplugged');
  }

  /** Loopback echoes still in flight. */
  get pendingEchoes(): number {
    return this.echoes.size;
  }

  private shutNative(): void {
    this.nativeClosed = true;
    for (const t of this.echoes) t.unsubscribe();
    this.echoes.clear();
  }
}

/** What easymidi 3.2.0's Input does with chunked SysEx, bug included, and nothing else. */
export function easymidiLikeListener(): (delta: number, bytes: number[]) => void {
  let pendingSysex = false;
  return (_delta, bytes) => {
    if (pendingSysex && bytes.length > 0 && bytes[0] < 0x80) {
      if (bytes[bytes.length - 1] === 0xf7) throw new ReferenceError('sysex is not defined');
      return;
    }
    pendingSysex = bytes[0] === 0xf0 && bytes[bytes.length - 1] !== 0xf7;
  };
}

/** A backend of FakePorts with the port names a test chooses. */
export class FakeMidiBackend implements MidiBackend {
  readonly opened: FakePort[] = [];

  constructor(
    readonly inputs: string[] = [],
    readonly outputs: string[] = [],
    private readonly options: FakePortOptions & { failOpen?: string } = {},
  ) {}

  listInputs(): string[] {
    return [...this.inputs];
  }

  listOutputs(): string[] {
    return [...this.outputs];
  }

  openInput(name: string, { virtual }: { virtual: boolean }): MidiInputPort {
    return this.open(name, virtual, this.inputs);
  }

  openOutput(name: string, { virtual }: { virtual: boolean }): MidiOutputPort {
    return this.open(name, virtual, this.outputs);
  }

  private open(name: string, virtual: boolean, names: string[]): FakePort {
    if (name === this.options.failOpen) throw new Error(`cannot open ${name}`);
    if (!virtual && !names.includes(name)) throw new Error(`no port ${name}`);
    const port = new FakePort(name, { ...this.options, virtual });
    this.opened.push(port);
    return port;
  }
}
