// The load benchmark's machinery, briefly, with the fake session: every call answered, nothing
// lost, the figures present. (The benchmark itself runs 16 sessions for 60 s on the real model.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runLoadBench } from '../bench/load.ts';
import { fakeSessions } from './helpers/fake-duet-session.ts';
import { FAKE_MODEL, openTcpHandles } from './helpers/ws-client.ts';

test('runLoadBench: concurrent sessions play calls, every call is answered, no message is lost', async () => {
  const fake = fakeSessions();
  const r = await runLoadBench({ createSession: fake.create, model: FAKE_MODEL, sessions: 4, durationMs: 1500, bars: 1, bpm: 240, silenceMs: 150 });
  assert.is(r.sessions, 4);
  assert.is(fake.sessions.length, 4);
  assert.ok(r.calls >= 4, `calls ${r.calls}`);
  assert.is(r.answers, r.calls, 'the echo answers every call');
  assert.is(fake.sessions.reduce((a, s) => a + s.answers, 0), r.calls);
  assert.is(r.messagesLost, 0);
  assert.ok(Number.isFinite(r.firstAnswerP50Ms) && Number.isFinite(r.firstAnswerP99Ms));
  assert.ok(r.firstAnswerP99Ms >= r.firstAnswerP50Ms);
  assert.ok(r.rssMb > 0);
  assert.is(r.engineFirstAnswerP50Ms, null, 'the fake keeps no engine timings');
  for (const s of fake.sessions) assert.is(s.disposeCount, 1);
  assert.equal(await openTcpHandles(), []);
});

test.run();
