// Sessions hosted in engine worker threads: the proxy keeps the session contract (settings
// refused on the spot, note-offs first on dispose, a recording), workers start as sessions need
// them, and every tensor a session made is freed in its worker.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { EngineWorkerPool } from '../src/server/engine-workers/pool.ts';
import type { DuetOutput, DuetSessionApi } from '../src/engine/duet/types.ts';
import { FakeDuetSession } from './helpers/fake-duet-session.ts';

const test = suite('engine workers');
const MODEL = fileURLToPath(new URL('../models/default', import.meta.url));

function collect(s: DuetSessionApi): { outs: DuetOutput[]; done: Promise<void> } {
  const outs: DuetOutput[] = [];
  const done = new Promise<void>((resolve) => s.output$.subscribe({ next: (o) => outs.push(o), complete: () => resolve() }));
  return { outs, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A one-bar call at 120 BPM, in real time. */
async function playCall(s: DuetSessionApi, notes = [60, 64, 67, 72]): Promise<void> {
  for (const note of notes) {
    s.push({ type: 'noteon', note, velocity: 90, time: Date.now() });
    await sleep(200);
    s.push({ type: 'noteoff', note, time: Date.now() });
    await sleep(50);
  }
}

test('a call is answered by a session in a worker; settings are checked on the spot; dispose switches every AI note off first', async () => {
  const pool = new EngineWorkerPool({ modelDir: MODEL, backend: 'wasm', workers: 2 });
  await pool.start();
  try {
    const [base] = await pool.memory();
    const s = pool.createSession({ seed: 3, settings: { tempoSource: 'fixed', bpm: 120, silenceMs: 300, minBars: 2, sampling: { type: { temperature: 0.8 } } } });
    const { outs, done } = collect(s);
    assert.throws(() => s.update({ silenceMs: 5 }), (e: { code: string }) => e.code === 'E_SETTING');
    assert.is(s.settings.silenceMs, 300, 'a refused setting changes nothing');
    assert.is(s.update({ lookaheadMs: 60 }).lookaheadMs, 60);
    // Garbage reaches the worker (which answers with an error) but never the recording.
    s.push({ type: 'noteon', note: 200, velocity: 90, time: Date.now() } as never);
    await playCall(s);
    await until('the answer', () => outs.some((o) => o.type === 'state' && o.turn === 'answering'));
    await until('an AI note', () => outs.some((o) => o.type === 'noteon'), 10_000);
    assert.is(s.turn, 'answering');
    const mid = await pool.memory();
    assert.ok(mid[0].numTensors > base.numTensors, 'the session holds its cache in the worker');
    s.dispose();
    await done;
    // Every note-on has its note-off by the time output$ completes.
    const open = new Set<string>();
    for (const o of outs) {
      if (o.type === 'noteon') open.add(`${o.channel}:${o.note}`);
      if (o.type === 'noteoff') open.delete(`${o.channel}:${o.note}`);
    }
    assert.equal([...open], []);
    assert.ok(outs.some((o) => o.type === 'error' && o.code === 'E_EVENT_INVALID'));
    const rec = s.recording();
    assert.is(rec.person.length, 4, 'the four notes played, not the refused one');
    assert.ok(rec.ai.length >= 1);
    let after = await pool.memory();
    for (let i = 0; i < 50 && after[0].sessions > 0; i++) {
      await sleep(20);
      after = await pool.memory();
    }
    assert.is(after[0].sessions, 0);
    assert.is(after[0].numTensors, base.numTensors, 'every tensor the session made is freed');
  } finally {
    await pool.close();
  }
});

test('workers start as sessions need them, up to the limit, and sessions spread over them', async () => {
  const pool = new EngineWorkerPool({ modelDir: MODEL, backend: 'wasm', workers: 2 });
  await pool.start();
  try {
    assert.is(pool.workerCount, 1);
    const a = pool.createSession({});
    assert.is(pool.workerCount, 1, 'the first session takes the idle worker');
    const b = pool.createSession({});
    assert.is(pool.workerCount, 2, 'a second session starts the second worker');
    const c = pool.createSession({});
    assert.is(pool.workerCount, 2, 'never more than the limit');
    const mem = await pool.memory();
    assert.equal(mem.map((m) => m.sessions).sort(), [1, 2]);
    for (const s of [a, b, c]) s.dispose();
  } finally {
    await pool.close();
  }
});

test('with a local factory the first session plays in this thread, and workers start only for more', async () => {
  const local: FakeDuetSession[] = [];
  const pool = new EngineWorkerPool({ modelDir: MODEL, backend: 'wasm', workers: 1, local: (o) => {
    const s = new FakeDuetSession(o);
    local.push(s);
    return s;
  } });
  await pool.start();
  try {
    assert.is(pool.workerCount, 0, 'no worker for one performer');
    const a = pool.createSession({});
    assert.is(local.length, 1);
    assert.is(pool.workerCount, 0);
    const b = pool.createSession({});
    assert.is(local.length, 1, 'the second session at once goes to a worker');
    assert.is(pool.workerCount, 1);
    a.dispose();
    const c = pool.createSession({});
    assert.is(local.length, 2, 'the thread is free again once its session ended');
    for (const s of [b, c]) s.dispose();
  } finally {
    await pool.close();
  }
});

test('a bad workSliceWords is refused before any worker starts', () => {
  assert.throws(() => new EngineWorkerPool({ modelDir: MODEL, backend: 'wasm', workSliceWords: 0 }), /workSliceWords/);
});

test('a bad model folder fails at start, with the loader error code', async () => {
  const pool = new EngineWorkerPool({ modelDir: fileURLToPath(new URL('./fixtures', import.meta.url)), backend: 'wasm', workers: 1 });
  try {
    await pool.start();
    assert.unreachable('start should fail');
  } catch (e) {
    assert.match((e as { code: string }).code, /^E_MODEL_/);
  } finally {
    await pool.close();
  }
});

test.run();
