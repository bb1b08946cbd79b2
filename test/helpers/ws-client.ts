// A real `ws` client for the server tests: opens, sends, and waits for messages with a timeout;
// and a fixture that starts real servers on 127.0.0.1 port 0 with fake sessions and closes
// every server and client it made.
import { request } from 'node:http';
import WebSocket, { type ClientOptions } from 'ws';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { createServer, type AntiphonServer, type ServerOptions } from '../../src/server/server.ts';
import type { ModelInfo } from '../../src/server/protocol.ts';
import { fakeSessions, type FakeBehaviour, type FakeDuetSession } from './fake-duet-session.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

const DEFAULT_WAIT_MS = 3000;

export class TestClient {
  /** Every JSON message received, in order. */
  readonly received: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private unread: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {}); // a refused or reset connection shows in `closed`
    ws.on('message', (data, isBinary) => {
      const m = JSON.parse(isBinary ? '{"type":"binary"}' : data.toString()) as Msg;
      this.received.push(m);
      const w = this.waiters.findIndex((x) => x.pred(m));
      if (w >= 0) this.waiters.splice(w, 1)[0].resolve(m);
      else this.unread.push(m);
    });
  }

  static open(url: string, opts: ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
    const c = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(m: Msg | string | Buffer): void {
    this.ws.send(typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m));
  }

  /** The next message (not yet taken) that matches: a type or a predicate. */
  next(match: string | ((m: Msg) => boolean), timeoutMs = DEFAULT_WAIT_MS): Promise<Msg> {
    const pred = typeof match === 'string' ? (m: Msg) => m.type === match : match;
    const i = this.unread.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (m: Msg) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${typeof match === 'string' ? `"${match}" ` : ''}message within ${timeoutMs} ms; received ${JSON.stringify(this.received.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Untaken messages of a type, taken now. */
  take(type: string): Msg[] {
    const got = this.unread.filter((m) => m.type === type);
    this.unread = this.unread.filter((m) => m.type !== type);
    return got;
  }

  /** Sends a ping and waits for its pong: every message sent before it has been handled. */
  async sync(t = Math.random() * 1e6): Promise<void> {
    this.send({ type: 'ping', t });
    await this.next((m) => m.type === 'pong' && m.t === t);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState !== WebSocket.CLOSING) this.ws.close(1000);
    await within(this.closed, DEFAULT_WAIT_MS, 'the socket did not close').catch(() => this.ws.terminate());
    await this.closed;
  }
}

/** Tries an upgrade that should be refused; resolves with its HTTP status (0 if it opened). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.on('error', () => {});
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? -1);
    });
    ws.once('open', () => {
      ws.close();
      ws.once('close', () => resolve(0));
    });
    setTimeout(() => reject(new Error('the upgrade got no answer')), DEFAULT_WAIT_MS).unref();
  });
}

/** A plain HTTP GET (or other method) with optional headers. */
export function httpGet(url: string, opts: { method?: string; headers?: Record<string, string>; path?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, path: opts.path ?? `${u.pathname}${u.search}`, method: opts.method ?? 'GET', headers: { connection: 'close', ...opts.headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]).finally(() => clearTimeout(timer));
}

/** Polls `cond` until it holds or `ms` pass. */
export async function until(cond: () => boolean, ms = DEFAULT_WAIT_MS, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** No TCP server or socket is left open in this process. */
export async function openTcpHandles(): Promise<string[]> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap');
}

// ---- servers with fake sessions ----------------------------------------------------------

export const FAKE_MODEL: ModelInfo = {
  name: 'fake-model',
  description: 'an echo that stands in for the transformer',
  parameters: 0,
  trainingSteps: 0,
  dataSources: [],
};

export interface Started {
  server: AntiphonServer;
  sessions: FakeDuetSession[];
  logs: string[];
  /** Opens a client on this server's /ws (with the token when it has one). */
  connect(query?: string, opts?: ClientOptions): Promise<TestClient>;
}

/** A scheduler whose now() is `now()` and whose timers are real. */
export function schedulerWithClock(now: () => number): SchedulerLike {
  return { now, schedule: asyncScheduler.schedule.bind(asyncScheduler) } as SchedulerLike;
}

export class Fixture {
  private readonly servers: AntiphonServer[] = [];
  private readonly clients: TestClient[] = [];

  async start(opts: Partial<ServerOptions> = {}, behaviour: FakeBehaviour = {}): Promise<Started> {
    const fake = fakeSessions(behaviour);
    const logs: string[] = [];
    const server = await createServer({
      host: '127.0.0.1',
      port: 0,
      createSession: fake.create,
      model: FAKE_MODEL,
      staticDir: null,
      log: (l) => logs.push(l),
      ...opts,
    });
    this.servers.push(server);
    return {
      server,
      sessions: fake.sessions,
      logs,
      connect: async (query = '', clientOpts = {}) => {
        const sep = query ? (query.startsWith('?') ? '' : '?') : '';
        const tokenPart = server.token && !query.includes('token=') ? `${query ? '&' : '?'}token=${server.token}` : '';
        const c = await TestClient.open(`ws://127.0.0.1:${server.port}/ws${sep}${query}${tokenPart}`, clientOpts);
        this.clients.push(c);
        return c;
      },
    };
  }

  /** Registers a client opened some other way, so closeAll() closes it. */
  track(c: TestClient): TestClient {
    this.clients.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.servers.map((s) => s.close()));
    this.clients.length = 0;
    this.servers.length = 0;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
