// A throw inside a native MIDI callback, an RxJS subscriber or a scheduled timer does not stay
// local: it surfaces as an uncaught exception and ends the server mid-performance, with notes
// still sounding. Every callback the ports hand out goes through here.

export type ErrorSink = (error: unknown) => void;

/** Runs fn; a throw goes to onError instead of up the stack. */
export function runGuarded(fn: () => void, onError: ErrorSink): void {
  try {
    fn();
  } catch (e) {
    try {
      onError(e);
    } catch {
      // A logger that throws must not turn a survived error into a crash.
    }
  }
}

export function guarded<A extends unknown[]>(fn: (...args: A) => void, onError: ErrorSink): (...args: A) => void {
  return (...args: A) => runGuarded(() => fn(...args), onError);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- listeners of any emitter
type Listener = (...args: any[]) => void;

/** The part of Node's EventEmitter that listener guarding needs. */
export interface ListenerHost {
  listeners(event: string): Function[];
  removeListener(event: string, listener: Listener): unknown;
  on(event: string, listener: Listener): unknown;
}

/**
 * Replaces every listener already registered for `event` with a try/catch wrapper around it,
 * in the same order. For easymidi 3.2.0, whose Input registers a 'message' listener on the
 * native input that throws `ReferenceError: sysex is not defined` when a chunked SysEx ends.
 * Returns how many listeners were wrapped.
 */
export function guardListeners(host: ListenerHost, event: string, onError: ErrorSink): number {
  const originals = host.listeners(event) as Listener[];
  for (const l of originals) host.removeListener(event, l);
  for (const l of originals) host.on(event, guarded((...args: unknown[]) => l(...args), onError));
  return originals.length;
}
