// Raw MIDI in: notes, channels, clock, SysEx (whole, chunked, in bursts) and a port whose native
// callback throws. Everything through the fake port, on virtual time.

import { VirtualTimeScheduler } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ClockEvent } from '../src/engine/duet/types.ts';
import type { NoteEvent } from '../src/engine/note-events.ts';
import { AntiphonError } from '../src/errors.ts';
import { FakePort, easymidiLikeListener } from '../src/io/ports/fake-port.ts';
import { guardListeners } from '../src/io/ports/guard.ts';
import { splitInput, type InputStreamOptions } from '../src/io/ports/input-streams.ts';
import { MidiInputParser } from '../src/io/ports/parse-input.ts';
import { recordingLogger } from './helpers/recording-logger.ts';
import { advanceTo } from './helpers/port-contract.ts';
import { EventEmitter } from 'node:events';


function wire(options: Omit<InputStreamOptions, 'scheduler'> = {}, port = new FakePort('Keys')) {
  const scheduler = new VirtualTimeScheduler();
  const streams = splitInput(port, { ...options, scheduler });
  const notes: NoteEvent[] = [];
  const clock: ClockEvent[] = [];
  const subs = [streams.notes$.subscribe((e) => notes.push(e)), streams.clock$.subscribe((c) => clock.push(c))];
  return { port, scheduler, streams, notes, clock, stop: () => subs.forEach((s) => s.unsubscribe()) };
}

test('note-on with velocity 0 is a note-off; 0x80 and CC parse with their channel', () => {
  const w = wire();
  w.port.inject([0x91, 60, 100], [0x91, 60, 0], [0x8f, 61, 64], [0xb3, 64, 127]);
  assert.equal(w.notes, [
    { type: 'noteon', note: 60, velocity: 100, channel: 1, time: 0 },
    { type: 'noteoff', note: 60, channel: 1, time: 0 },
    { type: 'noteoff', note: 61, channel: 15, time: 0 },
    { type: 'cc', controller: 64, value: 127, channel: 3, time: 0 },
  ]);
  w.stop();
});

test('events are stamped with the scheduler clock at arrival', () => {
  const w = wire();
  advanceTo(w.scheduler, 500);
  w.port.inject([0x90, 60, 90]);
  advanceTo(w.scheduler, 742);
  w.port.inject([0x80, 60, 0]);
  assert.equal(w.notes.map((e) => e.time), [500, 742]);
  w.stop();
});

test('channel filter: one channel lets only that channel through, clock still flows', () => {
  const w = wire({ channel: 4 });
  w.port.inject([0x90, 60, 100], [0x94, 62, 100], [0xb4, 64, 127], [0xb0, 64, 127], [0x84, 62, 0], [0xf8]);
  assert.equal(w.notes.map((e) => [e.type, e.channel]), [['noteon', 4], ['cc', 4], ['noteoff', 4]]);
  assert.is(w.clock.length, 1);
  assert.is(w.streams.dropped()['other-channel'], 2);
  w.stop();
});

test("channel filter 'all' (the default) passes all sixteen channels", () => {
  const w = wire();
  for (let ch = 0; ch < 16; ch += 1) w.port.inject([0x90 | ch, 60, 100]);
  assert.equal(w.notes.map((e) => e.channel), [...Array(16).keys()]);
  w.stop();
});

test('a bad channel filter is refused with E_SETTING', () => {
  for (const bad of [16, -1, 1.5, 'one']) {
    try {
      splitInput(new FakePort(), { channel: bad as never });
      assert.unreachable(`channel ${String(bad)} was accepted`);
    } catch (e) {
      assert.instance(e, AntiphonError);
      assert.is((e as AntiphonError).code, 'E_SETTING');
    }
  }
});

test('clock: tick, start, continue, stop go to clock$ with virtual times; none reach the notes', () => {
  const w = wire();
  const tickMs = 60_000 / 120 / 24; // 120 BPM, 24 pulses per quarter
  w.port.inject([0xfa]);
  for (let i = 1; i <= 24; i += 1) {
    advanceTo(w.scheduler, i * tickMs);
    w.port.inject([0xf8]);
  }
  w.port.inject([0xfc]);
  advanceTo(w.scheduler, 1000);
  w.port.inject([0xfb], [0xfe], [0xfe]);
  assert.is(w.notes.length, 0);
  assert.equal(w.clock.slice(0, 3), [{ type: 'start', time: 0 }, { type: 'tick', time: tickMs }, { type: 'tick', time: 2 * tickMs }]);
  assert.is(w.clock.filter((c) => c.type === 'tick').length, 24);
  assert.equal(w.clock.slice(-2), [{ type: 'stop', time: 24 * tickMs }, { type: 'continue', time: 1000 }]);
  assert.is(w.clock[24].time, 500, '24 ticks at 120 BPM are one quarter note, 500 ms');
  assert.is(w.streams.dropped()['active-sensing'], 2);
  w.stop();
});

test('SysEx: whole, chunked (with a clock tick inside it) and aborted by a status byte never become notes', () => {
  const w = wire();
  w.port.inject(
    [0xf0, 0x43, 0x10, 0x4c, 0x00, 0x00, 0x7e, 0x00, 0xf7], // whole
    [0xf0, 0x7e, 0x7f, 0x09], // chunk 1 of 3
    [0x01, 0x40, 0x3c], // chunk 2: data bytes only, never to be read as a note
    [0xf8], // a real-time byte may interrupt a SysEx
    [0x3c, 0x64, 0xf7], // last chunk
    [0x90, 64, 80], // a real note after it
    [0xf0, 0x01, 0x02], // a SysEx that never ends...
    [0x90, 65, 81], // ...aborted by a note-on, which still counts
  );
  assert.equal(w.notes.map((e) => (e.type === 'noteon' ? e.note : -1)), [64, 65]);
  assert.is(w.clock.length, 1);
  assert.is(w.streams.dropped().sysex, 5);
  w.stop();
});

test('a SysEx burst (200 dumps of 1 KB in 4 chunks) is dropped while the notes between pass in order', () => {
  const w = wire();
  const chunk = (first: boolean, last: boolean) => [...(first ? [0xf0] : []), ...Array.from({ length: 255 }, (_, i) => i % 128), ...(last ? [0xf7] : [])];
  const expected: number[] = [];
  for (let d = 0; d < 200; d += 1) {
    w.port.inject(chunk(true, false), chunk(false, false), chunk(false, false), chunk(false, true));
    const note = 20 + (d % 100);
    w.port.inject([0x90, note, 100]);
    expected.push(note);
  }
  assert.equal(w.notes.map((e) => (e.type === 'noteon' ? e.note : -1)), expected);
  assert.is(w.streams.dropped().sysex, 800);
  w.stop();
});

test('malformed and unsupported messages are dropped and counted, never thrown', () => {
  const w = wire();
  w.port.inject([], [0x90, 60], [0x90, 200, 10], [0x40, 0x40], [0xe0, 0, 64], [0xc0, 5], [0xf3, 1], [0x90, 60, 1, 2]);
  assert.is(w.notes.length, 0);
  const d = w.streams.dropped();
  assert.is(d.malformed, 5);
  assert.is(d.unsupported, 2);
  assert.is(d.system, 1);
  w.stop();
});

test("easymidi 3.2.0's chunked-SysEx ReferenceError in the native callback is caught, logged and survived", () => {
  const { logger, lines } = recordingLogger();
  const port = new FakePort('Buggy', { easymidiSysexBug: true, logger });
  const w = wire({}, port);
  // The unguarded bug, for comparison: the same listener throws straight out of the native emit.
  const bare = new EventEmitter();
  bare.on('message', easymidiLikeListener());
  bare.emit('message', 0, [0xf0, 1, 2]);
  assert.throws(() => bare.emit('message', 0, [3, 4, 0xf7]), /sysex is not defined/);

  port.inject([0xf0, 0x01, 0x02], [0x03, 0x04, 0xf7]); // ends a chunked SysEx: easymidi throws here
  port.inject([0x90, 60, 100]);
  assert.equal(w.notes.map((e) => e.type), ['noteon']);
  const err = lines.find((l) => l.level === 'error');
  assert.ok(err, 'the throw was logged');
  assert.instance(err!.error, ReferenceError);
  assert.match(String((err!.error as Error).message), 'sysex is not defined');
  w.stop();
});

test('guardListeners wraps every existing listener in order and keeps them working', () => {
  const host = new EventEmitter();
  const calls: string[] = [];
  host.on('message', () => calls.push('a'));
  host.on('message', () => {
    calls.push('b');
    throw new Error('boom');
  });
  host.on('message', () => calls.push('c'));
  const errors: unknown[] = [];
  assert.is(guardListeners(host, 'message', (e) => errors.push(e)), 3);
  host.emit('message');
  assert.equal(calls, ['a', 'b', 'c']);
  assert.is(errors.length, 1);
});

test('the parser is per stream: a SysEx left open on one port does not swallow another port', () => {
  const a = new MidiInputParser();
  const b = new MidiInputParser();
  assert.is(a.parse([0xf0, 1]).kind, 'drop');
  assert.equal(b.parse([0x90, 60, 1]), { kind: 'note', event: { type: 'noteon', note: 60, velocity: 1, channel: 0 } });
  assert.equal(a.parse([0x05, 0xf7]), { kind: 'drop', reason: 'sysex' });
});

test('closing the port completes both streams', () => {
  const w = wire();
  let done = 0;
  w.streams.notes$.subscribe({ complete: () => (done += 1) });
  w.streams.clock$.subscribe({ complete: () => (done += 1) });
  w.port.close();
  assert.is(done, 2);
  assert.ok(w.port.nativeClosed);
});

test.run();
