// The server's doors and its HTTP side against a real server on 127.0.0.1 (port 0): Origin,
// Host and token checks at the upgrade, the session cap, heartbeats, /health, and the static
// client with its traversal refusals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fixture, httpGet, openTcpHandles, sleep, until, upgradeStatus } from './helpers/ws-client.ts';

const fx = new Fixture();
const root = mkdtempSync(join(tmpdir(), 'antiphon-http-'));
const site = join(root, 'dist');
mkdirSync(join(site, 'assets'), { recursive: true });
writeFileSync(join(site, 'index.html'), '<!doctype html><title>Antiphon</title>');
writeFileSync(join(site, 'assets', 'app.js'), 'console.log(1);');
writeFileSync(join(site, 'assets', 'app.css'), 'body{}');
writeFileSync(join(site, 'assets', 'piano.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
writeFileSync(join(site, 'assets', 'data.bin'), Buffer.from([1, 2, 3]));
writeFileSync(join(root, 'secret.txt'), 'do not serve');

test('Origin: a foreign page is refused with 403; the server own origin, an allowed one and none pass', async () => {
  const { server } = await fx.start({ allowOrigins: ['http://localhost:5173'] });
  const ws = `ws://127.0.0.1:${server.port}/ws`;
  assert.is(await upgradeStatus(ws, { Origin: 'http://evil.example' }), 403);
  assert.is(await upgradeStatus(ws, { Origin: `http://evil.example:${server.port}` }), 403);
  assert.is(await upgradeStatus(ws, { Origin: 'http://127.0.0.1:1' }), 403, 'another port on loopback is another site');
  assert.is(await upgradeStatus(ws, { Origin: 'null' }), 403);
  assert.is(await upgradeStatus(ws, { Origin: `http://127.0.0.1:${server.port}` }), 0);
  assert.is(await upgradeStatus(ws, { Origin: `http://localhost:${server.port}` }), 0);
  assert.is(await upgradeStatus(ws, { Origin: 'http://localhost:5173' }), 0, '--allow-origin');
  assert.is(await upgradeStatus(ws), 0, 'no Origin: a program, not a page');
  await until(() => server.sessionCount === 0, 3000, 'sessions closed');
  assert.is(server.stats().opened, 4, 'only the allowed upgrades made sessions');
});

test('Host: a rebinding name is refused with 403 on the upgrade and on plain HTTP', async () => {
  const { server } = await fx.start({ allowHosts: ['studio.lan'] });
  const ws = `ws://127.0.0.1:${server.port}/ws`;
  assert.is(await upgradeStatus(ws, { Host: `evil.example:${server.port}` }), 403);
  assert.is(await upgradeStatus(ws, { Host: `localhost:${server.port}` }), 0);
  assert.is(await upgradeStatus(ws, { Host: `studio.lan:${server.port}` }), 0, '--allow-host');
  const health = await httpGet(`http://127.0.0.1:${server.port}/health`, { headers: { Host: 'evil.example' } });
  assert.is(health.status, 403);
  assert.match(health.body, /--allow-host/);
  assert.is(server.stats().opened, 2);
});

test('token: required when given; missing or wrong is 401, right (query or Bearer) opens', async () => {
  const { server, connect } = await fx.start({ token: 'correct-horse-battery' });
  assert.is(server.token, 'correct-horse-battery');
  const ws = `ws://127.0.0.1:${server.port}/ws`;
  assert.is(await upgradeStatus(ws), 401);
  assert.is(await upgradeStatus(`${ws}?token=correct-horse-batterz`), 401);
  assert.is(await upgradeStatus(`${ws}?token=`), 401);
  assert.is(await upgradeStatus(`${ws}?token=correct-horse-battery`), 0);
  assert.is(await upgradeStatus(ws, { Authorization: 'Bearer correct-horse-battery' }), 0);
  assert.is(await upgradeStatus(ws, { Origin: 'http://evil.example' }), 403, 'the Origin check comes first');
  const c = await connect(); // the fixture adds ?token=
  assert.is((await c.next('hello')).type, 'hello');
});

test('token: a server bound beyond loopback generates one and requires it', async () => {
  const { server, connect } = await fx.start({ host: '0.0.0.0' });
  assert.type(server.token, 'string');
  assert.ok(server.token!.length >= 20);
  assert.is(await upgradeStatus(`ws://127.0.0.1:${server.port}/ws`), 401);
  const c = await connect();
  assert.is((await c.next('hello')).type, 'hello');
  const loop = await fx.start({ host: '127.0.0.1' });
  assert.is(loop.server.token, null, 'none on loopback unless asked');
});

test('upgrades elsewhere than /ws are 404; plain HTTP to /ws is 426', async () => {
  const { server } = await fx.start();
  assert.is(await upgradeStatus(`ws://127.0.0.1:${server.port}/socket`), 404);
  assert.is((await httpGet(`http://127.0.0.1:${server.port}/ws`)).status, 426);
});

test('the session cap refuses one more upgrade with 503 until a session ends', async () => {
  const { server, connect } = await fx.start({ limits: { maxSessions: 2 } });
  const a = await connect();
  const b = await connect();
  await a.next('hello');
  await b.next('hello');
  assert.is(await upgradeStatus(`ws://127.0.0.1:${server.port}/ws`), 503);
  await a.close();
  await until(() => server.sessionCount === 1, 3000, 'one session');
  const c = await connect();
  assert.is((await c.next('hello')).type, 'hello');
});

test('heartbeat: a peer that does not answer pings is terminated; one that does stays', async () => {
  const { server, connect, sessions } = await fx.start({ limits: { pingIntervalMs: 150 } });
  const deaf = await connect('', { autoPong: false });
  const fine = await connect();
  await deaf.next('hello');
  await fine.next('hello');
  const { code } = await deaf.closed;
  assert.is(code, 1006, 'terminated, not closed politely');
  await until(() => server.sessionCount === 1, 3000, 'the dead session gone');
  assert.is(sessions[0].disposeCount, 1);
  await sleep(500); // several more intervals
  await fine.sync();
  assert.is(server.sessionCount, 1);
  assert.is(sessions[1].disposeCount, 0);
});

test('/health: ok, model name, sessions, uptime', async () => {
  const { server, connect } = await fx.start();
  const url = `http://127.0.0.1:${server.port}/health`;
  let r = await httpGet(url);
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  let body = JSON.parse(r.body);
  assert.is(body.ok, true);
  assert.is(body.model, 'fake-model');
  assert.is(body.sessions, 0);
  assert.type(body.uptime, 'number');
  const c = await connect();
  await c.next('hello');
  r = await httpGet(url);
  body = JSON.parse(r.body);
  assert.is(body.sessions, 1);
  assert.is((await httpGet(url, { method: 'HEAD' })).body, '');
  assert.is((await httpGet(url, { method: 'POST' })).status, 405);
});

test('static: the client files with their MIME types; 404 otherwise; no way out of the folder', async () => {
  const { server } = await fx.start({ staticDir: site });
  const base = `http://127.0.0.1:${server.port}`;
  const index = await httpGet(`${base}/`);
  assert.is(index.status, 200);
  assert.is(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.is(index.headers['x-content-type-options'], 'nosniff');
  assert.match(index.body, /<title>Antiphon/);
  const expect: [string, string, string][] = [
    ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>Antiphon</title>'],
    ['/assets/app.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['/assets/app.css', 'text/css; charset=utf-8', 'body{}'],
    ['/assets/piano.wasm', 'application/wasm', '\0asm'],
    ['/assets/data.bin', 'application/octet-stream', '\x01\x02\x03'],
    ['/assets/app.js?v=3', 'text/javascript; charset=utf-8', 'console.log(1);'],
  ];
  for (const [path, type, body] of expect) {
    const r = await httpGet(`${base}${path}`);
    assert.is(r.status, 200, path);
    assert.is(r.headers['content-type'], type, path);
    assert.is(r.body, body, path);
  }
  for (const path of ['/nope.js', '/assets/', '/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e%5csecret.txt', '/%00', '/%E0%A4%A']) {
    const r = await httpGet(base, { path });
    assert.is(r.status, 404, path);
    assert.not.match(r.body, /do not serve/, path);
  }
  // A raw request line that no URL parser has cleaned up.
  const raw = await new Promise<string>((resolve) => {
    const s = tcpConnect(server.port, '127.0.0.1', () => s.write(`GET /../../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
  });
  assert.match(raw, /^HTTP\/1\.1 404/);
  assert.not.match(raw, /do not serve/);
  assert.is((await httpGet(`${base}/index.html`, { method: 'DELETE' })).status, 405);
});

test('static: without a built client, / explains how to build it', async () => {
  const { server } = await fx.start({ staticDir: join(root, 'not-built') });
  const r = await httpGet(`http://127.0.0.1:${server.port}/`);
  assert.is(r.status, 200);
  assert.match(r.body, /client is not built/);
  assert.match(r.body, /npm install/);
  assert.is((await httpGet(`http://127.0.0.1:${server.port}/assets/app.js`)).status, 404);
});

test('the server survives garbage on the wire and keeps serving', async () => {
  const { server, connect } = await fx.start();
  for (const junk of ['\x16\x03\x01\x02\x00garbage', 'GET / HTTP/9.9\r\n\r\n', 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n']) {
    await new Promise<void>((resolve) => {
      const s = tcpConnect(server.port, '127.0.0.1', () => s.end(junk));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
  }
  const c = await connect();
  assert.is((await c.next('hello')).type, 'hello');
  assert.is((await httpGet(`http://127.0.0.1:${server.port}/health`)).status, 200);
});

test('nothing is left open', async () => {
  await fx.closeAll();
  rmSync(root, { recursive: true, force: true });
  assert.equal(await openTcpHandles(), []);
});

test.run();

