// One WebSocket, one duet session. The connection owns the session, its output subscription,
// the client-clock map, the rate limiter and the outbox, and disposes them all when the socket
// closes, whoever closes it. No input can throw out of here: a bad frame becomes an `error`
// message and the session carries on.
import type { Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import type { DuetOutput, DuetSessionApi } from '../engine/duet/types.ts';
import type { NoteEvent } from '../engine/note-events.ts';
import { isAntiphonError } from '../errors.ts';
import { recordingToMidi } from '../io/recording-midi.ts';
import { ClientClock } from './client-clock.ts';
import type { ServerLimits } from './limits.ts';
import { Outbox } from './outbox.ts';
import { parseClientFrame, PROTOCOL_VERSION, type ClientMessage, type ModelInfo, type ServerMessage } from './protocol.ts';
import { TokenBucket } from './rate-limit.ts';

/** Close codes the server uses (docs/protocol.md). */
export const CLOSE = {
  /** Server shutting down. */
  GOING_AWAY: 1001,
  /** The client stopped reading (its unread messages passed the close threshold). */
  STOPPED_READING: 1008,
  /** A frame over the payload limit (sent by ws itself). */
  TOO_BIG: 1009,
  /** The session could not start or failed. */
  INTERNAL: 1011,
} as const;

/** A hook that ties a session's output to something else (a MIDI port); returns its teardown. */
export type SessionTie = (session: DuetSessionApi, id: string) => (() => void) | void;

export interface ConnectionOptions {
  id: string;
  ws: WebSocket;
  session: DuetSessionApi;
  model: ModelInfo;
  limits: ServerLimits;
  /** The session's clock (its scheduler's now()). */
  now: () => number;
  log: (line: string) => void;
  tie?: SessionTie;
  /** Called once, after everything the connection owns is disposed. */
  onClosed: (c: Connection) => void;
}

export interface ConnectionStats {
  received: number;
  rateLimited: number;
  invalid: number;
  dropped: number;
}

/** How long a closing handshake may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 2000;

export class Connection {
  readonly id: string;
  readonly stats: ConnectionStats = { received: 0, rateLimited: 0, invalid: 0, dropped: 0 };
  private readonly ws: WebSocket;
  private readonly session: DuetSessionApi;
  private readonly outbox: Outbox;
  private readonly bucket: TokenBucket;
  private readonly clock = new ClientClock();
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly onClosed: (c: Connection) => void;
  private output: Subscription | null = null;
  private untie: (() => void) | null = null;
  private alive = true;
  /** bufferedAmount was above the drop threshold at the last heartbeat. */
  private behind = false;
  private readonly dropAboveBytes: number;
  private sessionDisposed = false;
  private finished = false;
  private killTimer: NodeJS.Timeout | null = null;

  constructor(o: ConnectionOptions) {
    this.id = o.id;
    this.ws = o.ws;
    this.session = o.session;
    this.now = o.now;
    this.log = o.log;
    this.onClosed = o.onClosed;
    this.dropAboveBytes = o.limits.dropAboveBytes;
    this.bucket = new TokenBucket({ ratePerSecond: o.limits.messagesPerSecond, burst: o.limits.burst, now: o.now });
    this.outbox = new Outbox(o.ws, {
      dropAboveBytes: o.limits.dropAboveBytes,
      closeAboveBytes: o.limits.closeAboveBytes,
      onStalled: () => {
        this.log(`session ${this.id}: the client stopped reading (over ${o.limits.closeAboveBytes} bytes unread), closing`);
        this.close(CLOSE.STOPPED_READING, 'you stopped reading messages');
      },
    });

    this.ws.on('close', () => this.finish());
    this.ws.on('error', (e) => this.log(`session ${this.id}: socket error: ${e.message}`));
    this.ws.on('pong', () => (this.alive = true));
    this.ws.on('message', (data, isBinary) => this.receive(data, isBinary));

    this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      session: this.id,
      model: o.model,
      settings: this.session.settings,
      turn: this.session.turn,
      limits: {
        maxPayloadBytes: o.limits.maxPayloadBytes,
        messagesPerSecond: o.limits.messagesPerSecond,
        burst: o.limits.burst,
        pingIntervalMs: o.limits.pingIntervalMs,
      },
      server: this.now(),
    });
    this.output = this.session.output$.subscribe({
      next: (out) => this.forward(out),
      error: (e: unknown) => {
        this.log(`session ${this.id}: the session failed: ${(e as Error)?.message ?? String(e)}`);
        this.sendError('E_INTERNAL', 'the duet session failed; reconnect to start a new one');
        this.close(CLOSE.INTERNAL, 'session failed');
      },
    });
    // Tied last, so a tie sees the session live; if the socket already closed, finish() unties.
    try {
      this.untie = o.tie?.(this.session, this.id) ?? null;
    } catch (e) {
      this.log(`session ${this.id}: could not tie its output: ${(e as Error)?.message ?? String(e)}`);
    }
    if (this.finished && this.untie) this.runUntie();
  }

  get dropped(): number {
    return this.outbox.dropped;
  }

  /**
   * One heartbeat: false (and the socket ended) if the last ping went unanswered, or if the
   * client has been behind (above the drop threshold) for a whole interval.
   */
  heartbeat(): boolean {
    if (this.finished) return false;
    if (!this.alive) {
      this.log(`session ${this.id}: no answer to ping, terminating`);
      this.ws.terminate();
      return false;
    }
    const behind = this.ws.bufferedAmount > this.dropAboveBytes;
    if (behind && this.behind) {
      this.log(`session ${this.id}: the client has stopped reading, closing`);
      this.close(CLOSE.STOPPED_READING, 'you stopped reading messages');
      return false;
    }
    this.behind = behind;
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      // a socket that is closing; the close event finishes it
    }
    return true;
  }

  /**
   * Ends the session first (its note-offs still reach the client), then closes the socket,
   * destroying it if the client does not finish the closing handshake in time.
   */
  close(code: number, reason: string): void {
    this.disposeSession();
    if (this.ws.readyState === this.ws.CLOSED) return;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    this.killTimer ??= setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    this.killTimer.unref();
  }

  /** Resolves once the socket is closed and everything is disposed. */
  closed(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => this.ws.once('close', () => queueMicrotask(resolve)));
  }

  private send(msg: ServerMessage): void {
    try {
      this.outbox.send(msg);
    } catch (e) {
      this.log(`session ${this.id}: send failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  private sendError(code: string, message: string, forType?: string): void {
    this.send({ type: 'error', code, message, ...(forType ? { for: forType } : {}) });
  }

  private forward(out: DuetOutput): void {
    switch (out.type) {
      case 'noteon':
        this.send({ type: 'noteon', note: out.note, velocity: out.velocity, time: this.clock.toClient(out.time), channel: out.channel });
        break;
      case 'noteoff':
        this.send({ type: 'noteoff', note: out.note, time: this.clock.toClient(out.time), channel: out.channel });
        break;
      case 'state':
        this.send({ type: 'state', turn: out.turn });
        break;
      case 'tempo':
        this.send({ type: 'tempo', bpm: out.bpm, source: out.source });
        break;
      case 'error':
        this.sendError(out.code, out.message);
        break;
    }
  }

  private receive(data: Parameters<typeof parseClientFrame>[0], isBinary: boolean): void {
    try {
      this.alive = true;
      this.stats.received++;
      const admission = this.bucket.take();
      if (admission !== 'ok') {
        this.stats.rateLimited++;
        if (admission === 'first-refusal') {
          this.sendError('E_RATE_LIMIT', 'too many messages: the extra ones are being dropped (a keyboard sends far fewer; check for a stuck loop or a flood of controller messages)');
        }
        return;
      }
      const arrival = this.now();
      const parsed = parseClientFrame(data, isBinary);
      if (!parsed.ok) {
        this.stats.invalid++;
        this.sendError(parsed.code, parsed.message, parsed.for);
        return;
      }
      this.handle(parsed.message, arrival);
    } catch (e) {
      this.refused(e);
    }
  }

  private handle(m: ClientMessage, arrival: number): void {
    switch (m.type) {
      case 'noteon':
      case 'noteoff':
      case 'cc': {
        const time = this.clock.toServer(m.time, arrival);
        const ch = m.channel === undefined ? {} : { channel: m.channel };
        const ev: NoteEvent =
          m.type === 'noteon'
            ? { type: 'noteon', note: m.note, velocity: m.velocity, time, ...ch }
            : m.type === 'noteoff'
              ? { type: 'noteoff', note: m.note, time, ...ch }
              : { type: 'cc', controller: m.controller, value: m.value, time, ...ch };
        this.attempt(m.type, () => this.session.push(ev));
        return;
      }
      case 'settings': {
        const { type: _type, ...input } = m;
        this.attempt('settings', () => {
          const settings = this.session.update(input);
          this.send({ type: 'settings', settings });
        });
        return;
      }
      case 'panic':
        this.attempt('panic', () => this.session.panic());
        return;
      case 'handoff':
        if (m.time !== undefined) this.clock.sample(m.time, arrival);
        this.attempt('handoff', () => this.session.handOff());
        return;
      case 'ping':
        this.clock.sample(m.t, arrival);
        this.send({ type: 'pong', t: m.t, server: this.now() });
        return;
      case 'record':
        this.attempt('record', () => {
          const midi = Buffer.from(recordingToMidi(this.session.recording())).toString('base64');
          const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-');
          this.send({ type: 'recording', midi, name: `antiphon-${stamp}.mid` });
        });
        return;
    }
  }

  /** Runs a session call; a refusal becomes an `error` message with a stable code. */
  private attempt(forType: string, call: () => void): void {
    try {
      call();
    } catch (e) {
      this.refused(e, forType);
    }
  }

  /** A session's refusal keeps its code; anything else is a bug, logged and answered E_INTERNAL. */
  private refused(e: unknown, forType?: string): void {
    if (isAntiphonError(e)) {
      // The sampler's own code is a settings refusal as far as the protocol is concerned.
      const code = e.code === 'E_SAMPLER_SETTING' ? 'E_SETTING' : e.code;
      this.sendError(code, e.message, forType);
      return;
    }
    this.log(`session ${this.id}: ${forType ?? 'message'} failed: ${(e as Error)?.stack ?? String(e)}`);
    this.sendError('E_INTERNAL', `the session could not handle that ${forType ?? 'message'}; it carries on`, forType);
  }

  private disposeSession(): void {
    if (this.sessionDisposed) return;
    this.sessionDisposed = true;
    try {
      this.session.dispose();
    } catch (e) {
      this.log(`session ${this.id}: dispose failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  private runUntie(): void {
    const untie = this.untie;
    this.untie = null;
    try {
      untie?.();
    } catch (e) {
      this.log(`session ${this.id}: untie failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  /** The socket is closed: cancel the generation, note-offs to every tie, free the tensors. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.disposeSession(); // emits note-offs on output$ to every subscriber, then completes it
    this.output?.unsubscribe();
    this.output = null;
    this.runUntie();
    this.stats.dropped = this.outbox.dropped;
    this.onClosed(this);
  }
}
