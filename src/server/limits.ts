// Every limit the server holds a client to, with its safe default. `antiphon serve` exposes
// each as a flag (src/cli/commands/serve.ts) and docs/protocol.md documents them.
import { AntiphonError } from '../errors.ts';

export interface ServerLimits {
  /** The largest frame a client may send; a bigger one closes the connection with 1009. */
  maxPayloadBytes: number;
  /** Token-bucket rate per connection: messages a second on average ... */
  messagesPerSecond: number;
  /** ... and at once. Extra messages are dropped with one E_RATE_LIMIT error per burst. */
  burst: number;
  /** Ping interval; a peer that has not answered the previous ping is terminated. */
  pingIntervalMs: number;
  /** Above this many bytes waiting for a client, the AI's new notes to it are dropped. */
  dropAboveBytes: number;
  /** Above this many, the client has stopped reading: it is closed with 1008. */
  closeAboveBytes: number;
  /** Concurrent sessions; another upgrade is refused with 503. */
  maxSessions: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxPayloadBytes: 4096,
  messagesPerSecond: 2000,
  burst: 500,
  pingIntervalMs: 30_000,
  dropAboveBytes: 256 * 1024,
  closeAboveBytes: 1024 * 1024,
  maxSessions: 32,
});

/** Merges `input` over the defaults and checks every value is a positive whole number. */
export function resolveLimits(input: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(input) as [keyof ServerLimits, number | undefined][]) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_LIMITS)) throw new AntiphonError('E_USAGE', `unknown server limit "${k}"`);
    if (!Number.isInteger(v) || v < 1) throw new AntiphonError('E_USAGE', `server limit ${k} must be a whole number >= 1, got ${String(v)}`);
    out[k] = v;
  }
  if (out.closeAboveBytes < out.dropAboveBytes) {
    throw new AntiphonError('E_USAGE', `the close threshold (${out.closeAboveBytes} bytes) must not be below the drop threshold (${out.dropAboveBytes} bytes)`);
  }
  return out;
}
