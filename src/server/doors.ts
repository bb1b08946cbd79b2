// Who may open a session. Any web page can ask a browser to open ws://127.0.0.1, and a DNS
// rebinding page can make a browser send requests with its own Host name to a loopback port,
// so Host and Origin are checked against allowlists (403); and a server reachable from other
// machines also wants a token (401), compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostname as osHostname, networkInterfaces } from 'node:os';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** Strips IPv6 brackets and lowercases. */
const bare = (host: string): string => host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');

export function isLoopback(host: string): boolean {
  const h = bare(host);
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

export const isWildcard = (host: string): boolean => ['0.0.0.0', '::', ''].includes(bare(host));

/**
 * The host names a request may carry: the loopback names; the bound address; when bound to
 * every address (0.0.0.0 or ::), this machine's name and the addresses of its interfaces;
 * and whatever the user added.
 */
export function defaultAllowedHosts(boundHost: string, extra: readonly string[] = []): Set<string> {
  const hosts = new Set(LOOPBACK_NAMES);
  if (!isWildcard(boundHost)) hosts.add(bare(boundHost));
  else {
    const name = osHostname().toLowerCase();
    hosts.add(name);
    hosts.add(`${name}.local`);
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) hosts.add(bare(i.address));
  }
  for (const h of extra) hosts.add(bare(h));
  return hosts;
}

/** The host name of a Host header ("127.0.0.1:8080", "[::1]:8080"), or null when unparseable. */
export function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  try {
    const u = new URL(`http://${header}`);
    if (u.username || u.password || u.pathname !== '/' || u.search || u.hash) return null;
    return bare(u.hostname);
  } catch {
    return null;
  }
}

export interface DoorPolicy {
  allowedHosts: ReadonlySet<string>;
  /** Origins allowed besides the server's own ("http://localhost:5173"), normalised by URL. */
  allowedOrigins: ReadonlySet<string>;
  /** The port the server listens on: a page served by it has this port in its Origin. */
  port: () => number;
  /** null when no token is required. */
  token: string | null;
}

export type DoorVerdict = { ok: true } | { ok: false; status: 400 | 401 | 403; reason: string };

export function normaliseOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.origin;
  } catch {
    return null;
  }
}

export function checkHost(req: IncomingMessage, policy: DoorPolicy): DoorVerdict {
  const host = hostOf(req.headers.host);
  if (host === null) return { ok: false, status: 403, reason: 'the request has no valid Host header' };
  if (!policy.allowedHosts.has(host)) {
    return { ok: false, status: 403, reason: `host "${host}" is not allowed; start the server with --allow-host ${host} if this is really your machine` };
  }
  return { ok: true };
}

/** No Origin (a program, not a browser) passes; a browser page must be the server's own or allowed. */
export function checkOrigin(req: IncomingMessage, policy: DoorPolicy): DoorVerdict {
  const raw = req.headers.origin;
  if (raw === undefined) return { ok: true };
  const origin = normaliseOrigin(raw);
  if (origin !== null) {
    if (policy.allowedOrigins.has(origin)) return { ok: true };
    const u = new URL(origin);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    if (policy.allowedHosts.has(bare(u.hostname)) && port === policy.port()) return { ok: true };
  }
  return { ok: false, status: 403, reason: `pages from ${raw} may not open a session; start the server with --allow-origin ${raw} to allow them` };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time equality of two strings of any length (compares their SHA-256 digests). */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token from `?token=` or an `Authorization: Bearer` header. */
export function tokenOf(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  try {
    return new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  } catch {
    return null;
  }
}

export function checkToken(req: IncomingMessage, policy: DoorPolicy): DoorVerdict {
  if (policy.token === null) return { ok: true };
  const given = tokenOf(req);
  if (given === null) return { ok: false, status: 401, reason: 'this server needs a token: open the URL it printed (it ends in ?token=...)' };
  if (!tokensEqual(given, policy.token)) return { ok: false, status: 401, reason: 'wrong token: open the URL the server printed' };
  return { ok: true };
}

/** A fresh token for a server that needs one and was given none. */
export const generateToken = (): string => randomBytes(18).toString('base64url');
