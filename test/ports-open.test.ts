// Finding and opening ports: name matching, virtual ports, Windows, serve's flags, startMidiDuet,
// and the ports command's output, all against a fake backend so they run on any machine.

import { VirtualTimeScheduler } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { midiServeConfig, runPorts } from '../src/cli/commands/ports.ts';
import { AntiphonError } from '../src/errors.ts';
import { FakeMidiBackend, FakePort } from '../src/io/ports/fake-port.ts';
import { matchPortName } from '../src/io/ports/match-port.ts';
import { openMidiPorts } from '../src/io/ports/open-ports.ts';
import { startMidiDuet } from '../src/io/ports/start-midi-duet.ts';
import { silentLogger, type MidiBackend } from '../src/io/ports/types.ts';
import { FakeDuetSession } from './helpers/fake-duet-session.ts';
import { advanceTo } from './helpers/port-contract.ts';

async function rejects(p: Promise<unknown> | (() => unknown), code: string): Promise<AntiphonError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, AntiphonError);
    assert.is((e as AntiphonError).code, code, (e as Error).message);
    return e as AntiphonError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const INPUTS = ['Digital Piano:Digital Piano MIDI 1 20:0', 'Midi Through:Midi Through Port-0 14:0', 'nanoKEY2:nanoKEY2 MIDI 1 24:0', 'Piano', 'piano 2'];

test('matching: exact name first, even when it is also a substring of others', async () => {
  assert.is(matchPortName('Piano', INPUTS, 'input'), 'Piano');
});

test('matching: a unique case-insensitive full name, then a unique substring', async () => {
  assert.is(matchPortName('PIANO 2', INPUTS, 'input'), 'piano 2');
  assert.is(matchPortName('nanokey', INPUTS, 'input'), 'nanoKEY2:nanoKEY2 MIDI 1 24:0');
  assert.is(matchPortName('through', INPUTS, 'input'), 'Midi Through:Midi Through Port-0 14:0');
});

test('matching: an ambiguous substring lists the candidates', async () => {
  const e = await rejects(() => matchPortName('midi 1', INPUTS, 'input'), 'E_MIDI_PORT_AMBIGUOUS');
  assert.match(e.message, '"Digital Piano:Digital Piano MIDI 1 20:0"');
  assert.match(e.message, '"nanoKEY2:nanoKEY2 MIDI 1 24:0"');
  assert.not.match(e.message, 'Through');
});

test('matching: no match lists what exists; none at all says so', async () => {
  const e = await rejects(() => matchPortName('Moog', INPUTS, 'output'), 'E_MIDI_PORT_NOT_FOUND');
  for (const n of INPUTS) assert.match(e.message, JSON.stringify(n));
  const none = await rejects(() => matchPortName('Moog', [], 'input'), 'E_MIDI_PORT_NOT_FOUND');
  assert.match(none.message, 'no MIDI inputs at all');
  await rejects(() => matchPortName('  ', INPUTS, 'input'), 'E_USAGE');
});

test('openMidiPorts: --midi-in / --midi-out by substring open those ports, not virtual ones', async () => {
  const backend = new FakeMidiBackend(INPUTS, ['Synth A', 'Synth B']);
  const ports = await openMidiPorts({ input: 'nanokey', output: 'synth b' }, backend);
  assert.is(ports.input?.name, 'nanoKEY2:nanoKEY2 MIDI 1 24:0');
  assert.is(ports.output?.name, 'Synth B');
  assert.not.ok(ports.input?.virtual || ports.output?.virtual);
  ports.input?.close();
  ports.output?.close();
});

test('openMidiPorts: --virtual makes "Antiphon In" and "Antiphon Out", or NAME In / NAME Out', async () => {
  const backend = new FakeMidiBackend();
  const a = await openMidiPorts({ virtual: 'Antiphon', platform: 'linux' }, backend);
  assert.equal([a.input?.name, a.output?.name, a.input?.virtual, a.output?.virtual], ['Antiphon In', 'Antiphon Out', true, true]);
  const b = await openMidiPorts({ virtual: 'Duet', platform: 'darwin' }, backend);
  assert.equal([b.input?.name, b.output?.name], ['Duet In', 'Duet Out']);
  const c = await openMidiPorts({ virtual: 'Duet2', input: 'Piano', platform: 'linux' }, new FakeMidiBackend(INPUTS));
  assert.equal([c.input?.name, c.input?.virtual, c.output?.name], ['Piano', false, 'Duet2 Out'], 'a named side replaces its virtual port');
  for (const p of [a, b, c]) (p.input?.close(), p.output?.close());
});

test('openMidiPorts: --virtual on Windows is E_VIRTUAL_UNSUPPORTED pointing to loopMIDI, before any MIDI code loads', async () => {
  let loaded = false;
  const e = await rejects(
    openMidiPorts({ virtual: 'Antiphon', platform: 'win32' }, async () => {
      loaded = true;
      return new FakeMidiBackend();
    }),
    'E_VIRTUAL_UNSUPPORTED',
  );
  assert.match(e.message, 'loopMIDI');
  assert.match(e.message, 'RtMidi');
  assert.not.ok(loaded);
});

test('openMidiPorts: asking for nothing opens nothing and loads nothing', async () => {
  const ports = await openMidiPorts({}, async () => assert.unreachable('loaded a backend') as never);
  assert.equal(ports, {});
});

test('openMidiPorts: when the output fails, the input already opened is closed again', async () => {
  const backend = new FakeMidiBackend(['Keys'], ['Synth'], { failOpen: 'Synth' });
  await openMidiPorts({ input: 'Keys', output: 'Synth' }, backend).then(
    () => assert.unreachable('opened'),
    (e: Error) => assert.match(e.message, 'cannot open Synth'),
  );
  assert.is(backend.opened.length, 1);
  assert.ok(backend.opened[0].closed);
  await rejects(openMidiPorts({ input: 'Keys', output: 'Moog' }, new FakeMidiBackend(['Keys'], ['Synth'])), 'E_MIDI_PORT_NOT_FOUND');
});

test('startMidiDuet: opens the ports, makes its own session with the answer channel, binds, disposes both', async () => {
  const scheduler = new VirtualTimeScheduler();
  const backend = new FakeMidiBackend(['Keys'], ['Synth']);
  let session: FakeDuetSession | undefined;
  const duet = await startMidiDuet(
    { request: { input: 'keys', output: 'synth' }, inputChannel: 0, aiChannel: 5, echoWindowMs: 0 },
    (options) => {
      assert.is(options.scheduler, scheduler);
      assert.equal(options.settings, { aiChannel: 5 });
      session = new FakeDuetSession({ scheduler: options.scheduler, settings: { ...options.settings, silenceMs: 100, lookaheadMs: 50 } });
      return session;
    },
    { scheduler, backend, logger: silentLogger },
  );
  assert.ok(duet);
  assert.is(duet!.binding.echo, undefined, 'echo window 0 turns suppression off');
  const [keys, synth] = backend.opened;
  keys.inject([0x91, 60, 100]); // channel 2: filtered out
  keys.inject([0x90, 60, 100]);
  advanceTo(scheduler, 100);
  keys.inject([0x80, 60, 0]);
  advanceTo(scheduler, 1000);
  assert.equal(synth.sent.slice(0, 2), [[0x95, 72, 100], [0x85, 72, 0]]);
  assert.is(session!.pushes.length, 2);
  duet!.dispose();
  assert.ok(session!.disposed && keys.closed && synth.closed);
});

test('startMidiDuet: null without a port request; no session and no port left when opening fails', async () => {
  assert.is(await startMidiDuet({ request: {} }, () => assert.unreachable('session made') as never), null);
  const backend = new FakeMidiBackend(['Keys'], []);
  let made = 0;
  await rejects(startMidiDuet({ request: { input: 'Keys', output: 'Synth' } }, () => (made++, new FakeDuetSession()), { backend }), 'E_MIDI_PORT_NOT_FOUND');
  assert.is(made, 0);
  assert.ok(backend.opened.every((p) => p.closed));
});

test("serve's flags: channels 1-16 become 0-15, --virtual takes its NAME as the positional", () => {
  assert.equal(midiServeConfig({}, []), { request: { input: undefined, output: undefined, virtual: undefined }, inputChannel: 'all' });
  assert.equal(midiServeConfig({ 'midi-in': 'Piano', 'midi-channel': '10', 'answer-channel': '1', 'echo-window': '40' }, []), {
    request: { input: 'Piano', output: undefined, virtual: undefined },
    inputChannel: 9,
    aiChannel: 0,
    echoWindowMs: 40,
  });
  assert.is(midiServeConfig({ virtual: true }, []).request.virtual, 'Antiphon');
  assert.is(midiServeConfig({ virtual: true }, ['My Duet']).request.virtual, 'My Duet');
  assert.is(midiServeConfig({ 'midi-channel': 'ALL' }, []).inputChannel, 'all');
});

test("serve's flags: bad values are E_USAGE naming the flag", async () => {
  for (const [values, positionals, flag] of [
    [{ 'midi-channel': '0' }, [], '--midi-channel'],
    [{ 'midi-channel': '17' }, [], '--midi-channel'],
    [{ 'answer-channel': 'all' }, [], '--answer-channel'],
    [{ 'echo-window': '-5' }, [], '--echo-window'],
    [{}, ['stray'], 'stray'],
    [{ virtual: true }, ['a', 'b'], '"b"'],
  ] as Array<[Record<string, unknown>, string[], string]>) {
    const e = await rejects(() => midiServeConfig(values, positionals), 'E_USAGE');
    assert.match(e.message, flag);
  }
});

test('antiphon ports: lists inputs and outputs, as text and as --json', async () => {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: () => {}, tty: false };
  const backend: MidiBackend = new FakeMidiBackend(['Keys A', 'Keys B'], []);
  const list = async () => ({ inputs: backend.listInputs(), outputs: backend.listOutputs() });
  assert.is(await runPorts({}, [], io, list), 0);
  assert.equal(out, ['MIDI inputs (2):', '  Keys A', '  Keys B', 'MIDI outputs: none']);
  out.length = 0;
  assert.is(await runPorts({ json: true }, [], io, list), 0);
  assert.equal(JSON.parse(out[0]), { inputs: ['Keys A', 'Keys B'], outputs: [] });
  await rejects(runPorts({}, ['x'], io, list), 'E_USAGE');
});

test('a fake port closes once, however many times it is closed', () => {
  const p = new FakePort('Once');
  let n = 0;
  p.closed$.subscribe(() => n++);
  p.close();
  p.close();
  p.unplug();
  assert.is(n, 1);
  let late: unknown;
  p.closed$.subscribe((c) => (late = c));
  assert.equal(late, { reason: 'closed' }, 'a late subscriber still learns why');
});

test.run();
