// The port contract every MIDI edge codes against: easymidi ports, the fake port in tests, and
// anything else that moves raw MIDI bytes. Bytes stay raw here so that parsing, channel filtering
// and echo suppression live in one place instead of once per backend.

import type { Observable } from 'rxjs';

/** Why a port stopped: closed on purpose, its device went away, or the native call failed. */
export type PortClosed = { reason: 'closed' } | { reason: 'unplugged' } | { reason: 'failed'; error: unknown };

interface PortBase {
  readonly name: string;
  /** True for a port Antiphon created for other programs to connect to. */
  readonly virtual: boolean;
  readonly closed: boolean;
  /**
   * Emits once, then completes; late subscribers still get it. For a requested close() it fires
   * before the port really shuts, so a sink can still send its note-offs.
   */
  readonly closed$: Observable<PortClosed>;
  /** Idempotent. */
  close(): void;
}

export interface MidiInputPort extends PortBase {
  /**
   * One array of bytes per MIDI message, as the driver delivered it (SysEx may come in chunks).
   * Hot: messages that arrive with no subscriber are lost. Completes when the port closes.
   * A throwing subscriber is the subscriber's bug; bindSessionToPorts guards its own.
   */
  readonly messages$: Observable<readonly number[]>;
}

export interface MidiOutputPort extends PortBase {
  /** Sends one message. Returns false (never throws) when the port is closed or the send failed. */
  send(bytes: readonly number[]): boolean;
}

/** Opens and lists ports by name; easymidi in production, FakeMidiBackend in tests. */
export interface MidiBackend {
  listInputs(): string[];
  listOutputs(): string[];
  openInput(name: string, options: { virtual: boolean }): MidiInputPort;
  openOutput(name: string, options: { virtual: boolean }): MidiOutputPort;
}

export interface PortLogger {
  info(message: string): void;
  warn(message: string, error?: unknown): void;
  error(message: string, error?: unknown): void;
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

export const stderrLogger: PortLogger = {
  info: (m) => process.stderr.write(`antiphon midi: ${m}\n`),
  warn: (m, e) => process.stderr.write(`antiphon midi: ${m}${e === undefined ? '' : ` (${describe(e)})`}\n`),
  error: (m, e) => process.stderr.write(`antiphon midi: ${m}${e === undefined ? '' : ` (${describe(e)})`}\n`),
};

export const silentLogger: PortLogger = { info() {}, warn() {}, error() {} };
