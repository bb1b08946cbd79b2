// A session bound to fake ports: a call and its answer, clock following, self-echo through a DAW
// loop, throwing callbacks, panic on every ending, and nothing left behind after dispose.

import { VirtualTimeScheduler } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiphonError } from '../src/errors.ts';
import { bindSessionToPorts, type BindOptions } from '../src/io/ports/bind-session.ts';
import { EchoFilter } from '../src/io/ports/echo-filter.ts';
import { FakePort } from '../src/io/ports/fake-port.ts';
import { registeredPanicCount } from '../src/io/ports/panic-registry.ts';
import { recordingLogger } from './helpers/recording-logger.ts';
import { FakeDuetSession } from './helpers/fake-duet-session.ts';
import { advanceTo } from './helpers/port-contract.ts';


function rig(options: { silenceMs?: number; lookaheadMs?: number; aiChannel?: number | null; loopbackMs?: number; separate?: boolean } & Partial<BindOptions> = {}) {
  const scheduler = new VirtualTimeScheduler();
  const { logger, lines } = recordingLogger();
  const loopback = options.loopbackMs === undefined ? undefined : { scheduler, delayMs: options.loopbackMs };
  // A DAW loop is one device whose output comes back in; a keyboard + synth can be two.
  const input = new FakePort('Keys', { logger, loopback });
  const output = options.separate ? new FakePort('Synth', { logger }) : input;
  const session = new FakeDuetSession({ scheduler, settings: { silenceMs: options.silenceMs, lookaheadMs: options.lookaheadMs ?? 50, aiChannel: options.aiChannel } });
  const binding = bindSessionToPorts(session, { input, output, scheduler, logger, ...options });
  return { scheduler, input, output, session, binding, lines };
}

/** The person plays notes (note, start, end) on a channel, on virtual time. */
function play(r: ReturnType<typeof rig>, notes: Array<[number, number, number]>, channel = 0): void {
  const events = notes.flatMap(([n, a, b]) => [[a, [0x90 | channel, n, 100]], [b, [0x80 | channel, n, 0]]] as Array<[number, number[]]>);
  events.sort((x, y) => x[0] - y[0]);
  for (const [t, bytes] of events) {
    advanceTo(r.scheduler, t);
    r.input.inject(bytes);
  }
}

test('a call and its answer: notes in reach the session, the answer goes out on time and on the channel played', () => {
  const r = rig({ silenceMs: 500, lookaheadMs: 50, separate: true });
  play(r, [[60, 1000, 1200], [64, 1200, 1400], [67, 1400, 1800]], 2);
  assert.equal(r.session.pushes.map((e) => [e.type, e.type === 'cc' ? 0 : e.note, e.time, e.channel]), [
    ['noteon', 60, 1000, 2], ['noteoff', 60, 1200, 2], ['noteon', 64, 1200, 2], ['noteoff', 64, 1400, 2], ['noteon', 67, 1400, 2], ['noteoff', 67, 1800, 2],
  ]);
  // Silence from 1800; the fake answers at 2300 with the call an octave up, starting 50 ms later.
  advanceTo(r.scheduler, 2349);
  assert.equal(r.output.sent, [], 'nothing sounds before its time');
  advanceTo(r.scheduler, 4000);
  assert.equal(r.output.sent, [
    [0x92, 72, 100], [0x82, 72, 0], [0x92, 76, 100], [0x82, 76, 0], [0x92, 79, 100], [0x82, 79, 0],
  ]);
  r.binding.dispose();
});

test('aiChannel answers on the chosen channel', () => {
  const r = rig({ silenceMs: 100, aiChannel: 9, separate: true });
  play(r, [[60, 0, 100]], 0);
  advanceTo(r.scheduler, 1000);
  assert.equal(r.output.sent, [[0x99, 72, 100], [0x89, 72, 0]]);
  r.binding.dispose();
});

test('inputChannel: only the chosen channel reaches the session', () => {
  const r = rig({ inputChannel: 1, separate: true });
  r.input.inject([0x90, 60, 100], [0x91, 61, 100], [0xb1, 64, 127], [0xbf, 64, 127]);
  assert.equal(r.session.pushes.map((e) => [e.type, e.channel]), [['noteon', 1], ['cc', 1]]);
  r.binding.dispose();
});

test('MIDI clock is forwarded on virtual time; clock and active sensing never reach push()', () => {
  const r = rig({ separate: true });
  const tick = 500 / 24; // 120 BPM
  r.input.inject([0xfa]);
  for (let i = 1; i <= 48; i += 1) {
    advanceTo(r.scheduler, i * tick);
    r.input.inject([0xf8], [0xfe]);
  }
  r.input.inject([0xfc]);
  assert.is(r.session.pushes.length, 0);
  assert.is(r.session.clock.length, 50);
  assert.equal(r.session.clock[0], { type: 'start', time: 0 });
  assert.equal(r.session.clock[24], { type: 'tick', time: 500 });
  assert.equal(r.session.clock[49], { type: 'stop', time: 1000 });
  assert.is(r.session.clockSubscribers, 1);
  r.binding.dispose();
  assert.is(r.session.clockSubscribers, 0, 'dispose ends the clock subscription');
});

test('self-echo: a DAW routing the answer back in does not make the AI answer itself', () => {
  const r = rig({ silenceMs: 300, loopbackMs: 8 });
  play(r, [[60, 0, 200], [62, 200, 400]]);
  advanceTo(r.scheduler, 3000);
  assert.equal(r.input.sent.filter((b) => (b[0] & 0xf0) === 0x90).map((b) => b[1]), [72, 74], 'the AI answered');
  assert.equal(r.session.pushes.map((e) => (e.type === 'cc' ? -1 : e.note)), [60, 60, 62, 62], 'only the person reached the session');
  assert.is(r.binding.echo?.dropped, 4, 'two echoed note-ons and their note-offs');
  r.binding.dispose();
  assert.is(r.input.pendingEchoes, 0);
});

test('self-echo control: with echo suppression off, the same loop feeds the AI its own notes', () => {
  const r = rig({ silenceMs: 300, loopbackMs: 8, echo: false });
  play(r, [[60, 0, 200], [62, 200, 400]]);
  advanceTo(r.scheduler, 1500);
  assert.ok(r.session.pushes.some((e) => e.type === 'noteon' && e.note === 72), 'the echo reached the session');
  r.binding.dispose();
});

test('echo filter: only within the window, one echo per send, the person repeating a note later gets through', () => {
  const f = new EchoFilter({ windowMs: 100 });
  f.remember([0x93, 60, 100], 1000);
  assert.not.ok(f.accept({ type: 'noteon', note: 60, velocity: 77, channel: 0, time: 1030 }), 'an echo, even rechannelized and with another velocity');
  assert.ok(f.accept({ type: 'noteon', note: 60, velocity: 77, channel: 3, time: 1040 }), 'one send cancels one echo');
  f.remember([0x83, 60, 0], 2000);
  assert.ok(f.accept({ type: 'noteoff', note: 60, channel: 3, time: 2101 }), 'outside the window');
  f.remember([0xb0, 64, 0], 3000);
  assert.not.ok(f.accept({ type: 'cc', controller: 64, value: 0, channel: 0, time: 3000 }));
  assert.ok(f.accept({ type: 'cc', controller: 64, value: 127, channel: 0, time: 3001 }));
  const strict = new EchoFilter({ windowMs: 100, matchChannel: true });
  strict.remember([0x93, 60, 100], 0);
  assert.ok(strict.accept({ type: 'noteon', note: 60, velocity: 1, channel: 0, time: 10 }), 'matchChannel: another channel is the person');
  assert.not.ok(strict.accept({ type: 'noteon', note: 60, velocity: 1, channel: 3, time: 10 }));
  const bounded = new EchoFilter({ windowMs: 1e9, maxRemembered: 2 });
  for (let n = 0; n < 5; n += 1) bounded.remember([0x90, n, 1], n);
  assert.is(bounded.remembered, 2);
  assert.ok(new EchoFilter({ windowMs: 0 }).accept({ type: 'noteon', note: 1, velocity: 1, time: 0 }), 'window 0 turns it off');
});

test("a port whose callback throws: easymidi's SysEx bug and a throwing session are logged and survived", () => {
  const scheduler = new VirtualTimeScheduler();
  const { logger, lines } = recordingLogger();
  const port = new FakePort('Buggy Keys', { logger, easymidiSysexBug: true });
  const session = new FakeDuetSession({ scheduler }, { crashOnNote: 60 });
  const binding = bindSessionToPorts(session, { input: port, scheduler, logger });
  port.inject([0xf0, 1, 2], [3, 0xf7]); // easymidi's listener throws ReferenceError here
  port.inject([0x90, 60, 100]); // push throws: the fake crashes on this note
  port.inject([0x90, 62, 100]);
  assert.equal(session.pushes.map((e) => (e.type === 'noteon' ? e.note : -1)), [62]);
  const errors = lines.filter((l) => l.level === 'error').map((l) => (l.error as Error).message);
  assert.equal(errors, ['sysex is not defined', 'session bug']);
  binding.dispose();
});

test('session end: the answer is silenced (CC64, CC120, CC123) and input stops feeding it', () => {
  const r = rig({ silenceMs: 100, separate: true });
  play(r, [[60, 0, 100], [64, 100, 2000]]);
  advanceTo(r.scheduler, 2200); // the answer's first note sounds (72 at 2150), 76 waits
  assert.equal(r.output.sent, [[0x90, 72, 100]]);
  r.session.dispose();
  assert.equal(r.output.sent.slice(1), [[0x80, 72, 0], [0xb0, 64, 0], [0xb0, 120, 0], [0xb0, 123, 0]]);
  r.input.inject([0x90, 65, 100]);
  assert.is(r.session.pushes.length, 4, 'no push into an ended session');
  assert.not.ok(r.lines.some((l) => l.level === 'error'), 'and no E_SESSION_CLOSED errors logged');
  advanceTo(r.scheduler, 5000);
  assert.is(r.output.sent.length, 5);
  r.binding.dispose();
});

test('output unplugged mid-answer: the session is told to stop and nothing waits on a timer', () => {
  const r = rig({ silenceMs: 100, separate: true });
  play(r, [[60, 0, 100], [64, 100, 2000]]);
  advanceTo(r.scheduler, 2200);
  r.output.unplug();
  assert.is(r.session.panicCount, 1);
  assert.ok(r.lines.some((l) => l.message.includes('Synth was unplugged')));
  assert.is(r.binding.sink?.pendingCount, 0);
  advanceTo(r.scheduler, 5000);
  assert.equal(r.output.sent, [[0x90, 72, 100]]);
  r.binding.dispose();
});

test('input unplugged with keys held: the session gets their note-offs, the output is silenced', () => {
  const r = rig({ silenceMs: 100, separate: true });
  play(r, [[60, 0, 100]]);
  advanceTo(r.scheduler, 300); // the answer's 72 sounds at 250
  advanceTo(r.scheduler, 310);
  r.input.inject([0x90, 48, 100], [0x90, 52, 100]);
  r.output.sent.length = 0;
  r.input.unplug();
  assert.equal(r.session.pushes.slice(-2).map((e) => [e.type, e.type === 'cc' ? 0 : e.note, e.time]), [['noteoff', 48, 310], ['noteoff', 52, 310]]);
  assert.ok(r.session.panicCount >= 1);
  r.binding.dispose();
});

test('dispose: panic bytes, ports closed, no timer, no subscription, out of the panic registry', () => {
  const registered = registeredPanicCount();
  const r = rig({ silenceMs: 100, separate: true });
  assert.is(registeredPanicCount(), registered + 1);
  play(r, [[60, 0, 100], [64, 100, 2000]]);
  advanceTo(r.scheduler, 2200);
  r.output.sent.length = 0;
  r.session.dispose(); // the server disposes the session, then the binding
  r.binding.dispose();
  assert.equal(r.output.sent, [[0x80, 72, 0], [0xb0, 64, 0], [0xb0, 120, 0], [0xb0, 123, 0]]);
  assert.ok(r.input.closed && r.output.closed && r.input.nativeClosed && r.output.nativeClosed);
  assert.is(r.scheduler.actions.length, 0, 'no pending timers');
  assert.is(r.session.clockSubscribers, 0);
  assert.is(registeredPanicCount(), registered);
  assert.ok(r.binding.disposed);
  r.binding.dispose(); // idempotent
});

test('dispose with a live session also leaves nothing: its output$ is no longer played', () => {
  const r = rig({ silenceMs: 100, separate: true });
  play(r, [[60, 0, 100]]);
  r.binding.dispose();
  advanceTo(r.scheduler, 1000); // the fake session still answers, into nothing
  assert.equal(r.output.sent, []);
  assert.ok(r.session.emitted.some((o) => o.type === 'noteon'), 'the session did emit');
  assert.is(r.session.pendingTimers, 0);
  r.session.dispose();
});

test('closePorts: false leaves the ports open for their owner', () => {
  const r = rig({ separate: true, closePorts: false });
  r.binding.dispose();
  assert.not.ok(r.input.closed || r.output.closed);
  r.input.close();
  r.output.close();
});

test('an input-only binding feeds the session and plays nothing; an output-only binding reads nothing', () => {
  const scheduler = new VirtualTimeScheduler();
  const input = new FakePort('In only');
  const s1 = new FakeDuetSession({ scheduler });
  const b1 = bindSessionToPorts(s1, { input, scheduler });
  input.inject([0x90, 60, 1]);
  assert.is(s1.pushes.length, 1);
  assert.is(b1.sink, undefined);
  b1.dispose();
  const output = new FakePort('Out only');
  const s2 = new FakeDuetSession({ scheduler });
  const b2 = bindSessionToPorts(s2, { output, scheduler });
  s2.emit({ type: 'noteon', note: 60, velocity: 1, channel: 0, time: 0 });
  advanceTo(scheduler, 0);
  assert.equal(output.sent, [[0x90, 60, 1]]);
  assert.is(b2.echo, undefined, 'no echo filter without an input');
  b2.dispose();
});

test('error outputs from the session are logged as warnings, not played', () => {
  const r = rig({ separate: true });
  r.session.emit({ type: 'error', code: 'E_EVENT_INVALID', message: 'bad note' });
  assert.ok(r.lines.some((l) => l.level === 'warn' && l.message === 'session: E_EVENT_INVALID: bad note'));
  assert.equal(r.output.sent, []);
  r.binding.dispose();
});

test('a disposed session refuses push with E_SESSION_CLOSED; the binding logs it and carries on', () => {
  const scheduler = new VirtualTimeScheduler();
  const { logger, lines } = recordingLogger();
  const input = new FakePort('Keys');
  const session = new FakeDuetSession({ scheduler });
  const binding = bindSessionToPorts(session, { input, scheduler, logger });
  session.dispose(); // input-only: no output$ to tell the binding the session ended
  input.inject([0x90, 60, 1]);
  assert.is((lines.find((l) => l.level === 'error')?.error as AntiphonError).code, 'E_SESSION_CLOSED');
  binding.dispose();
});

test.run();
