import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FixedTempoGrid, LiveTokenizer } from '../src/engine/live-tokenizer.ts';
import type { NoteEvent } from '../src/engine/note-events.ts';
import type { ParsedMidi, RawControl, RawNote } from '../src/io/midi-types.ts';
import { tokenizeParsed } from '../src/io/midi-tokens.ts';
import { F, TYPE, type Word } from '../src/engine/vocab.ts';

// At 125 BPM and 480 ticks per beat, one tick is exactly one millisecond.
const BPM = 125;

/** A random single-performer stream: presses, releases, velocity-0 releases, stuck keys, pedal. */
function randomPerformance(seed: number, count: number): NoteEvent[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const held = new Set<number>();
  const events: NoteEvent[] = [{ type: 'noteon', time: 0, note: 60, velocity: 90 }];
  held.add(60);
  let t = 0;
  let pedal = false;
  for (let i = 0; i < count; i++) {
    t += 1 + Math.floor(rnd() * 260); // distinct times: a pedal and a release at the same instant are ambiguous in a file
    const r = rnd();
    if (r < 0.45 || held.size === 0) {
      const note = 36 + Math.floor(rnd() * 48);
      events.push({ type: 'noteon', time: t, note, velocity: 1 + Math.floor(rnd() * 126) }); // may re-strike a held key
      held.add(note);
    } else if (r < 0.85) {
      const note = [...held][Math.floor(rnd() * held.size)];
      held.delete(note);
      events.push(rnd() < 0.3 ? { type: 'noteon', time: t, note, velocity: 0 } : { type: 'noteoff', time: t, note });
    } else if (r < 0.95) {
      pedal = !pedal;
      events.push({ type: 'cc', time: t, controller: 64, value: pedal ? 127 : 0 });
    } else {
      events.push({ type: 'cc', time: t, controller: 1, value: Math.floor(rnd() * 128) }); // ignored controller
    }
  }
  t += 100;
  for (const note of held) events.push({ type: 'noteoff', time: t, note });
  if (pedal) events.push({ type: 'cc', time: t + 50, controller: 64, value: 0 });
  return events;
}

/** The same events as a MIDI file would hold them, paired the way a file reader pairs them. */
function asParsedMidi(events: NoteEvent[]): ParsedMidi {
  const open = new Map<number, { ticks: number; velocity: number }>();
  const notes: RawNote[] = [];
  const pedals: RawControl[] = [];
  const close = (note: number, t: number) => {
    const o = open.get(note);
    if (!o) return;
    notes.push({ ticks: o.ticks, durationTicks: Math.max(1, t - o.ticks), midi: note, velocity: o.velocity, channel: 0 });
    open.delete(note);
  };
  let end = 0;
  for (const e of events) {
    end = e.time;
    if (e.type === 'noteon' && e.velocity > 0) {
      close(e.note, e.time);
      open.set(e.note, { ticks: e.time, velocity: e.velocity });
    } else if (e.type === 'noteon' || e.type === 'noteoff') close(e.note, e.time);
    else if (e.controller === 64) pedals.push({ ticks: e.time, channel: 0, controller: 64, value: e.value });
  }
  return {
    file: 'generated.mid', ppq: 480, tempos: [{ ticks: 0, bpm: BPM }], meters: [],
    tracks: [{ name: 'piano', percussion: false, notes, pedals }], endTicks: end,
  };
}

function live(events: NoteEvent[], tickEvery = 37): Word[] {
  const tok = new LiveTokenizer(new FixedTempoGrid(BPM));
  const words: Word[] = [];
  let nextTick = 0;
  for (const e of events) {
    while (nextTick + tickEvery <= e.time) words.push(...tok.advance((nextTick += tickEvery)));
    words.push(...tok.push(e));
  }
  words.push(...tok.flush(events[events.length - 1].time));
  return words;
}

test('live tokenizer gives the file tokenizer\'s words for the same performance', () => {
  for (let seed = 1; seed <= 25; seed++) {
    const events = randomPerformance(seed, 300);
    const fromFile = tokenizeParsed(asParsedMidi(events)).words;
    assert.is(fromFile[fromFile.length - 1][F.type], TYPE.EOS);
    const fromLive = live(events);
    assert.ok(fromLive.length > 50, 'the performance made words');
    const expected = fromFile.slice(0, -1);
    const firstDiff = fromLive.findIndex((w, i) => JSON.stringify(w) !== JSON.stringify(expected[i]));
    assert.is(firstDiff === -1 && fromLive.length === expected.length, true,
      `seed ${seed}: first difference at word ${firstDiff}: live ${JSON.stringify(fromLive.slice(firstDiff - 2, firstDiff + 2))} file ${JSON.stringify(expected.slice(firstDiff - 2, firstDiff + 2))} (${fromLive.length} vs ${expected.length})`);
  }
});

test('live words are committed while the person plays, not only at the end', () => {
  const events = randomPerformance(7, 400);
  const tok = new LiveTokenizer(new FixedTempoGrid(BPM));
  let before = 0;
  for (const e of events) before += tok.push(e).length;
  const rest = tok.flush(events[events.length - 1].time).length;
  assert.ok(before > rest * 2, `committed ${before} words during play and ${rest} at the end`);
});

test('a held note blocks commits after its onset until it ends', () => {
  const tok = new LiveTokenizer(new FixedTempoGrid(120)); // 500 ms per beat
  tok.push({ type: 'noteon', time: 0, note: 48, velocity: 80 });
  tok.push({ type: 'noteon', time: 100, note: 60, velocity: 80 });
  tok.push({ type: 'noteoff', time: 200, note: 60 });
  assert.is(tok.advance(10_000).length, 0, 'the note at step 0 has no length yet');
  const words = tok.push({ type: 'noteoff', time: 10_000, note: 48 });
  assert.ok(words.length > 0);
  assert.is(tok.heldNotes, 0);
});

test('the sustain pedal holds a released note until it lifts', () => {
  const tok = new LiveTokenizer(new FixedTempoGrid(120));
  const words: Word[] = [];
  words.push(...tok.push({ type: 'cc', time: -5, controller: 64, value: 127 })); // pedal down before the first note
  words.push(...tok.push({ type: 'noteon', time: 0, note: 60, velocity: 80 }));
  words.push(...tok.push({ type: 'noteoff', time: 250, note: 60 }));
  assert.is(tok.heldNotes, 1);
  words.push(...tok.push({ type: 'cc', time: 1000, controller: 64, value: 0 }));
  words.push(...tok.flush(1000));
  const note = words.find((w) => w[F.type] === TYPE.NOTE)!;
  assert.is(note[F.duration], 7, 'two beats = 8 steps = duration token 7');
});

test('garbage events are rejected with E_EVENT_INVALID and the tokenizer carries on', () => {
  const tok = new LiveTokenizer(new FixedTempoGrid(120));
  for (const bad of [
    { type: 'noteon', time: 0, note: 200, velocity: 10 },
    { type: 'noteon', time: 0, note: 60, velocity: -1 },
    { type: 'noteoff', time: Number.NaN, note: 60 },
    { type: 'cc', time: 0, controller: 64, value: 168 },
    { type: 'bogus', time: 0 },
    null,
  ]) {
    try {
      tok.push(bad as never);
      assert.unreachable('should throw');
    } catch (e) {
      assert.is((e as { code: string }).code, 'E_EVENT_INVALID');
    }
  }
  tok.push({ type: 'noteon', time: 0, note: 60, velocity: 80 });
  tok.push({ type: 'noteoff', time: 500, note: 60 });
  const words = tok.flush(500);
  assert.is(words.filter((w) => w[F.type] === TYPE.NOTE).length, 1);
});

test('duplicate note-offs are ignored; out-of-order events are counted and clamped', () => {
  const tok = new LiveTokenizer(new FixedTempoGrid(120));
  tok.push({ type: 'noteon', time: 0, note: 60, velocity: 80 });
  tok.push({ type: 'noteoff', time: 500, note: 60 });
  tok.push({ type: 'noteoff', time: 510, note: 60 });
  tok.push({ type: 'noteon', time: 400, note: 62, velocity: 80 }); // arrives late
  tok.push({ type: 'noteoff', time: 900, note: 62 });
  assert.is(tok.outOfOrder, 1);
  const notes = tok.flush(900).filter((w) => w[F.type] === TYPE.NOTE);
  assert.is(notes.length, 2);
});

test('an event stamped before a time already passed is kept, moved to that time', () => {
  const tok = new LiveTokenizer(new FixedTempoGrid(120));
  const words: Word[] = [];
  words.push(...tok.push({ type: 'noteon', time: 0, note: 60, velocity: 80 }));
  words.push(...tok.push({ type: 'noteoff', time: 100, note: 60 }));
  words.push(...tok.advance(2000)); // commits up to step 16
  words.push(...tok.push({ type: 'noteon', time: 1500, note: 64, velocity: 80 }));
  words.push(...tok.push({ type: 'noteoff', time: 2100, note: 64 }));
  words.push(...tok.flush(2100));
  assert.is(tok.outOfOrder, 1);
  assert.is(words.filter((w) => w[F.type] === TYPE.NOTE).length, 2);
});

test.run();
