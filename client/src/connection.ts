// The socket: connect, keep the clocks in touch with pings, reconnect with back-off when it
// drops, and report its state for the status pill.

import { encode, parseServerMessage, ping, type ClientMessage, type ServerMessage } from './protocol.ts';
import { backoffDelay } from './timing.ts';

export type ConnectionState =
  | { state: 'connecting'; attempt: number }
  | { state: 'open' }
  | { state: 'closed'; retryAt: number; attempt: number; code: number; reason: string };

export interface ConnectionHandlers {
  message(msg: ServerMessage): void;
  state(s: ConnectionState): void;
}

/** Pings start with `hello` and come quickly at first (the server's clock offset settles), then every 2 s. */
const EARLY_PINGS = 5;
const EARLY_PING_MS = 250;
const PING_MS = 2000;

export class Connection {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setTimeout> | null = null;
  private pings = 0;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly handlers: ConnectionHandlers,
  ) {
    window.addEventListener('online', () => this.reconnectNow());
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect(): void {
    this.stopped = false;
    this.clearRetry();
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    this.handlers.state({ state: 'connecting', attempt: this.attempt });
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry(1006, 'bad URL');
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.handlers.state({ state: 'open' });
    });
    ws.addEventListener('message', (e) => {
      if (this.ws !== ws || typeof e.data !== 'string') return;
      const msg = parseServerMessage(e.data, performance.now());
      if (!msg) return;
      if (msg.type === 'hello') {
        // A session that said hello is a good connection: the back-off starts over, and the
        // server gets its first clock sample at once.
        this.attempt = 0;
        this.stopPings();
        this.pings = 0;
        this.sendPing();
      }
      this.handlers.message(msg);
    });
    ws.addEventListener('close', (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopPings();
      if (!this.stopped) this.scheduleRetry(e.code, e.reason);
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  /** Sends if the socket is open; false otherwise (the note is only local then). */
  send(msg: ClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encode(msg));
    return true;
  }

  reconnectNow(): void {
    if (this.open) return;
    this.attempt = 0;
    this.connect();
  }

  close(): void {
    this.stopped = true;
    this.clearRetry();
    this.stopPings();
    this.ws?.close(1000, 'bye');
    this.ws = null;
  }

  private scheduleRetry(code: number, reason: string): void {
    const delay = backoffDelay(this.attempt);
    this.attempt++;
    this.handlers.state({ state: 'closed', retryAt: performance.now() + delay, attempt: this.attempt, code, reason });
    this.clearRetry();
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private sendPing(): void {
    this.send(ping(performance.now()));
    this.pings++;
    this.pingTimer = setTimeout(() => this.sendPing(), this.pings < EARLY_PINGS ? EARLY_PING_MS : PING_MS);
  }

  private stopPings(): void {
    if (this.pingTimer !== null) clearTimeout(this.pingTimer);
    this.pingTimer = null;
  }
}
