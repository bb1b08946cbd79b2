// Shutting a server down on SIGINT or SIGTERM: every session ends (its note-offs sent, its
// socket closed with 1001), every MIDI output runs its panic sequence, then the HTTP server
// closes. The order matters: a session disposed first cannot start another note.
import type { AntiphonServer } from './server.ts';

export type ShutdownSignal = 'SIGINT' | 'SIGTERM';
export const SHUTDOWN_SIGNALS: readonly ShutdownSignal[] = ['SIGINT', 'SIGTERM'];

/** The part of `process` used here, so tests can pass an EventEmitter. */
export interface SignalSource {
  on(event: ShutdownSignal, listener: () => void): unknown;
  removeListener(event: ShutdownSignal, listener: () => void): unknown;
}

/** Calls `handler` once, on the first SIGINT or SIGTERM; returns a function that stops listening. */
export function onShutdownSignal(source: SignalSource, handler: (signal: ShutdownSignal) => void): () => void {
  const listeners = SHUTDOWN_SIGNALS.map((signal) => [signal, () => {
    stop();
    handler(signal);
  }] as const);
  const stop = () => {
    for (const [signal, l] of listeners) source.removeListener(signal, l);
  };
  for (const [signal, l] of listeners) source.on(signal, l);
  return stop;
}

export interface ShutdownSteps {
  /** Runs the panic sequence on every MIDI output (src/io/ports panicAll); returns its failures. */
  panic: () => unknown[] | void;
  /** Anything that owns sessions outside the server (a MIDI duet), ended before the panic. */
  before?: () => void;
  log: (line: string) => void;
}

export async function shutdownServer(server: AntiphonServer, steps: ShutdownSteps): Promise<void> {
  try {
    steps.before?.();
  } catch (e) {
    steps.log(`shutdown: ${(e as Error)?.message ?? String(e)}`);
  }
  await server.closeSessions();
  try {
    for (const e of steps.panic() ?? []) steps.log(`shutdown: panic failed for one output: ${(e as Error)?.message ?? String(e)}`);
  } catch (e) {
    steps.log(`shutdown: panic failed: ${(e as Error)?.message ?? String(e)}`);
  }
  await server.close();
}
