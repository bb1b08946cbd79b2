// The one implementation of MidiInputPort/MidiOutputPort, over whatever delivers and sends bytes.
// easymidi ports and FakePort are both built from these, so the guards the tests exercise through
// the fake are the guards that run against RtMidi.

import { ReplaySubject, Subject, type Observable } from 'rxjs';
import { guardListeners, guarded, runGuarded, type ListenerHost } from './guard.ts';
import type { MidiInputPort, MidiOutputPort, PortClosed, PortLogger } from './types.ts';

abstract class PortLifecycle {
  readonly name: string;
  readonly virtual: boolean;
  protected readonly logger: PortLogger;
  private readonly closedSubject = new ReplaySubject<PortClosed>(1);
  readonly closed$: Observable<PortClosed> = this.closedSubject.asObservable();
  private state: 'open' | 'closing' | 'closed' = 'open';
  private readonly shutdownNative: () => void;

  constructor(name: string, virtual: boolean, closeNative: () => void, logger: PortLogger) {
    this.name = name;
    this.virtual = virtual;
    this.shutdownNative = closeNative;
    this.logger = logger;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Still usable: open, or inside a requested close while closed$ subscribers run. */
  protected get usable(): boolean {
    return this.state !== 'closed';
  }

  close(): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.announce({ reason: 'closed' });
    this.teardown();
  }

  /** The device went away or a native call failed: nothing can be sent any more. */
  lost(reason: 'unplugged' | 'failed', error?: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.announce(reason === 'failed' ? { reason, error } : { reason });
    this.teardown();
  }

  private announce(c: PortClosed): void {
    runGuarded(() => {
      this.closedSubject.next(c);
      this.closedSubject.complete();
    }, (e) => this.logger.error(`${this.name}: a close handler failed`, e));
  }

  private teardown(): void {
    this.state = 'closed';
    this.onClosed();
    runGuarded(() => this.shutdownNative(), (e) => this.logger.warn(`${this.name}: closing the port failed`, e));
  }

  protected abstract onClosed(): void;
}

export interface NativeInputParts {
  name: string;
  virtual: boolean;
  /** Emits 'message' (deltaSeconds, bytes), as @julusian/midi's Input does. */
  native: ListenerHost;
  closeNative: () => void;
  logger: PortLogger;
}

export class NativeInputPort extends PortLifecycle implements MidiInputPort {
  private readonly subject = new Subject<readonly number[]>();
  readonly messages$: Observable<readonly number[]> = this.subject.asObservable();
  private readonly native: ListenerHost;
  private readonly listener: (delta: number, bytes: ArrayLike<number>) => void;

  constructor(parts: NativeInputParts) {
    super(parts.name, parts.virtual, parts.closeNative, parts.logger);
    this.native = parts.native;
    const onError = (e: unknown) => this.logger.error(`${this.name}: a MIDI input callback threw; the port carries on`, e);
    // Listeners someone else registered first (easymidi's own parser) get a try/catch each.
    guardListeners(this.native, 'message', onError);
    this.listener = guarded((_delta: number, bytes: ArrayLike<number>) => {
      if (this.usable) this.subject.next(Array.from(bytes));
    }, onError);
    this.native.on('message', this.listener as never);
  }

  protected onClosed(): void {
    this.native.removeListener('message', this.listener as never);
    this.subject.complete();
  }
}

export interface NativeOutputParts {
  name: string;
  virtual: boolean;
  sendNative: (bytes: number[]) => void;
  closeNative: () => void;
  logger: PortLogger;
}

export class NativeOutputPort extends PortLifecycle implements MidiOutputPort {
  private readonly sendNative: (bytes: number[]) => void;

  constructor(parts: NativeOutputParts) {
    super(parts.name, parts.virtual, parts.closeNative, parts.logger);
    this.sendNative = parts.sendNative;
  }

  send(bytes: readonly number[]): boolean {
    if (!this.usable) return false;
    try {
      this.sendNative([...bytes]);
      return true;
    } catch (e) {
      // A failed send means the device is gone or broken; retrying every note would flood the log.
      this.logger.error(`${this.name}: sending MIDI failed; the port is closed`, e);
      this.lost('failed', e);
      return false;
    }
  }

  protected onClosed(): void {}
}
