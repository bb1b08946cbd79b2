// The answer sink: exact bytes on the wire, look-ahead cancellation, panic on every path
// (dispose, port close, unplug, signals, crashes), and no timer left behind.

import { EventEmitter } from 'node:events';
import { VirtualTimeScheduler } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DuetOutput } from '../src/engine/duet/types.ts';
import { FakePort } from '../src/io/ports/fake-port.ts';
import { NoteSink } from '../src/io/ports/note-sink.ts';
import { installPanicHandlers, panicAll, registerPanic, registeredPanicCount, type ProcessLike } from '../src/io/ports/panic-registry.ts';
import { silentLogger, type PortLogger } from '../src/io/ports/types.ts';
import { advanceTo } from './helpers/port-contract.ts';

const on = (note: number, time: number, channel = 0, velocity = 100): DuetOutput => ({ type: 'noteon', note, velocity, channel, time });
const off = (note: number, time: number, channel = 0): DuetOutput => ({ type: 'noteoff', note, channel, time });

function setup(options: { maxScheduled?: number; logger?: PortLogger } = {}) {
  const scheduler = new VirtualTimeScheduler();
  const port = new FakePort('Synth', { logger: options.logger });
  const sink = new NoteSink(port, { scheduler, register: false, logger: silentLogger, ...options });
  return { scheduler, port, sink };
}

/** Two notes sounding on channels 0 and 9, a pending one on channel 3. */
function soundTwo(s: ReturnType<typeof setup>) {
  s.sink.handle(on(60, 10, 0, 90));
  s.sink.handle(on(38, 20, 9, 110));
  s.sink.handle(on(72, 500, 3)); // still in the look-ahead
  advanceTo(s.scheduler, 30);
  assert.equal(s.port.sent, [[0x90, 60, 90], [0x99, 38, 110]]);
  s.port.sent.length = 0;
}

const PANIC_0_9 = [
  [0x80, 60, 0], [0x89, 38, 0], // (1) a note-off for every sounding note
  [0xb0, 64, 0], [0xb9, 64, 0], // (2) sustain pedal up
  [0xb0, 120, 0], [0xb0, 123, 0], [0xb9, 120, 0], [0xb9, 123, 0], // (3) all sound off, all notes off, per channel used
];

test('panic sends exactly: note-offs, then CC64 0, then CC120 and CC123 on each channel used (not on unused 3)', () => {
  const s = setup();
  soundTwo(s);
  s.sink.panic();
  assert.equal(s.port.sent, PANIC_0_9);
  advanceTo(s.scheduler, 1000);
  assert.equal(s.port.sent, PANIC_0_9, 'the pending note on channel 3 never plays');
  assert.is(s.sink.pendingCount, 0);
  assert.equal(s.sink.soundingNotes(), []);
});

test('a second panic with nothing played since sends nothing; the sink plays on afterwards', () => {
  const s = setup();
  soundTwo(s);
  s.sink.panic();
  s.port.sent.length = 0;
  s.sink.panic();
  assert.equal(s.port.sent, []);
  s.sink.handle(on(61, 40));
  advanceTo(s.scheduler, 40);
  assert.equal(s.port.sent, [[0x90, 61, 100]]);
  assert.equal(s.sink.usedChannels(), [0]);
});

test('dispose panics with the same bytes and leaves no timer on the scheduler', () => {
  const s = setup();
  soundTwo(s);
  s.sink.handle(off(60, 800));
  assert.ok(s.scheduler.actions.length > 0);
  s.sink.dispose();
  assert.equal(s.port.sent, PANIC_0_9);
  assert.is(s.scheduler.actions.length, 0, 'no pending timers');
  s.sink.handle(on(50, 900));
  assert.is(s.scheduler.actions.length, 0, 'a disposed sink schedules nothing');
});

test('closing the output port panics first, while the port can still send', () => {
  const s = setup();
  soundTwo(s);
  s.port.close();
  assert.equal(s.port.sent, PANIC_0_9);
  assert.ok(s.port.closed);
  assert.is(s.scheduler.actions.length, 0);
});

test('an unplugged output cannot be sent to, but the sink still forgets its notes and timers', () => {
  const s = setup();
  soundTwo(s);
  s.port.unplug();
  assert.equal(s.port.sent, []);
  assert.equal(s.sink.soundingNotes(), []);
  assert.is(s.scheduler.actions.length, 0);
});

test('a pending look-ahead note-on is cancelled by an early note-off: nothing is sent for it', () => {
  const s = setup();
  advanceTo(s.scheduler, 1000);
  s.sink.handle(on(67, 1075)); // emitted 75 ms ahead
  s.sink.handle(on(71, 1075));
  advanceTo(s.scheduler, 1010);
  s.sink.handle(off(67, 1010)); // barge-in at 1010
  assert.is(s.sink.pendingCount, 1);
  advanceTo(s.scheduler, 1200);
  assert.equal(s.port.sent, [[0x90, 71, 100]]);
  assert.equal(s.sink.soundingNotes(), [[0, 71]]);
});

test('a repeated note: each note-off ends the oldest open note-on of that key', () => {
  const s = setup();
  s.sink.handle(on(60, 100));
  s.sink.handle(off(60, 200));
  s.sink.handle(on(60, 200));
  s.sink.handle(off(60, 300));
  advanceTo(s.scheduler, 199);
  assert.equal(s.port.sent, [[0x90, 60, 100]]);
  advanceTo(s.scheduler, 400);
  assert.equal(s.port.sent, [[0x90, 60, 100], [0x80, 60, 0], [0x90, 60, 100], [0x80, 60, 0]]);
  assert.equal(s.sink.soundingNotes(), []);
  assert.is(s.sink.pendingCount, 0);
});

test('a note-off for a note the sink never started sends nothing (it could end someone else’s note)', () => {
  const s = setup();
  s.sink.handle(off(60, 0));
  advanceTo(s.scheduler, 10);
  assert.equal(s.port.sent, []);
});

test('late notes play at once; malformed ones are refused with a warning', () => {
  const warned: string[] = [];
  const s = setup({ logger: { ...silentLogger, warn: (m) => warned.push(m) } });
  advanceTo(s.scheduler, 500);
  s.sink.handle(on(60, 100));
  s.sink.handle({ type: 'noteon', note: 128, velocity: 1, channel: 0, time: 600 });
  s.sink.handle({ type: 'noteon', note: 60, velocity: 1, channel: 16, time: 600 });
  advanceTo(s.scheduler, 500);
  assert.equal(s.port.sent, [[0x90, 60, 100]]);
  assert.is(warned.length, 2);
});

test('maxScheduled caps the notes waiting, with one warning', () => {
  const warned: string[] = [];
  const s = setup({ maxScheduled: 3, logger: { ...silentLogger, warn: (m) => warned.push(m) } });
  for (let i = 0; i < 6; i += 1) s.sink.handle(on(60 + i, 100));
  assert.is(s.sink.pendingCount, 3);
  assert.is(warned.length, 1);
  advanceTo(s.scheduler, 100);
  assert.is(s.port.sent.length, 3);
});

test('a send that throws in the driver is logged, closes the port, and panics cleanly', () => {
  const errors: unknown[] = [];
  const s = setup({ logger: { ...silentLogger, error: (_m, e) => errors.push(e) } });
  s.sink.handle(on(60, 10));
  s.sink.handle(on(62, 20));
  s.port.failSends(new Error('EIO'));
  advanceTo(s.scheduler, 10); // the first send fails
  assert.ok(s.port.closed);
  assert.is((errors[0] as Error).message, 'EIO');
  advanceTo(s.scheduler, 100);
  assert.is(s.scheduler.actions.length, 0, 'the closed port cancelled the rest');
  assert.equal(s.port.sent, []);
});

test('sinks join the process registry; panicAll silences every one and dispose leaves it', () => {
  const before = registeredPanicCount();
  const a = new FakePort('A');
  const b = new FakePort('B');
  const scheduler = new VirtualTimeScheduler();
  const sa = new NoteSink(a, { scheduler });
  const sb = new NoteSink(b, { scheduler });
  assert.is(registeredPanicCount(), before + 2);
  sa.handle(on(60, 0, 1));
  sb.handle(on(64, 0, 2));
  advanceTo(scheduler, 0);
  a.sent.length = b.sent.length = 0;
  assert.equal(panicAll(), []);
  assert.equal(a.sent, [[0x81, 60, 0], [0xb1, 64, 0], [0xb1, 120, 0], [0xb1, 123, 0]]);
  assert.equal(b.sent, [[0x82, 64, 0], [0xb2, 64, 0], [0xb2, 120, 0], [0xb2, 123, 0]]);
  sa.dispose();
  sb.dispose();
  assert.is(registeredPanicCount(), before);
});

function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  const proc: ProcessLike = {
    on: (e, l) => emitter.on(e, l),
    prependListener: (e, l) => emitter.prependListener(e, l),
    removeListener: (e, l) => emitter.removeListener(e, l),
    listenerCount: (e) => emitter.listenerCount(e),
    exit: (code) => void exits.push(code ?? 0),
  };
  return { emitter, proc, exits };
}

test('shutdown: SIGINT and SIGTERM panic every sink, then exit 130/143 when no one else handles the signal', () => {
  const { emitter, proc, exits } = fakeProcess();
  const remove = installPanicHandlers({ process: proc, report: () => {} });
  const scheduler = new VirtualTimeScheduler();
  const port = new FakePort('Shutdown');
  const sink = new NoteSink(port, { scheduler });
  sink.handle(on(60, 0, 0));
  advanceTo(scheduler, 0);
  port.sent.length = 0;
  emitter.emit('SIGINT');
  assert.equal(port.sent, [[0x80, 60, 0], [0xb0, 64, 0], [0xb0, 120, 0], [0xb0, 123, 0]]);
  assert.equal(exits, [130]);
  const serverOwnHandler = () => {};
  emitter.on('SIGTERM', serverOwnHandler);
  emitter.emit('SIGTERM');
  assert.equal(exits, [130], 'another SIGTERM handler owns the exit');
  remove();
  assert.is(emitter.listenerCount('SIGINT'), 0);
  assert.is(emitter.listenerCount('SIGTERM'), 1);
  sink.dispose();
});

test("a graceful shutdown handler installed earlier, which removes itself when it runs, is not cut short by exit", () => {
  const { emitter, proc, exits } = fakeProcess();
  const graceful = () => emitter.removeListener('SIGINT', graceful); // like serve's onShutdownSignal
  emitter.on('SIGINT', graceful);
  const remove = installPanicHandlers({ process: proc, report: () => {} });
  emitter.emit('SIGINT');
  assert.equal(exits, [], 'the first Ctrl-C is the server\'s to finish');
  emitter.emit('SIGINT');
  assert.equal(exits, [130], 'a second Ctrl-C, with no one else listening, exits');
  remove();
});

test('an uncaught error and process exit panic too (uncaughtExceptionMonitor leaves the crash to Node)', () => {
  const { emitter, proc } = fakeProcess();
  const remove = installPanicHandlers({ process: proc, report: () => {} });
  const scheduler = new VirtualTimeScheduler();
  const port = new FakePort('Crash');
  const sink = new NoteSink(port, { scheduler });
  sink.handle(on(50, 0, 5));
  advanceTo(scheduler, 0);
  port.sent.length = 0;
  emitter.emit('uncaughtExceptionMonitor', new Error('boom'), 'uncaughtException');
  assert.equal(port.sent, [[0x85, 50, 0], [0xb5, 64, 0], [0xb5, 120, 0], [0xb5, 123, 0]]);
  assert.is(emitter.listenerCount('uncaughtException'), 0, 'no uncaughtException handler, so Node still crashes');
  sink.handle(on(51, 0, 6));
  advanceTo(scheduler, 0);
  port.sent.length = 0;
  emitter.emit('exit', 0);
  assert.equal(port.sent, [[0x86, 51, 0], [0xb6, 64, 0], [0xb6, 120, 0], [0xb6, 123, 0]]);
  remove();
  assert.is(emitter.listenerCount('exit'), 0);
  sink.dispose();
});

test('one sink failing to panic does not stop the others', () => {
  const scheduler = new VirtualTimeScheduler();
  const good = new FakePort('Good');
  const sink = new NoteSink(good, { scheduler });
  sink.handle(on(60, 0));
  advanceTo(scheduler, 0);
  good.sent.length = 0;
  const remove = registerPanic({
    panic: () => {
      throw new Error('bad sink');
    },
  });
  const errors = panicAll();
  remove();
  assert.is(errors.length, 1);
  assert.equal(good.sent, [[0x80, 60, 0], [0xb0, 64, 0], [0xb0, 120, 0], [0xb0, 123, 0]]);
  sink.dispose();
});

test.run();
