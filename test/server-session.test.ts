// A real ws client against a real server on 127.0.0.1 (port 0), with the fake duet session:
// hello, a whole call and answer, every message type, every bad input, the rate limit, the
// payload limit, and disconnects in the middle of an answer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DuetOutput } from '../src/engine/duet/types.ts';
import { Fixture, openTcpHandles, schedulerWithClock, sleep, type TestClient, until, type Msg } from './helpers/ws-client.ts';

const fx = new Fixture();

/** The client's clock, like performance.now() in a browser: far from the server's. */
const t0 = Date.now();
const clientNow = () => Date.now() - t0;
/** The server's (session's) clock, a billion ms away from the client's. */
const SERVER_SKEW = 1e9;
const serverNow = () => Date.now() + SERVER_SKEW;

test('hello arrives on connect with the session id, model, settings, turn and limits', async () => {
  const { connect, sessions } = await fx.start({ limits: { burst: 99 } });
  const c = await connect();
  const hello = await c.next('hello');
  assert.match(hello.session, /^[0-9a-f-]{36}$/);
  assert.is(hello.protocol, 1);
  assert.equal(hello.model, { name: 'fake-model', description: 'an echo that stands in for the transformer', parameters: 0, trainingSteps: 0, dataSources: [] });
  assert.is(hello.settings.silenceMs, 120);
  assert.is(hello.settings.sampling.pitch.topP, 0.9);
  assert.is(hello.turn, 'listening');
  assert.equal(hello.limits, { maxPayloadBytes: 4096, messagesPerSecond: 2000, burst: 99, pingIntervalMs: 30_000 });
  assert.is(c.received[0].type, 'hello', 'hello is the first message');
  assert.is(sessions.length, 1);
  assert.type(sessions[0].opts.seed, 'number');
  const d = await connect();
  const hello2 = await d.next('hello');
  assert.is.not(hello2.session, hello.session, 'each connection is its own session');
  assert.is(sessions.length, 2);
});

test('a whole call and answer: the call mapped to the server clock, the answer in the client clock', async () => {
  const { connect, sessions } = await fx.start({ scheduler: schedulerWithClock(serverNow) });
  const c = await connect();
  await c.next('hello');
  c.send({ type: 'ping', t: clientNow() });
  await c.next('pong');
  const call = [60, 64, 67, 72];
  for (const note of call) {
    c.send({ type: 'noteon', note, velocity: 80 + note - 60, time: clientNow() });
    await sleep(15);
    c.send({ type: 'noteoff', note, time: clientNow() });
  }
  const callEnd = clientNow();
  await c.next((m) => m.type === 'state' && m.turn === 'answering');
  const ons: Msg[] = [];
  const offs: Msg[] = [];
  for (let i = 0; i < call.length; i++) ons.push(await c.next('noteon'));
  for (let i = 0; i < call.length; i++) offs.push(await c.next('noteoff'));
  await c.next((m) => m.type === 'state' && m.turn === 'listening');

  assert.equal(ons.map((m) => m.note), call.map((n) => n + 12), 'the fake echoes an octave up');
  assert.equal(ons.map((m) => m.velocity), [80, 84, 87, 92]);
  assert.equal(ons.map((m) => m.channel), [0, 0, 0, 0]);
  for (const m of [...ons, ...offs]) {
    // Server times are ~1e9 ms away; mapped times sit on the client's clock, after the call.
    assert.ok(Math.abs(m.time - clientNow()) < 5000, `time ${m.time} is on the client's clock (now ${clientNow()})`);
    assert.ok(m.time >= callEnd - 100, 'the answer comes after the call');
  }
  for (let i = 1; i < ons.length; i++) assert.ok(ons[i].time > ons[i - 1].time, 'the call timing is kept');
  for (let i = 0; i < ons.length; i++) assert.ok(offs[i].time > ons[i].time, 'each note-off follows its note-on');

  const s = sessions[0];
  assert.equal(s.pushes.map((e) => e.type), ['noteon', 'noteoff', 'noteon', 'noteoff', 'noteon', 'noteoff', 'noteon', 'noteoff']);
  for (const e of s.pushes) assert.ok(Math.abs(e.time - serverNow()) < 5000, `pushed time ${e.time} is on the server clock`);
  assert.is(s.answers, 1);
});

test('missing times are the arrival time; channel passes through', async () => {
  const { connect, sessions } = await fx.start({ scheduler: schedulerWithClock(serverNow) });
  const c = await connect();
  await c.next('hello');
  const before = serverNow();
  c.send({ type: 'noteon', note: 50, velocity: 60, channel: 3 });
  c.send({ type: 'cc', controller: 64, value: 127 });
  await c.sync();
  const [on, cc] = sessions[0].pushes;
  assert.is(on.type, 'noteon');
  assert.is(on.channel, 3);
  assert.ok(on.time >= before && on.time <= serverNow(), 'arrival time');
  assert.equal({ ...cc, time: 0 }, { type: 'cc', controller: 64, value: 127, time: 0 });
});

test('settings, panic, handoff, ping and record each do what the protocol says', async () => {
  const { connect, sessions } = await fx.start();
  const c = await connect();
  await c.next('hello');
  const s = sessions[0];

  c.send({ type: 'settings', silenceMs: 5000, sampling: { pitch: { temperature: 0.5 } } });
  const settings = await c.next('settings');
  assert.is(settings.settings.silenceMs, 5000);
  assert.is(settings.settings.sampling.pitch.temperature, 0.5);
  assert.is(settings.settings.sampling.pitch.topP, 0.9, 'what was not named is unchanged');
  assert.equal(s.updates, [{ silenceMs: 5000, sampling: { pitch: { temperature: 0.5 } } }], 'the type field is not passed on');

  // With a 5 s silence threshold, only the hand-off starts the answer.
  c.send({ type: 'noteon', note: 60, velocity: 90 });
  c.send({ type: 'noteoff', note: 60 });
  c.send({ type: 'noteon', note: 62, velocity: 90 });
  c.send({ type: 'handoff' });
  await c.next((m) => m.type === 'state' && m.turn === 'answering');
  assert.is(s.handOffCount, 1);
  const on = await c.next('noteon');
  assert.is(on.note, 72);
  c.send({ type: 'panic' });
  const off = await c.next((m) => m.type === 'noteoff' && m.note === 72);
  assert.ok(off.time >= on.time - 1000);
  await c.next((m) => m.type === 'state' && m.turn === 'listening');
  assert.is(s.panicCount, 1);
  assert.is(s.soundingCount, 0);

  c.send({ type: 'ping', t: 42.5 });
  const pong = await c.next('pong');
  assert.is(pong.t, 42.5);
  assert.type(pong.server, 'number');

  c.send({ type: 'record' });
  const rec = await c.next('recording');
  const bytes = Buffer.from(rec.midi, 'base64');
  assert.is(bytes.subarray(0, 4).toString('latin1'), 'MThd', 'a Standard MIDI File');
  assert.match(rec.name, /^antiphon-.*\.mid$/);
});

test('every bad input gets an error with a stable code, and the session carries on', async () => {
  const { server, connect, sessions } = await fx.start({}, { refuseNote: 13, crashOnNote: 14 });
  const c = await connect();
  await c.next('hello');
  const cases: [string | Buffer | Msg, string, RegExp][] = [
    ['not json at all', 'E_BAD_JSON', /not JSON/],
    ['{"type":"noteon"', 'E_BAD_JSON', /not JSON/],
    [Buffer.from([0x90, 60, 100]), 'E_BINARY_FRAME', /JSON text frame/],
    ['[]', 'E_BAD_MESSAGE', /JSON object/],
    ['42', 'E_BAD_MESSAGE', /JSON object/],
    [{ type: 'jump' }, 'E_BAD_MESSAGE', /unknown type "jump"/],
    [{ note: 60 }, 'E_BAD_MESSAGE', /no "type"/],
    [{ type: 'noteon', note: 'C4', velocity: 90 }, 'E_BAD_MESSAGE', /note must be a whole number from 0 to 127, got "C4"/],
    [{ type: 'noteon', note: 60, velocity: 128 }, 'E_BAD_MESSAGE', /velocity must be a whole number from 1 to 127/],
    [{ type: 'noteon', note: -1, velocity: 90 }, 'E_BAD_MESSAGE', /note must be/],
    [{ type: 'noteoff', note: 60, time: 'soon' }, 'E_BAD_MESSAGE', /time must be a number/],
    [{ type: 'cc', controller: 64 }, 'E_BAD_MESSAGE', /value is missing/],
    [{ type: 'settings', bpm: 'fast' }, 'E_BAD_MESSAGE', /bpm must be a number/],
    [{ type: 'settings', tempo: 100 }, 'E_BAD_MESSAGE', /no setting tempo/],
    [{ type: 'settings', silenceMs: 10 }, 'E_SETTING', /silenceMs/],
    [{ type: 'settings', minBars: 9, maxBars: 2 }, 'E_SETTING', /minBars/],
    [{ type: 'noteon', note: 13, velocity: 90 }, 'E_EVENT_INVALID', /refused/],
    [{ type: 'noteon', note: 14, velocity: 90 }, 'E_INTERNAL', /carries on/],
  ];
  for (const [frame, code, re] of cases) {
    c.send(frame);
    const e = await c.next('error');
    assert.is(e.code, code, `${String(frame)} -> ${e.message}`);
    assert.match(e.message, re);
  }
  // Nothing changed and the session goes on working.
  assert.is(sessions[0].settings.silenceMs, 120);
  assert.is(sessions[0].pushes.length, 0);
  c.send({ type: 'noteon', note: 60, velocity: 90 });
  await c.sync();
  assert.is(sessions[0].pushes.length, 1);
  assert.is(server.stats().invalid, 14, 'malformed frames are counted');
  assert.is(sessions.length, 1);
  assert.is(server.sessionCount, 1);
});

test('a frame over the payload limit closes with 1009; the server carries on', async () => {
  const { server, connect, sessions } = await fx.start();
  const c = await connect();
  await c.next('hello');
  c.send(JSON.stringify({ type: 'ping', t: 1, pad: 'x'.repeat(4200) }));
  const { code } = await c.closed;
  assert.is(code, 1009);
  await until(() => sessions[0].disposeCount === 1, 3000, 'dispose');
  const d = await connect();
  assert.is((await d.next('hello')).type, 'hello');
  await d.sync();
  assert.is(server.sessionCount, 1);
});

test('the rate limit drops the extra messages with one E_RATE_LIMIT per burst', async () => {
  let now = 1_000_000;
  const { server, connect } = await fx.start({ scheduler: schedulerWithClock(() => now), limits: { messagesPerSecond: 10, burst: 5 } });
  const c = await connect();
  await c.next('hello');
  for (let t = 1; t <= 20; t++) c.send({ type: 'ping', t });
  // The frames arrive with the clock stopped: only the burst passes.
  await until(() => server.stats().rateLimited === 15, 3000, '15 refusals');
  now += 10_000; // refills the bucket to its burst
  await c.sync(999);
  assert.equal(c.take('pong').map((m) => m.t), [1, 2, 3, 4, 5]);
  const errors = c.take('error');
  assert.is(errors.length, 1, 'once per burst, not per message');
  assert.is(errors[0].code, 'E_RATE_LIMIT');
  for (let t = 21; t <= 40; t++) c.send({ type: 'ping', t });
  await until(() => server.stats().rateLimited === 31, 3000, '31 refusals');
  now += 10_000;
  await c.sync(1999);
  assert.equal(c.take('pong').map((m) => m.t), [21, 22, 23, 24]);
  assert.is(c.take('error').length, 1, 'a new burst is reported again');
  assert.is(server.stats().rateLimited, 31);
});

test('disconnect in the middle of an answer: dispose is called and every tied output hears its notes end', async () => {
  const tied: { out: DuetOutput[]; complete: boolean; untied: boolean; outAtUntie: number } = { out: [], complete: false, untied: false, outAtUntie: -1 };
  const { server, connect, sessions } = await fx.start({
    tie: (session) => {
      // A MIDI output would subscribe like this and send what it gets.
      const sub = session.output$.subscribe({ next: (o) => tied.out.push(o), complete: () => (tied.complete = true) });
      return () => {
        tied.untied = true;
        tied.outAtUntie = tied.out.length;
        sub.unsubscribe();
      };
    },
  });
  const c = await connect();
  await c.next('hello');
  // Long notes, so the answer is still sounding when the client goes.
  c.send({ type: 'noteon', note: 60, velocity: 90 });
  c.send({ type: 'noteon', note: 64, velocity: 90 });
  await sleep(400);
  c.send({ type: 'noteoff', note: 60 });
  c.send({ type: 'noteoff', note: 64 });
  await c.next('noteon');
  await until(() => sessions[0].soundingCount === 2, 3000, 'both answer notes sounding');
  c.ws.terminate(); // no close handshake: the network went away
  await until(() => sessions[0].disposeCount > 0, 3000, 'dispose');
  await until(() => server.sessionCount === 0, 3000, 'the session to be gone');

  assert.is(sessions[0].disposeCount, 1, 'disposed once');
  assert.is(sessions[0].soundingCount, 0);
  const ons = tied.out.filter((o) => o.type === 'noteon').map((o) => (o as { note: number }).note).sort();
  const offs = tied.out.filter((o) => o.type === 'noteoff').map((o) => (o as { note: number }).note).sort();
  assert.equal(ons, [72, 76]);
  assert.equal(offs, [72, 76], 'every note the output played was switched off');
  assert.ok(tied.complete, 'output$ completed');
  assert.ok(tied.untied);
  assert.is(tied.outAtUntie, tied.out.length, 'the note-offs reached the output before it was untied');
});

/** Plays one 300 ms note and waits for the fake's answer to sound its first note. */
async function hearAnswerBegin(c: TestClient): Promise<void> {
  c.send({ type: 'noteon', note: 60, velocity: 90 });
  await sleep(300);
  c.send({ type: 'noteoff', note: 60 });
  await c.next('noteon');
}

test('a client closing normally mid-answer also ends its session', async () => {
  const { server, connect, sessions } = await fx.start();
  const c = await connect();
  await c.next('hello');
  await hearAnswerBegin(c);
  await c.close();
  await until(() => server.sessionCount === 0, 3000, 'session gone');
  assert.is(sessions[0].disposeCount, 1);
  assert.is(sessions[0].emitted.filter((o) => o.type === 'noteoff').length, 1, 'the sounding note got its note-off');
});

test('a client that stops reading is closed and its session ended', async () => {
  const { server, connect, sessions, logs } = await fx.start({ limits: { dropAboveBytes: 4096, closeAboveBytes: 16384 } });
  const c = await connect();
  await c.next('hello');
  // Stop reading: the kernel buffers fill, then the server's own buffer passes the threshold.
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  sessions[0].flood(1_000_000); // ~37 MB: more than loopback's socket buffers hold
  await until(() => sessions[0].disposeCount > 0, 8000, 'dispose after the stall');
  await until(() => server.sessionCount === 0, 8000, 'session gone');
  assert.ok(logs.some((l) => /stopped reading/.test(l)), logs.join('\n'));
  assert.is(sessions[0].disposeCount, 1);
  c.ws.terminate();
});

test('a session that cannot start is refused with an error and 1011, and the server carries on', async () => {
  const { server, connect } = await fx.start({
    createSession: () => {
      throw new Error('out of memory, say');
    },
  });
  const c = await connect();
  const e = await c.next('error');
  assert.is(e.code, 'E_INTERNAL');
  assert.is((await c.closed).code, 1011);
  assert.is(server.sessionCount, 0);
  assert.is(server.stats().opened, 0);
});

test('shutdown: sessions end with their note-offs sent, sockets close with 1001', async () => {
  const { server, connect, sessions } = await fx.start();
  const c = await connect();
  await c.next('hello');
  await hearAnswerBegin(c);
  await server.close();
  const off = await c.next('noteoff');
  assert.is(off.note, 72, 'the sounding AI note was switched off on the client');
  assert.is((await c.closed).code, 1001);
  assert.is(sessions[0].disposeCount, 1);
  assert.is(server.sessionCount, 0);
});

test('nothing is left open', async () => {
  await fx.closeAll();
  assert.equal(await openTcpHandles(), []);
});

test.run();
