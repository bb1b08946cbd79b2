// The contract every note source and every answer sink keeps, whatever carries the notes: a MIDI
// port (fake or easymidi) or the WebSocket adapter. Each adapter passes a factory that drives its
// own far side; the suites only speak NoteEvent and DuetOutput. Time is virtual throughout:
// delivery may be asynchronous (a real port, a socket), but the clock only moves when a test moves it.

import { VirtualTimeScheduler, type Observable } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DuetOutput } from '../../src/engine/duet/types.ts';
import { assertNoteEvent, type NoteEvent } from '../../src/engine/note-events.ts';

/** Moves a VirtualTimeScheduler to exactly `t` ms, running every timer due by then. */
export function advanceTo(scheduler: VirtualTimeScheduler, t: number): void {
  if (t < scheduler.now()) throw new Error(`cannot go back in time from ${scheduler.now()} to ${t}`);
  scheduler.schedule(() => {}, t - scheduler.now()); // lands the clock on t even with nothing due
  scheduler.maxFrames = t;
  scheduler.flush();
  scheduler.maxFrames = Infinity;
}

export type PlayedEvent =
  | { type: 'noteon'; note: number; velocity: number; channel: number }
  | { type: 'noteoff'; note: number; channel: number }
  | { type: 'cc'; controller: number; value: number; channel: number };

export interface SourceUnderTest {
  /** The session's clock; the source stamps events with its now(). */
  scheduler: VirtualTimeScheduler;
  notes$: Observable<NoteEvent>;
  /** The far side plays one event (a key on a keyboard, a browser message). */
  play(e: PlayedEvent): void;
  /** Something malformed in the source's own wire format. */
  garbage(): void;
  /** The far side goes away: a cable pulled, a socket closed. */
  hangUp(): void;
  /** Resolves once everything played so far has arrived (at once for in-process fakes). */
  settle(): Promise<void>;
  dispose(): void;
}

export type Heard =
  | { type: 'noteon'; note: number; velocity: number; channel: number; time: number }
  | { type: 'noteoff'; note: number; channel: number; time: number };

export interface SinkUnderTest {
  /** The session's clock: DuetOutput times are on it. */
  scheduler: VirtualTimeScheduler;
  deliver(o: DuetOutput): void;
  /**
   * What the far side has heard by the scheduler's now, each at the session-clock time it took
   * effect. A cancelled note appears not at all.
   */
  heard(): Promise<Heard[]>;
  panic(): void;
  dispose(): void;
}

function collect(notes$: Observable<NoteEvent>) {
  const got: NoteEvent[] = [];
  let completed = false;
  const sub = notes$.subscribe({ next: (e) => got.push(e), complete: () => (completed = true) });
  return { got, sub, completed: () => completed };
}

export function noteSourceContract(name: string, create: () => SourceUnderTest | Promise<SourceUnderTest>): void {
  const s = suite(`note source contract: ${name}`);
  let h: SourceUnderTest;
  s.before.each(async () => {
    h = await create();
  });
  s.after.each(() => h.dispose());

  s('note-on, note-off and controller arrive as valid NoteEvents stamped on the session clock', async () => {
    const c = collect(h.notes$);
    advanceTo(h.scheduler, 1000);
    h.play({ type: 'noteon', note: 60, velocity: 100, channel: 2 });
    await h.settle();
    advanceTo(h.scheduler, 1250);
    h.play({ type: 'noteoff', note: 60, channel: 2 });
    h.play({ type: 'cc', controller: 64, value: 127, channel: 2 });
    await h.settle();
    assert.equal(c.got.map((e) => [e.type, e.time]), [['noteon', 1000], ['noteoff', 1250], ['cc', 1250]]);
    for (const e of c.got) {
      assertNoteEvent(e);
      assert.ok(e.channel === undefined || e.channel === 2, `channel ${e.channel}`);
    }
    const [on, , cc] = c.got;
    assert.equal(on.type === 'noteon' && [on.note, on.velocity], [60, 100]);
    assert.equal(cc.type === 'cc' && [cc.controller, cc.value], [64, 127]);
    c.sub.unsubscribe();
  });

  s('a burst keeps its order', async () => {
    const c = collect(h.notes$);
    const played: number[] = [];
    for (let i = 0; i < 32; i += 1) {
      h.play({ type: 'noteon', note: 40 + i, velocity: 1 + i, channel: 0 });
      h.play({ type: 'noteoff', note: 40 + i, channel: 0 });
      played.push(40 + i, 40 + i);
    }
    await h.settle();
    assert.equal(c.got.map((e) => (e.type === 'cc' ? -1 : e.note)), played);
    assert.equal(c.got.map((e) => e.type).slice(0, 4), ['noteon', 'noteoff', 'noteon', 'noteoff']);
    c.sub.unsubscribe();
  });

  s('malformed input never reaches the stream, and the source keeps working', async () => {
    const c = collect(h.notes$);
    h.garbage();
    h.play({ type: 'noteon', note: 72, velocity: 90, channel: 0 });
    await h.settle();
    assert.is(c.got.length, 1);
    assert.is(c.got[0].type === 'noteon' && c.got[0].note, 72);
    c.sub.unsubscribe();
  });

  s('when the far side hangs up the stream completes and nothing more arrives', async () => {
    const c = collect(h.notes$);
    h.play({ type: 'noteon', note: 50, velocity: 80, channel: 0 });
    await h.settle();
    h.hangUp();
    await h.settle();
    assert.ok(c.completed(), 'notes$ should complete');
    assert.is(c.got.length, 1);
  });

  s('after dispose, playing delivers nothing and throws nothing', async () => {
    const c = collect(h.notes$);
    h.dispose();
    h.play({ type: 'noteon', note: 61, velocity: 80, channel: 0 });
    await h.settle();
    assert.is(c.got.length, 0);
  });

  s.run();
}

const on = (note: number, time: number, channel = 0, velocity = 100): DuetOutput => ({ type: 'noteon', note, velocity, channel, time });
const off = (note: number, time: number, channel = 0): DuetOutput => ({ type: 'noteoff', note, channel, time });
const brief = (e: Heard) => `${e.type === 'noteon' ? 'on' : 'off'} ${e.channel}:${e.note}@${e.time}`;

/** Every note-on heard has a later (or same-time) note-off on its key. */
function nothingStuck(heard: Heard[]): string[] {
  const open = new Map<string, number>();
  for (const e of heard) {
    const k = `${e.channel}:${e.note}`;
    open.set(k, (open.get(k) ?? 0) + (e.type === 'noteon' ? 1 : -1));
    if ((open.get(k) ?? 0) <= 0) open.delete(k);
  }
  return [...open.keys()];
}

export function noteSinkContract(name: string, create: () => SinkUnderTest | Promise<SinkUnderTest>): void {
  const s = suite(`answer sink contract: ${name}`);
  let h: SinkUnderTest;
  s.before.each(async () => {
    h = await create();
  });
  s.after.each(() => h.dispose());

  s('a note handed over early sounds at its time, not before', async () => {
    h.deliver(on(60, 100, 0, 90));
    h.deliver(off(60, 300));
    advanceTo(h.scheduler, 99);
    assert.equal(await h.heard(), []);
    advanceTo(h.scheduler, 400);
    assert.equal(await h.heard(), [
      { type: 'noteon', note: 60, velocity: 90, channel: 0, time: 100 },
      { type: 'noteoff', note: 60, channel: 0, time: 300 },
    ]);
  });

  s("a note-off before its note-on's time cancels the note; others still play", async () => {
    h.deliver(on(64, 100));
    h.deliver(on(67, 100));
    h.deliver(off(64, 50)); // a barge-in caught 64 in the look-ahead
    h.deliver(off(67, 200));
    advanceTo(h.scheduler, 500);
    assert.equal((await h.heard()).map(brief), ['on 0:67@100', 'off 0:67@200']);
  });

  s('a later note-off that comes early ends a sounding note at the new time', async () => {
    h.deliver(on(62, 100));
    h.deliver(off(62, 900));
    advanceTo(h.scheduler, 200);
    h.deliver(off(62, 200)); // barge-in while it sounds
    advanceTo(h.scheduler, 1000);
    assert.equal((await h.heard()).map(brief), ['on 0:62@100', 'off 0:62@200']);
  });

  s('each note keeps its channel', async () => {
    h.deliver(on(48, 10, 3));
    h.deliver(on(48, 10, 9));
    h.deliver(off(48, 20, 3));
    h.deliver(off(48, 30, 9));
    advanceTo(h.scheduler, 50);
    assert.equal((await h.heard()).map(brief), ['on 3:48@10', 'on 9:48@10', 'off 3:48@20', 'off 9:48@30']);
  });

  s('panic ends every sounding note and drops the pending ones', async () => {
    h.deliver(on(60, 10, 0));
    h.deliver(on(65, 10, 5));
    h.deliver(on(70, 500, 0)); // still in the look-ahead at panic
    h.deliver(off(60, 1000));
    advanceTo(h.scheduler, 100);
    h.panic();
    advanceTo(h.scheduler, 2000);
    const heard = await h.heard();
    assert.equal(nothingStuck(heard), [], heard.map(brief).join(', '));
    assert.not.ok(heard.some((e) => e.note === 70), '70 was never due before the panic');
    assert.ok(heard.filter((e) => e.type === 'noteoff').every((e) => e.time === 100), heard.map(brief).join(', '));
  });

  s('state, tempo and error outputs are not heard as notes', async () => {
    h.deliver({ type: 'state', turn: 'answering' });
    h.deliver({ type: 'tempo', bpm: 120, source: 'fixed' });
    h.deliver({ type: 'error', code: 'E_EVENT_INVALID', message: 'x' });
    advanceTo(h.scheduler, 100);
    assert.equal(await h.heard(), []);
  });

  s('dispose ends what sounds, and nothing is heard after it', async () => {
    h.deliver(on(55, 10));
    h.deliver(off(55, 1000));
    h.deliver(on(57, 1500));
    advanceTo(h.scheduler, 20);
    h.dispose();
    h.deliver(on(59, 30));
    advanceTo(h.scheduler, 3000);
    assert.equal((await h.heard()).map(brief), ['on 0:55@10', 'off 0:55@20']);
  });

  s.run();
}
