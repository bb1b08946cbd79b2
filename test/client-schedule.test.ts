// The browser client's timing logic, run in Node: scheduling and cancelling the AI's notes,
// the audio-clock conversion, voice allocation, back-off, round trips and answer latency.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NoteScheduler, perfToContextTime, type AudioAction } from '../client/src/scheduler.ts';
import { backoffDelay, LatencyMeter, RttMeter } from '../client/src/timing.ts';
import { midiToHz, velocityGain, VoiceAllocator } from '../client/src/voices.ts';

const kinds = (actions: AudioAction[]) => actions.map((a) => `${a.kind}:${a.note}`);

const sched = suite('client scheduler: the AI notes');

sched('a note is handed over only once it is due within the window, then released', () => {
  const s = new NoteScheduler(40);
  const id = s.noteOn(60, 90, 1000, 0);
  assert.equal(s.poll(900), [], 'too early');
  const on = s.poll(965);
  assert.equal(on, [{ kind: 'attack', id, note: 60, velocity: 90, channel: 0, time: 1000 }]);
  assert.equal(s.poll(970), [], 'handed over once');
  s.noteOff(60, 1500, 0);
  assert.equal(s.poll(1400), []);
  assert.equal(s.poll(1470), [{ kind: 'release', id, note: 60, channel: 0, time: 1500 }]);
  assert.is(s.size, 0, 'finished notes are forgotten');
});

sched('a noteoff before its noteon time cancels a waiting note without a sound', () => {
  const s = new NoteScheduler(40);
  const keep = s.noteOn(62, 80, 1000);
  const doomed = s.noteOn(64, 80, 1100);
  const r = s.noteOff(64, 1050);
  assert.is(r.cancelled, doomed);
  assert.equal(r.actions, [], 'nothing was handed over: nothing to undo');
  assert.equal(kinds(s.poll(1200)), ['attack:62'], 'only the kept note sounds');
  assert.is(s.stats.cancelled, 1);
  assert.ok(keep > 0);
});

sched('a cancel that comes after the hand-over aborts the note at its start time', () => {
  const s = new NoteScheduler(40);
  const id = s.noteOn(67, 100, 1000);
  assert.equal(kinds(s.poll(970)), ['attack:67']);
  const r = s.noteOff(67, 990);
  assert.is(r.cancelled, id);
  assert.equal(r.actions, [{ kind: 'abort', id, note: 67, channel: 0, onTime: 1000 }]);
  assert.equal(s.poll(2000), [], 'no release follows an abort');
});

sched('a cancel picks the future note of that pitch and channel, not the sounding one', () => {
  const s = new NoteScheduler(40);
  const sounding = s.noteOn(60, 90, 1000, 1);
  const other = s.noteOn(60, 90, 1400, 2);
  const future = s.noteOn(60, 90, 1400, 1);
  s.poll(1000);
  const r = s.noteOff(60, 1200, 1);
  assert.is(r.cancelled, future);
  // The sounding note on channel 1 and the channel-2 note carry on.
  s.noteOff(60, 1300, 1);
  const later = s.poll(1400);
  assert.equal(later.map((a) => [a.kind, a.id]), [['release', sounding], ['attack', other]]);
});

sched('same-time events come out releases first, in time order', () => {
  const s = new NoteScheduler(100);
  const a = s.noteOn(60, 90, 1000);
  s.poll(1000);
  s.noteOff(60, 1050);
  const b = s.noteOn(60, 90, 1050);
  const c = s.noteOn(55, 90, 1020);
  const out = s.poll(1000);
  assert.equal(out.map((x) => [x.kind, x.id]), [['attack', c], ['release', a], ['attack', b]]);
});

sched('clear drops waiting notes and aborts the handed-over ones (panic, disconnect)', () => {
  const s = new NoteScheduler(40);
  const a = s.noteOn(60, 90, 1000);
  const b = s.noteOn(62, 90, 2000);
  s.poll(1000);
  const { aborts, dropped } = s.clear();
  assert.equal(aborts.map((x) => x.id), [a]);
  assert.equal(dropped.sort(), [a, b].sort());
  assert.is(s.size, 0);
  assert.equal(s.noteOff(60, 1500), { cancelled: null, actions: [] }, 'the panic note-offs that follow are ignored');
});

sched('a note long past by the time it falls due is skipped, a merely late one plays', () => {
  const s = new NoteScheduler(40, 1000);
  s.noteOn(60, 90, 1000);
  s.noteOff(60, 1200);
  assert.equal(s.poll(5000), [], 'both ends seconds ago: skipped');
  assert.is(s.stats.late, 1);
  s.noteOn(61, 90, 5000);
  assert.equal(kinds(s.poll(5300)), ['attack:61'], 'late but still wanted');
  assert.is(s.nextTime, Infinity, 'sounding without a noteoff: nothing to wait for');
});

sched('client times map onto the audio clock, never into its past', () => {
  assert.is(perfToContextTime(1500, 1000, 10), 10.5);
  assert.is(perfToContextTime(900, 1000, 10), 10, 'a time already gone plays now');
});

const voices = suite('client voices');

voices('free voices first, then the soonest-free tail, then the oldest held note is stolen', () => {
  const v = new VoiceAllocator(2);
  const a = v.allocate(60, 0);
  const b = v.allocate(62, 0.1);
  assert.equal([a.stolen, b.stolen], [false, false]);
  assert.is.not(a.index, b.index);
  v.release(a.index, 1, 0.5); // free at 1.5
  const c = v.allocate(64, 1.2);
  assert.equal(c, { index: a.index, stolen: true }, 'reuses the releasing voice before its tail ends');
  const d = v.allocate(65, 1.3);
  assert.equal(d, { index: b.index, stolen: true }, 'steals the older held voice (62 at 0.1)');
  assert.is(v.find(65), b.index);
  assert.is(v.find(62), -1);
  v.release(c.index, 2, 0.5);
  assert.equal(v.allocate(67, 3), { index: c.index, stolen: false }, 'free again after its tail');
  assert.equal(v.held().sort(), [0, 1]);
});

voices('a release never lands before its attack; velocity curve and pitch', () => {
  const v = new VoiceAllocator(1);
  const { index } = v.allocate(60, 5);
  v.release(index, 4, 0.5);
  assert.equal(v.allocate(61, 5.4), { index, stolen: true }, 'tail counted from the attack at 5');
  assert.is(velocityGain(127), 1);
  assert.is(velocityGain(0), 0);
  assert.ok(velocityGain(64) < 64 / 127, 'soft notes softer than linear');
  assert.is(midiToHz(69), 440);
  assert.ok(Math.abs(midiToHz(60) - 261.6256) < 1e-3);
});

const timing = suite('client timing');

timing('reconnect back-off doubles from 500 ms to a 10 s cap, with jitter', () => {
  assert.is(backoffDelay(0, () => 0.5), 500);
  assert.is(backoffDelay(1, () => 0.5), 1000);
  assert.is(backoffDelay(3, () => 0.5), 4000);
  assert.is(backoffDelay(50, () => 0.5), 10_000);
  assert.is(backoffDelay(0, () => 0), 400);
  assert.is(backoffDelay(0, () => 1), 600);
});

timing('round trip is the median of recent pongs; bogus echoes are dropped', () => {
  const r = new RttMeter(3);
  assert.is(r.median, null);
  assert.is(r.pong(100, 110), 10);
  r.pong(200, 250);
  r.pong(300, 330);
  assert.is(r.median, 30);
  r.pong(400, 402);
  assert.is(r.median, 30, 'oldest sample dropped: [50, 30, 2]');
  assert.is(r.pong(500, 400), null, 'an echo from the future');
});

timing('answer latency is measured from the turn switch and from the last note-off', () => {
  const m = new LatencyMeter();
  m.personNoteOn();
  m.personNoteOff(1000);
  m.state('answering', 1600);
  assert.equal(m.aiNote(1650), { fromHandoff: 50, fromLastNoteOff: 650 });
  assert.is(m.aiNote(1800), null, 'only the first note of an answer');
  m.personNoteOn();
  m.personNoteOff(3000);
  assert.equal(m.aiNote(3700), { fromHandoff: null, fromLastNoteOff: 700 }, 'no state message seen');
});

sched.run();
voices.run();
timing.run();
