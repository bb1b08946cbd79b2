// `antiphon serve` end to end with the real duet session on a tiny random model: the printed URL,
// hello with the model card, a call answered, tensors freed on disconnect, and a clean stop on
// SIGINT (sessions closed with 1001, exit code 0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServe, serveCommand } from '../src/cli/commands/serve.ts';
import { helpText } from '../src/cli/command.ts';
import { saveModel } from '../src/engine/model/checkpoint.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import type { AntiphonServer } from '../src/server/server.ts';
import { engineBackend, tf, tinyConfig } from './helpers/engine-setup.ts';
import { openTcpHandles, TestClient, until, within } from './helpers/ws-client.ts';

const root = mkdtempSync(join(tmpdir(), 'antiphon-serve-'));
const modelDir = join(root, 'tiny');

test.before(async () => {
  await engineBackend();
  const model = CPTransformer.create(tinyConfig({ contextLength: 256, nKeep: 8 }), 11);
  await saveModel(model, modelDir, { name: 'tiny-serve', description: 'random weights for the serve test', dataSources: [], trainingSteps: 0, metrics: {}, date: '2026-01-01T00:00:00Z' });
  model.dispose();
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), tty: false } };
}

test('serve --help documents every door and limit with its default', () => {
  const help = helpText(serveCommand);
  for (const flag of ['--host', '--port', '--model', '--backend', '--token', '--allow-host', '--allow-origin', '--static', '--max-payload', '--rate', '--burst', '--ping-interval', '--drop-above', '--close-above', '--max-sessions', '--midi-in', '--midi-out', '--virtual']) {
    assert.match(help, flag);
  }
  for (const d of ['default 127.0.0.1', 'default 8080', 'default models/default', '(default 4096)', '(default 2000)', '(default 30000)', '1009', '1008', '403', 'E_RATE_LIMIT']) assert.match(help, d);
});

test('a missing model folder is E_MODEL_MISSING, saying how to get one', async () => {
  const { io } = capture();
  try {
    await runServe({ model: join(root, 'nope'), port: '0' }, [], io, { panicHandlers: false });
    assert.unreachable('started');
  } catch (e) {
    const err = e as { code: string; message: string };
    assert.is(err.code, 'E_MODEL_MISSING');
    assert.match(err.message, /antiphon train/);
    assert.match(err.message, /--model DIR/);
  }
});

test('bad flags are usage errors before anything loads', async () => {
  const { io } = capture();
  for (const [values, re] of [
    [{ port: '70000' }, /--port/],
    [{ rate: '0' }, /--rate/],
    [{ token: 'short' }, /--token/],
    [{ backend: 'gpu' }, /--backend/],
  ] as [Record<string, unknown>, RegExp][]) {
    try {
      await runServe({ model: join(root, 'nope'), ...values }, [], io, { panicHandlers: false });
      assert.unreachable('started');
    } catch (e) {
      assert.is((e as { code: string }).code, 'E_USAGE');
      assert.match((e as Error).message, re);
    }
  }
});

test('serve: URL printed, hello with the model card, a call answered, tensors freed on disconnect, SIGINT stops it', async () => {
  const signals = new EventEmitter();
  const { out, err, io } = capture();
  let server: AntiphonServer | null = null;
  const running = runServe({ model: modelDir, port: '0', backend: 'wasm', 'engine-workers': '0' }, [], io, { signals, panicHandlers: false, onListening: (s) => (server = s) });
  running.catch(() => {});
  await until(() => server !== null, 20_000, 'the server to listen');
  const s = server!;
  assert.match(out.join('\n'), new RegExp(`Open http://127\\.0\\.0\\.1:${s.port}/ in a browser`));
  assert.not.match(out.join('\n'), /token=/, 'no token on loopback');
  assert.match(err.join('\n'), /model: tiny-serve/);

  const health = await fetch(`http://127.0.0.1:${s.port}/health`).then((r) => r.json());
  assert.equal({ ok: health.ok, model: health.model, sessions: health.sessions }, { ok: true, model: 'tiny-serve', sessions: 0 });

  const baseline = tf.memory().numTensors;
  const c = await TestClient.open(`ws://127.0.0.1:${s.port}/ws`);
  const hello = await c.next('hello');
  assert.is(hello.model.name, 'tiny-serve');
  assert.is(hello.model.description, 'random weights for the serve test');
  assert.type(hello.model.parameters, 'number');
  assert.is(hello.settings.silenceMs, 600, "the real session's defaults");

  c.send({ type: 'settings', tempoSource: 'fixed', bpm: 120, maxBars: 1 });
  assert.is((await c.next('settings')).settings.bpm, 120);
  // Two beats of eighth notes, then the hand-off.
  const start = Date.now();
  for (let i = 0; i < 4; i++) {
    const note = 60 + 2 * i;
    c.send({ type: 'noteon', note, velocity: 90, time: Date.now() - start });
    await new Promise((r) => setTimeout(r, 120));
    c.send({ type: 'noteoff', note, time: Date.now() - start });
    await new Promise((r) => setTimeout(r, 120));
  }
  c.send({ type: 'handoff', time: Date.now() - start });
  await c.next((m) => m.type === 'state' && m.turn === 'answering', 20_000);
  assert.ok(tf.memory().numTensors > baseline, 'the session holds tensors (its KV cache)');

  await c.close();
  await until(() => s.sessionCount === 0, 10_000, 'the session to end');
  assert.is(tf.memory().numTensors, baseline, "the session's tensors were freed");
  assert.equal(c.received.filter((m) => m.type === 'error'), [], 'no errors');

  // A second client is open when SIGINT comes.
  const d = await TestClient.open(`ws://127.0.0.1:${s.port}/ws`);
  await d.next('hello');
  signals.emit('SIGINT');
  assert.is(await within(running, 10_000, 'serve did not stop'), 0, 'exit code 0');
  assert.is((await d.closed).code, 1001);
  assert.is(s.sessionCount, 0);
  assert.match(err.join('\n'), /SIGINT: ending 1 session/);
  assert.is(signals.listenerCount('SIGINT'), 0, 'signal handlers removed');
});

test('nothing is left open', async () => {
  rmSync(root, { recursive: true, force: true });
  assert.equal(await openTcpHandles(), []);
});

test.run();
