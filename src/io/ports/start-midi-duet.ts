// The serve command's one call for MIDI: open the ports asked for, start a session of its own for
// them (the browser's sessions are separate), bind the two, and hand back one dispose().

import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { DuetSessionApi, DuetSessionOptions } from '../../engine/duet/types.ts';
import { bindSessionToPorts, type PortBinding } from './bind-session.ts';
import type { EchoFilterOptions } from './echo-filter.ts';
import type { ChannelFilter } from './input-streams.ts';
import { openMidiPorts, wantsPorts, type MidiPortsRequest } from './open-ports.ts';
import { stderrLogger, type MidiBackend, type PortLogger } from './types.ts';

export interface MidiDuetConfig {
  request: MidiPortsRequest;
  /** Channel listened to, 0..15 or 'all' (default). */
  inputChannel?: ChannelFilter;
  /** The answer's channel 0..15; unset keeps the session's default (the channel played on). */
  aiChannel?: number;
  /** Echo window in ms (0 turns suppression off); unset keeps EchoFilter's default. */
  echoWindowMs?: number;
}

export interface MidiDuet {
  readonly session: DuetSessionApi;
  readonly binding: PortBinding;
  /** Unbinds (panic, timers, ports) and disposes the session. Idempotent. */
  dispose(): void;
}

export interface StartMidiDuetOptions {
  scheduler?: SchedulerLike;
  logger?: PortLogger;
  /** Default: easymidi, loaded now. */
  backend?: MidiBackend;
}

/**
 * null when the request names no port. Throws E_MIDI_PORT_UNAVAILABLE (no MIDI system: serve the
 * browser anyway), E_MIDI_PORT_NOT_FOUND / _AMBIGUOUS / _FAILED, or E_VIRTUAL_UNSUPPORTED; no
 * port or session is left open when it throws.
 */
export async function startMidiDuet(
  config: MidiDuetConfig,
  createSession: (options: DuetSessionOptions) => DuetSessionApi,
  options: StartMidiDuetOptions = {},
): Promise<MidiDuet | null> {
  if (!wantsPorts(config.request)) return null;
  const scheduler = options.scheduler ?? asyncScheduler;
  const logger = options.logger ?? stderrLogger;
  const ports = await openMidiPorts(config.request, options.backend, { logger });
  let session: DuetSessionApi;
  try {
    session = createSession({ scheduler, settings: config.aiChannel === undefined ? {} : { aiChannel: config.aiChannel } });
  } catch (e) {
    ports.input?.close();
    ports.output?.close();
    throw e;
  }
  const echo: EchoFilterOptions | false = config.echoWindowMs === 0 ? false : { windowMs: config.echoWindowMs };
  const binding = bindSessionToPorts(session, { ...ports, inputChannel: config.inputChannel ?? 'all', scheduler, logger, echo });
  const names = [ports.input && `in: ${ports.input.name}`, ports.output && `out: ${ports.output.name}`].filter(Boolean).join(', ');
  logger.info(`MIDI duet on ${names}`);
  let disposed = false;
  return {
    session,
    binding,
    dispose() {
      if (disposed) return;
      disposed = true;
      binding.dispose();
      try {
        session.dispose();
      } catch (e) {
        logger.error('disposing the MIDI session failed', e);
      }
    },
  };
}
