// Process-wide list of everything that can silence a MIDI output, so that a signal or a crash
// still sends note-offs: a stuck note is the worst bug a MIDI tool can have.

export interface Panickable {
  panic(): void;
}

const registry = new Set<Panickable>();

/** Adds a sink; the returned function removes it again. */
export function registerPanic(target: Panickable): () => void {
  registry.add(target);
  return () => {
    registry.delete(target);
  };
}

export function registeredPanicCount(): number {
  return registry.size;
}

/** Panics every registered sink; one failing sink does not stop the others. Returns the errors. */
export function panicAll(): unknown[] {
  const errors: unknown[] = [];
  for (const target of [...registry]) {
    try {
      target.panic();
    } catch (e) {
      errors.push(e);
    }
  }
  return errors;
}

/** The bits of `process` the handlers use, so tests can pass an EventEmitter. */
/* eslint-disable @typescript-eslint/no-explicit-any -- listeners of any event */
export interface ProcessLike {
  on(event: string, listener: (...args: any[]) => void): unknown;
  prependListener?(event: string, listener: (...args: any[]) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  listenerCount(event: string): number;
  exit(code?: number): void;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface PanicHandlerOptions {
  process?: ProcessLike;
  /** Where failures to panic are reported. Default stderr. */
  report?: (line: string) => void;
  /**
   * After panicking on SIGINT/SIGTERM, exit (130/143) if no other handler for that signal is
   * installed, as Node would have without ours. Default true.
   */
  exitOnSignal?: boolean;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Panics every registered sink on SIGINT, SIGTERM, an uncaught exception or unhandled rejection
 * (through 'uncaughtExceptionMonitor', which leaves Node's own crash behaviour alone) and at
 * process exit. Returns a function that removes the handlers.
 */
export function installPanicHandlers(options: PanicHandlerOptions = {}): () => void {
  const proc = options.process ?? (process as unknown as ProcessLike);
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const exitOnSignal = options.exitOnSignal ?? true;
  const run = (why: string) => {
    for (const e of panicAll()) report(`antiphon midi: panic on ${why} failed for one port: ${e instanceof Error ? e.message : String(e)}`);
  };
  const handlers: Array<[string, () => void]> = [];
  for (const signal of Object.keys(SIGNAL_EXIT)) {
    const onSignal = () => {
      run(signal);
      if (exitOnSignal && proc.listenerCount(signal) === 1) proc.exit(SIGNAL_EXIT[signal]);
    };
    handlers.push([signal, onSignal]);
  }
  handlers.push(['uncaughtExceptionMonitor', () => run('an uncaught error')]);
  handlers.push(['exit', () => run('exit')]);
  // First in line for signals: a shutdown handler that removes itself when it runs must still
  // count as "someone else handles this" when ours decides whether to exit.
  for (const [event, h] of handlers) {
    if (event in SIGNAL_EXIT && proc.prependListener) proc.prependListener(event, h);
    else proc.on(event, h);
  }
  return () => {
    for (const [event, h] of handlers) proc.removeListener(event, h);
  };
}
