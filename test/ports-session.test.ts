// The real DuetSession (tiny random model, virtual time) bound to a fake port that loops its
// output back in, as a DAW would: the whole path from bytes in to bytes out.

import { VirtualTimeScheduler } from 'rxjs';
import * as assert from 'uvu/assert';
import { DuetSession } from '../src/engine/duet/session.ts';
import { bindSessionToPorts } from '../src/io/ports/bind-session.ts';
import { FakePort } from '../src/io/ports/fake-port.ts';
import { silentLogger } from '../src/io/ports/types.ts';
import { scaleCall, tinyModelSuite } from './helpers/duet.ts';
import { advanceTo } from './helpers/port-contract.ts';

const { test, tiny } = tinyModelSuite('ports with the real duet session');

function duetThroughLoop(echo: boolean) {
  const scheduler = new VirtualTimeScheduler();
  const session = new DuetSession(tiny.model, { scheduler, seed: 2, settings: { tempoSource: 'fixed', bpm: 120, lookaheadMs: 80, aiChannel: 3 } });
  const daw = new FakePort('DAW loop', { loopback: { scheduler, delayMs: 5 } });
  const binding = bindSessionToPorts(session, { input: daw, output: daw, scheduler, logger: silentLogger, ...(echo ? {} : { echo: false }) });
  for (const n of scaleCall(1000)) {
    scheduler.schedule(() => daw.inject([0x90, n.note, 80]), n.at);
    scheduler.schedule(() => daw.inject([0x80, n.note, 0]), n.at + n.dur);
  }
  advanceTo(scheduler, 12_000);
  return { scheduler, session, daw, binding };
}

const isNoteOn = (b: number[]) => (b[0] & 0xf0) === 0x90 && b[2] > 0;

test('a call played into the port is answered on the AI channel, and the answer comes back out', () => {
  const { session, daw, binding } = duetThroughLoop(true);
  const ons = daw.sent.filter(isNoteOn);
  assert.ok(ons.length > 0, 'the answer has notes');
  assert.ok(daw.sent.every((b) => (b[0] & 0x0f) === 3), 'all on channel 4 (index 3)');
  const open = new Set<number>();
  for (const b of daw.sent) (isNoteOn(b) ? open.add(b[1]) : open.delete(b[1]));
  assert.equal([...open], [], 'every note-on got its note-off');
  assert.is(session.recording().person.length, 8, 'the session heard the eight notes of the call and nothing else');
  assert.is(binding.echo?.dropped, daw.sent.length, 'every echo of the answer was dropped');
  session.dispose();
  binding.dispose();
});

test('control: without echo suppression the same loop feeds the answer back to the session as the person', () => {
  const { session, binding } = duetThroughLoop(false);
  assert.ok(session.recording().person.length > 8, `person notes: ${session.recording().person.length}`);
  session.dispose();
  binding.dispose();
});

test('disposing mid-answer: panic bytes on the AI channel, no timer left, port closed', () => {
  const scheduler = new VirtualTimeScheduler();
  const session = new DuetSession(tiny.model, { scheduler, seed: 2, settings: { tempoSource: 'fixed', bpm: 120, lookaheadMs: 80, aiChannel: 3 } });
  const port = new FakePort('Synth');
  const binding = bindSessionToPorts(session, { input: port, output: port, scheduler, logger: silentLogger });
  for (const n of scaleCall(1000)) {
    scheduler.schedule(() => port.inject([0x90, n.note, 80]), n.at);
    scheduler.schedule(() => port.inject([0x80, n.note, 0]), n.at + n.dur);
  }
  // Step until the first answer note sounds, then stop everything.
  let t = 3000;
  while (!port.sent.some(isNoteOn) && t < 12_000) advanceTo(scheduler, (t += 10));
  assert.ok(port.sent.some(isNoteOn), 'an answer note is sounding');
  const sounding = port.sent.filter(isNoteOn).at(-1)!;
  const before = port.sent.length;
  session.dispose();
  binding.dispose();
  const tail = port.sent.slice(before);
  assert.ok(tail.some((b) => b[0] === 0x83 && b[1] === sounding[1]), 'the sounding note got its note-off');
  assert.equal(tail.slice(-3), [[0xb3, 64, 0], [0xb3, 120, 0], [0xb3, 123, 0]]);
  assert.is(scheduler.actions.length, 0, 'no pending timers');
  assert.ok(port.closed && port.nativeClosed);
});

test.run();
