// The server's parts without sockets: message validation, the client clock, the rate limiter,
// the outbox's backpressure, the door checks and static path resolution.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientClock } from '../src/server/client-clock.ts';
import { checkHost, checkOrigin, checkToken, defaultAllowedHosts, hostOf, isLoopback, tokensEqual, type DoorPolicy } from '../src/server/doors.ts';
import { DEFAULT_LIMITS, resolveLimits } from '../src/server/limits.ts';
import { Outbox } from '../src/server/outbox.ts';
import { CLIENT_MESSAGE_TYPES, parseClientFrame, parseClientMessage } from '../src/server/protocol.ts';
import { TokenBucket } from '../src/server/rate-limit.ts';
import { resolveStatic } from '../src/server/static-files.ts';

const bad = (v: unknown) => {
  const r = parseClientMessage(v);
  assert.not.ok(r.ok, `accepted ${JSON.stringify(v)}`);
  return r as { ok: false; code: string; message: string; for?: string };
};

test('protocol: every message docs/protocol.md names is accepted in its documented form', () => {
  const good = [
    { type: 'noteon', note: 60, velocity: 100, time: 12.5 },
    { type: 'noteon', note: 0, velocity: 1 },
    { type: 'noteoff', note: 127, time: 0 },
    { type: 'cc', controller: 64, value: 127, time: 3 },
    { type: 'settings', sampling: { pitch: { temperature: 0.8, topP: 0.9, topK: 0 } }, minBars: 1, maxBars: 8, silenceMs: 600, handoffController: null, tempoSource: 'call', bpm: 100, lookaheadMs: 75, aiChannel: null },
    { type: 'settings' },
    { type: 'panic' },
    { type: 'handoff' },
    { type: 'handoff', time: 5 },
    { type: 'ping', t: 1234.5 },
    { type: 'record' },
  ];
  for (const m of good) {
    const r = parseClientMessage(m);
    assert.ok(r.ok, `${JSON.stringify(m)}: ${r.ok ? '' : r.message}`);
  }
  assert.equal(new Set(good.map((m) => m.type)), new Set(CLIENT_MESSAGE_TYPES));
});

test('protocol: unknown fields of a message are ignored and not passed on', () => {
  const r = parseClientMessage({ type: 'noteon', note: 60, velocity: 90, extra: 'x', __proto__: { polluted: true } });
  assert.ok(r.ok);
  if (r.ok) assert.equal(Object.keys(r.message).sort(), ['note', 'type', 'velocity']);
});

test('protocol: non-JSON, binary, non-objects and unknown types get stable codes', () => {
  const nonJson = parseClientFrame('{"type":"noteon",', false);
  assert.is(!nonJson.ok && nonJson.code, 'E_BAD_JSON');
  const binary = parseClientFrame(Buffer.from([0x90, 60, 100]), true);
  assert.is(!binary.ok && binary.code, 'E_BINARY_FRAME');
  assert.is(bad([1, 2]).code, 'E_BAD_MESSAGE');
  assert.is(bad(null).code, 'E_BAD_MESSAGE');
  assert.is(bad('noteon').code, 'E_BAD_MESSAGE');
  assert.match(bad({ note: 60 }).message, /no "type"/);
  const unknown = bad({ type: 'noteonn', note: 60 });
  assert.match(unknown.message, /unknown type "noteonn"/);
  assert.match(unknown.message, /noteon, noteoff/);
  assert.is(bad({ type: '__proto__' }).code, 'E_BAD_MESSAGE');
  assert.is(bad({ type: 'toString' }).code, 'E_BAD_MESSAGE');
});

test('protocol: wrong types and out-of-range values name the field and the allowed range', () => {
  const cases: [unknown, RegExp][] = [
    [{ type: 'noteon', note: '60', velocity: 90 }, /noteon: note must be a whole number from 0 to 127, got "60"/],
    [{ type: 'noteon', note: 60, velocity: 0 }, /velocity must be a whole number from 1 to 127, got 0/],
    [{ type: 'noteon', note: 128, velocity: 90 }, /note must be a whole number from 0 to 127/],
    [{ type: 'noteon', note: 60.5, velocity: 90 }, /note must be a whole number/],
    [{ type: 'noteon', velocity: 90 }, /note is missing/],
    [{ type: 'noteoff', note: 60, time: 'now' }, /time must be a number of milliseconds/],
    [{ type: 'noteoff', note: 60, channel: 16 }, /channel must be a whole number from 0 to 15/],
    [{ type: 'cc', controller: 64, value: 200 }, /value must be a whole number from 0 to 127/],
    [{ type: 'ping' }, /t is missing/],
    [{ type: 'settings', silenceMs: -1 }, /silenceMs must be a number from 0/],
    [{ type: 'settings', tempoSource: 'metronome' }, /tempoSource must be one of fixed, call, clock/],
    [{ type: 'settings', silenceMS: 300 }, /there is no setting silenceMS/],
    [{ type: 'settings', sampling: { rhythm: { temperature: 1 } } }, /sampling has no family rhythm/],
    [{ type: 'settings', sampling: { pitch: { temp: 1 } } }, /sampling.pitch has no setting temp/],
    [{ type: 'settings', sampling: { pitch: { topP: 0 } } }, /sampling.pitch.topP must be a number above 0/],
    [{ type: 'settings', aiChannel: 'left' }, /aiChannel must be a whole number from 0 to 15/],
  ];
  for (const [m, re] of cases) {
    const r = bad(m);
    assert.is(r.code, 'E_BAD_MESSAGE');
    assert.match(r.message, re);
    assert.is(r.for, (m as { type: string }).type);
  }
});

test('protocol: JSON numbers too big to be finite are refused', () => {
  const r = parseClientFrame('{"type":"noteon","note":60,"velocity":90,"time":1e400}', false);
  assert.not.ok(r.ok);
  assert.match(!r.ok ? r.message : '', /time must be a number/);
});

test('client clock: the offset is the smallest (arrival - client time) in the window', () => {
  const c = new ClientClock({ windowSize: 4, windowMs: 1e9 });
  assert.is(c.offset, null);
  assert.is(c.toClient(500), 500, 'no sample: unchanged');
  // True offset 1000; network delays 7, 2, 9, 3.
  c.sample(0, 1007);
  c.sample(10, 1012);
  c.sample(20, 1029);
  c.sample(30, 1033);
  assert.is(c.offset, 1002);
  assert.is(c.toClient(2002), 1000);
  c.sample(40, 1045); // the 7 ms sample leaves the window of 4
  assert.is(c.offset, 1002);
  c.sample(50, 1056); // and then the 2 ms one: the minimum becomes 1003
  assert.is(c.offset, 1003);
});

test('client clock: samples older than windowMs are forgotten, so a drifting clock is followed', () => {
  const c = new ClientClock({ windowSize: 100, windowMs: 1000 });
  c.sample(0, 100); // offset 100
  c.sample(500, 700); // 200
  assert.is(c.offset, 100);
  c.sample(1200, 1500); // 300; the first sample is now 1400 ms old
  assert.is(c.offset, 200);
});

test('client clock: incoming times map to the server clock, never after arrival nor long before it', () => {
  const c = new ClientClock({ maxLagMs: 500 });
  assert.is(c.toServer(undefined, 5000), 5000, 'a missing time is the arrival time');
  assert.is(c.toServer(100, 5010), 5010); // first sample: offset 4910
  assert.is(c.toServer(150, 5080), 5060, 'jitter (20 ms late) does not move it');
  assert.is(c.toServer(-100_000, 5090), 4590, 'a wild client time is held to maxLagMs before arrival');
  const d = new ClientClock();
  d.sample(0, 1000);
  assert.is(d.toServer(5000, 2000), 2000, 'a time in the future is placed at arrival');
});

test('rate limit: a burst, then the average rate; one refusal reported per burst', () => {
  let now = 0;
  const b = new TokenBucket({ ratePerSecond: 10, burst: 3, now: () => now });
  assert.equal([b.take(), b.take(), b.take()], ['ok', 'ok', 'ok']);
  assert.is(b.take(), 'first-refusal');
  assert.is(b.take(), 'refused');
  assert.is(b.take(), 'refused');
  now += 100; // one token back
  assert.is(b.take(), 'ok');
  assert.is(b.take(), 'first-refusal', 'a new burst is reported again');
  now += 10_000;
  assert.equal([b.take(), b.take(), b.take(), b.take()], ['ok', 'ok', 'ok', 'first-refusal'], 'refills to the burst, no more');
  assert.is(b.refused, 5);
});

function stubSocket() {
  return { readyState: 1, bufferedAmount: 0, sent: [] as { type: string; note?: number }[], send(d: string) { this.sent.push(JSON.parse(d)); } };
}

test('outbox: above the drop threshold new AI notes are dropped, with their note-offs, but not note-offs of notes sent', () => {
  const s = stubSocket();
  let stalled = 0;
  const box = new Outbox(s, { dropAboveBytes: 100, closeAboveBytes: 1000, onStalled: () => stalled++ });
  assert.ok(box.send({ type: 'noteon', note: 60, velocity: 90, time: 0, channel: 0 }));
  s.bufferedAmount = 500;
  assert.not.ok(box.send({ type: 'noteon', note: 64, velocity: 90, time: 0, channel: 0 }), 'new note dropped');
  assert.ok(box.send({ type: 'noteoff', note: 60, time: 1, channel: 0 }), 'the note-off of a sent note goes');
  assert.ok(box.send({ type: 'state', turn: 'listening' }), 'control messages go');
  s.bufferedAmount = 0;
  assert.not.ok(box.send({ type: 'noteoff', note: 64, time: 1, channel: 0 }), "a dropped note's note-off is dropped too");
  assert.ok(box.send({ type: 'noteoff', note: 70, time: 1, channel: 0 }), 'an unknown note-off goes (a panic, say)');
  assert.is(box.dropped, 2);
  assert.equal(s.sent.map((m) => `${m.type}${m.note ?? ''}`), ['noteon60', 'noteoff60', 'state', 'noteoff70']);
  assert.is(stalled, 0);
});

test('outbox: above the close threshold the client is reported stalled once and nothing more is sent', () => {
  const s = stubSocket();
  let stalled = 0;
  const box = new Outbox(s, { dropAboveBytes: 100, closeAboveBytes: 1000, onStalled: () => stalled++ });
  s.bufferedAmount = 2000;
  assert.not.ok(box.send({ type: 'state', turn: 'answering' }));
  assert.not.ok(box.send({ type: 'error', code: 'E_X', message: 'x' }));
  assert.is(stalled, 1);
  assert.is(s.sent.length, 0);
  s.readyState = 3;
  s.bufferedAmount = 0;
  assert.not.ok(box.send({ type: 'state', turn: 'answering' }), 'a closed socket gets nothing');
});

const req = (headers: Record<string, string>, url = '/ws'): IncomingMessage => ({ headers, url }) as unknown as IncomingMessage;
const policy = (over: Partial<DoorPolicy> = {}): DoorPolicy => ({
  allowedHosts: defaultAllowedHosts('127.0.0.1'),
  allowedOrigins: new Set(['http://localhost:5173']),
  port: () => 8080,
  token: null,
  ...over,
});

test('doors: loopback, Host parsing and the default host allowlist', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'LOCALHOST']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '128.0.0.1']) assert.not.ok(isLoopback(h), h);
  assert.is(hostOf('127.0.0.1:8080'), '127.0.0.1');
  assert.is(hostOf('[::1]:8080'), '::1');
  assert.is(hostOf('Example.COM'), 'example.com');
  assert.is(hostOf('a/b'), null);
  assert.is(hostOf(undefined), null);
  const hosts = defaultAllowedHosts('192.168.5.5', ['studio.lan']);
  for (const h of ['localhost', '127.0.0.1', '::1', '192.168.5.5', 'studio.lan']) assert.ok(hosts.has(h), h);
  assert.not.ok(hosts.has('evil.example'));
});

test('doors: Host and Origin checks', () => {
  const p = policy();
  assert.ok(checkHost(req({ host: '127.0.0.1:8080' }), p).ok);
  assert.ok(checkHost(req({ host: 'localhost:8080' }), p).ok);
  const rebound = checkHost(req({ host: 'evil.example:8080' }), p);
  assert.equal(rebound.ok ? 0 : rebound.status, 403);
  assert.not.ok(checkHost(req({}), p).ok, 'no Host');
  assert.ok(checkOrigin(req({}), p).ok, 'no Origin: not a browser');
  assert.ok(checkOrigin(req({ origin: 'http://127.0.0.1:8080' }), p).ok, 'own origin');
  assert.ok(checkOrigin(req({ origin: 'http://localhost:8080' }), p).ok, 'own origin by another loopback name');
  assert.ok(checkOrigin(req({ origin: 'http://localhost:5173' }), p).ok, 'allowed origin');
  for (const o of ['http://evil.example', 'http://127.0.0.1:9999', 'null', 'file://', 'http://localhost:5174']) {
    const v = checkOrigin(req({ origin: o }), p);
    assert.is(v.ok ? 0 : v.status, 403, o);
  }
});

test('doors: the token is compared in constant time and taken from ?token= or a Bearer header', () => {
  assert.ok(tokensEqual('abc', 'abc'));
  assert.not.ok(tokensEqual('abc', 'abd'));
  assert.not.ok(tokensEqual('abc', 'abcd'), 'different lengths do not throw');
  const p = policy({ token: 's3cret-token' });
  assert.ok(checkToken(req({}, '/ws?token=s3cret-token'), p).ok);
  assert.ok(checkToken(req({ authorization: 'Bearer s3cret-token' }), p).ok);
  const missing = checkToken(req({}), p);
  assert.is(missing.ok ? 0 : missing.status, 401);
  const wrong = checkToken(req({}, '/ws?token=guess'), p);
  assert.is(wrong.ok ? 0 : wrong.status, 401);
  assert.ok(checkToken(req({}), policy()).ok, 'no token required');
});

test('limits: defaults are the safe ones, and bad values are refused by name', () => {
  assert.is(DEFAULT_LIMITS.maxPayloadBytes, 4096);
  assert.is(DEFAULT_LIMITS.messagesPerSecond, 2000);
  assert.is(DEFAULT_LIMITS.pingIntervalMs, 30_000);
  assert.is(resolveLimits({ burst: 10 }).burst, 10);
  assert.throws(() => resolveLimits({ burst: 0 }), /burst must be a whole number/);
  assert.throws(() => resolveLimits({ dropAboveBytes: 10, closeAboveBytes: 5 }), /must not be below/);
});

test('static: paths resolve inside the folder only', async () => {
  const root = mkdtempSync(join(tmpdir(), 'antiphon-static-'));
  const site = join(root, 'dist');
  mkdirSync(join(site, 'assets'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<p>hi</p>');
  writeFileSync(join(site, 'assets', 'app.js'), '1');
  writeFileSync(join(root, 'secret.txt'), 'no');
  symlinkSync(join(root, 'secret.txt'), join(site, 'link.txt'));
  try {
    assert.is(await resolveStatic(site, '/'), join(site, 'index.html'));
    assert.is(await resolveStatic(site, '/assets/app.js'), join(site, 'assets', 'app.js'));
    assert.is(await resolveStatic(site, '/assets/%61pp.js'), join(site, 'assets', 'app.js'));
    for (const p of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/..%5csecret.txt', '/link.txt', '/nope.js', '/assets', '/%E0%A4%A', '/index.html%00.js']) {
      assert.is(await resolveStatic(site, p), null, p);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
