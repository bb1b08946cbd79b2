// The HTTP + WebSocket server: the client's static files, /health, and one duet session per
// WebSocket at /ws. The session comes from an injected factory, so the server knows nothing of
// the model (the serve command builds the factory; the tests pass a fake).
import { randomInt, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { SchedulerLike } from 'rxjs';
import { WebSocketServer, type WebSocket } from 'ws';
import type { DuetSessionApi, DuetSessionOptions, DuetSettingsInput } from '../engine/duet/types.ts';
import { AntiphonError } from '../errors.ts';
import { CLOSE, Connection, type SessionTie } from './connection.ts';
import { checkHost, checkOrigin, checkToken, defaultAllowedHosts, generateToken, isLoopback, isWildcard, normaliseOrigin, type DoorPolicy } from './doors.ts';
import { resolveLimits, type ServerLimits } from './limits.ts';
import { PROTOCOL_VERSION, type ModelInfo } from './protocol.ts';
import { sendText, serveStatic } from './static-files.ts';
import { refuseUpgrade } from './upgrade.ts';

export type SessionFactory = (opts: DuetSessionOptions) => DuetSessionApi;

/** client/dist of this repository: where the client's bundler writes. */
export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../../client/dist', import.meta.url));
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

export interface ServerOptions {
  /** The address to bind (default 127.0.0.1). Any other than loopback requires a token. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Makes one session per connection. */
  createSession: SessionFactory;
  /** What hello and /health say about the model. */
  model: ModelInfo;
  /** The browser client's folder (default client/dist); null serves no files. */
  staticDir?: string | null;
  /**
   * A token clients must give (?token=... or Authorization: Bearer). When omitted, one is
   * generated if the host is not loopback, and none is required on loopback.
   */
  token?: string;
  /** Host names allowed besides loopback and the bound address. */
  allowHosts?: readonly string[];
  /** Page origins allowed besides the server's own ("http://localhost:5173"). */
  allowOrigins?: readonly string[];
  limits?: Partial<ServerLimits>;
  /** Settings every new session starts from. */
  sessionSettings?: DuetSettingsInput;
  /** The sessions' clock and timers (default: the session's own, asyncScheduler). */
  scheduler?: SchedulerLike;
  /** Ties each session's output to something else, a MIDI output say; returns its teardown. */
  tie?: SessionTie;
  log?: (line: string) => void;
}

export interface ServerStats {
  sessions: number;
  opened: number;
  /** Client frames received, whatever became of them. */
  received: number;
  /** Client messages refused by the rate limit. */
  rateLimited: number;
  /** Client messages refused as malformed. */
  invalid: number;
  /** AI notes not sent to slow clients. */
  dropped: number;
}

export interface AntiphonServer {
  /** The page to open, e.g. http://127.0.0.1:8080/ (without the token). */
  readonly url: string;
  /** ws://HOST:PORT/ws */
  readonly wsUrl: string;
  readonly host: string;
  readonly port: number;
  /** The token clients must give, or null. */
  readonly token: string | null;
  readonly limits: Readonly<ServerLimits>;
  readonly sessionCount: number;
  stats(): ServerStats;
  /** Ends every session (its note-offs first) and closes its socket with 1001. */
  closeSessions(): Promise<void>;
  /** closeSessions(), then stops listening; resolves when nothing is left open. */
  close(): Promise<void>;
}

const urlHost = (h: string): string => (h.includes(':') ? `[${h}]` : h);

/** The address a person would type: the bound one, or for a wildcard this machine's LAN address. */
function displayHost(host: string): string {
  if (!isWildcard(host)) return urlHost(host);
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return 'localhost';
}

function listen(http: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      http.off('listening', onListening);
      const why =
        e.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use; pick another with --port (0 = any free port)`
        : e.code === 'EACCES' ? `not allowed to listen on ${host}:${port}; use a port above 1024`
        : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? `${host} is not an address of this machine`
        : `could not listen on ${host}:${port}: ${e.message}`;
      reject(new AntiphonError('E_SERVER', why, { cause: e }));
    };
    const onListening = () => {
      http.off('error', onError);
      resolve();
    };
    http.once('error', onError);
    http.once('listening', onListening);
    http.listen(port, host);
  });
}

/** Starts a server and resolves once it listens. */
export async function createServer(opts: ServerOptions): Promise<AntiphonServer> {
  const host = opts.host ?? DEFAULT_HOST;
  const limits = resolveLimits(opts.limits);
  const log = opts.log ?? ((l: string) => console.error(l));
  const now = opts.scheduler ? () => opts.scheduler!.now() : () => Date.now();
  const staticDir = opts.staticDir === undefined ? DEFAULT_STATIC_DIR : opts.staticDir;
  const requestedPort = opts.port ?? DEFAULT_PORT;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new AntiphonError('E_USAGE', `the port must be a whole number from 0 to 65535, got ${String(opts.port)}`);
  }
  if (opts.token !== undefined && opts.token.length < 8) {
    throw new AntiphonError('E_USAGE', 'a token must be at least 8 characters long');
  }
  const allowedOrigins = new Set<string>();
  for (const o of opts.allowOrigins ?? []) {
    const n = normaliseOrigin(o);
    if (n === null) throw new AntiphonError('E_USAGE', `--allow-origin takes an origin like http://localhost:5173, got "${o}"`);
    allowedOrigins.add(n);
  }
  let port = requestedPort;
  const policy: DoorPolicy = {
    allowedHosts: defaultAllowedHosts(host, opts.allowHosts),
    allowedOrigins,
    port: () => port,
    token: opts.token ?? (isLoopback(host) ? null : generateToken()),
  };

  const startedAt = Date.now();
  const connections = new Map<string, Connection>();
  const totals = { opened: 0, received: 0, rateLimited: 0, invalid: 0, dropped: 0 };
  let pending = 0;
  let closing: Promise<void> | null = null;
  let sessionsClosing: Promise<void> | null = null;

  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });

  function openSession(ws: WebSocket): void {
    const id = randomUUID();
    let session: DuetSessionApi;
    try {
      session = opts.createSession({
        ...(opts.sessionSettings ? { settings: opts.sessionSettings } : {}),
        ...(opts.scheduler ? { scheduler: opts.scheduler } : {}),
        seed: randomInt(0, 2 ** 31 - 1),
      });
    } catch (e) {
      log(`could not start a session: ${(e as Error)?.message ?? String(e)}`);
      const code = e instanceof AntiphonError ? e.code : 'E_INTERNAL';
      ws.on('error', () => {});
      ws.send(JSON.stringify({ type: 'error', code, message: 'the server could not start a duet session; try again, and see the server log' }));
      ws.close(CLOSE.INTERNAL, 'session failed to start');
      return;
    }
    totals.opened++;
    const c = new Connection({
      id,
      ws,
      session,
      model: opts.model,
      limits,
      now,
      log,
      tie: opts.tie,
      onClosed: (done) => {
        connections.delete(done.id);
        totals.received += done.stats.received;
        totals.rateLimited += done.stats.rateLimited;
        totals.invalid += done.stats.invalid;
        totals.dropped += done.stats.dropped;
      },
    });
    connections.set(id, c);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}); // a peer that resets mid-handshake is not our error
    try {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/ws') return refuseUpgrade(socket, 404, 'the WebSocket is at /ws');
      if (closing || sessionsClosing) return refuseUpgrade(socket, 503, 'the server is shutting down');
      for (const check of [checkHost, checkOrigin, checkToken]) {
        const v = check(req, policy);
        if (!v.ok) return refuseUpgrade(socket, v.status, v.reason);
      }
      if (connections.size + pending >= limits.maxSessions) {
        return refuseUpgrade(socket, 503, `the server is full (${limits.maxSessions} sessions); try again later`);
      }
      // ws completes a valid handshake synchronously and answers an invalid one with 400
      // itself (the callback is then never called), so `pending` covers only this call.
      pending++;
      try {
        wss.handleUpgrade(req, socket, head, (ws) => {
          if (closing || sessionsClosing) {
            ws.on('error', () => {});
            ws.close(CLOSE.GOING_AWAY, 'server shutting down');
            return;
          }
          openSession(ws);
        });
      } finally {
        pending--;
      }
    } catch (e) {
      log(`upgrade failed: ${(e as Error)?.message ?? String(e)}`);
      refuseUpgrade(socket, 500, 'internal error');
    }
  }

  function health(res: ServerResponse, head: boolean): void {
    const body = JSON.stringify({
      ok: !closing,
      model: opts.model.name,
      sessions: connections.size,
      uptime: Math.round((Date.now() - startedAt) / 1000),
      protocol: PROTOCOL_VERSION,
    });
    sendText(res, closing ? 503 : 200, body, 'application/json; charset=utf-8', head);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const door = checkHost(req, policy);
      if (!door.ok) return sendText(res, door.status, `${door.reason}\n`);
      let pathname: string;
      try {
        pathname = new URL(req.url ?? '/', 'http://x').pathname;
      } catch {
        return sendText(res, 400, 'bad request\n');
      }
      const head = req.method === 'HEAD';
      if (req.method !== 'GET' && !head) {
        res.setHeader('Allow', 'GET, HEAD');
        return sendText(res, 405, 'only GET and HEAD\n');
      }
      if (pathname === '/health') return health(res, head);
      if (pathname === '/ws') return sendText(res, 426, 'this is the WebSocket endpoint: connect with a WebSocket client\n', undefined, head);
      if (staticDir === null) return sendText(res, 404, 'not found\n', undefined, head);
      await serveStatic(staticDir, pathname, req, res);
    } catch (e) {
      log(`request ${req.method} ${req.url} failed: ${(e as Error)?.message ?? String(e)}`);
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy();
    }
  }

  const http = createHttpServer((req, res) => void onRequest(req, res));
  http.on('upgrade', onUpgrade);
  http.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await listen(http, host, requestedPort);
  port = (http.address() as AddressInfo).port;

  const heartbeat = setInterval(() => {
    for (const c of connections.values()) c.heartbeat();
  }, limits.pingIntervalMs);
  heartbeat.unref();

  const shownHost = displayHost(host);

  function closeSessions(): Promise<void> {
    sessionsClosing ??= (async () => {
      clearInterval(heartbeat);
      const open = [...connections.values()];
      for (const c of open) c.close(CLOSE.GOING_AWAY, 'server shutting down');
      await Promise.all(open.map((c) => c.closed()));
    })();
    return sessionsClosing;
  }

  return {
    url: `http://${shownHost}:${port}/`,
    wsUrl: `ws://${shownHost}:${port}/ws`,
    host,
    port,
    token: policy.token,
    limits,
    get sessionCount() {
      return connections.size;
    },
    stats() {
      const live = [...connections.values()];
      return {
        sessions: live.length,
        opened: totals.opened,
        received: totals.received + live.reduce((s, c) => s + c.stats.received, 0),
        rateLimited: totals.rateLimited + live.reduce((s, c) => s + c.stats.rateLimited, 0),
        invalid: totals.invalid + live.reduce((s, c) => s + c.stats.invalid, 0),
        dropped: totals.dropped + live.reduce((s, c) => s + c.dropped, 0),
      };
    },
    closeSessions,
    close() {
      closing ??= (async () => {
        await closeSessions();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
