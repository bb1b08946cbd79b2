// The browser client's input logic, run in Node: the computer-keyboard map and octave shift,
// held-note reference counting, the sustain pedal, key geometry and raw MIDI parsing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  HeldNotes,
  KEY_SLOTS,
  KeyboardPiano,
  MAX_BASE,
  SustainPedal,
  isBlack,
  keyboardLayout,
  noteName,
  velocityFromPosition,
} from '../client/src/keymap.ts';
import { noteOffBytes, noteOnBytes, panicBytes, parseMidi } from '../client/src/midi-messages.ts';

const keys = suite('client input: computer keyboard');

keys('the home row plays white keys from C, the row above the black keys', () => {
  const k = new KeyboardPiano(60);
  assert.is(k.noteFor('KeyA'), 60);
  assert.is(k.noteFor('KeyW'), 61);
  assert.is(k.noteFor('KeyK'), 72);
  assert.is(k.noteFor("Quote"), 77);
  assert.is(k.noteFor('KeyZ'), null, 'Z shifts octaves, it plays nothing');
  for (const s of KEY_SLOTS) {
    const row = ['KeyW', 'KeyE', 'KeyT', 'KeyY', 'KeyU', 'KeyO', 'KeyP'].includes(s.code) ? 'black' : 'white';
    assert.is(isBlack(60 + s.offset) ? 'black' : 'white', row, s.code);
  }
  assert.equal(KEY_SLOTS.map((s) => s.offset), [...Array(18).keys()], 'every semitone once, in order');
});

keys('octave shift moves by 12 and stops where a key would leave 0..127', () => {
  const k = new KeyboardPiano(60);
  assert.is(k.shiftOctave(1), 72);
  assert.is(k.shiftOctave(-3), 36);
  assert.is(k.shiftOctave(-10), 0);
  assert.is(k.shiftOctave(20), MAX_BASE);
  assert.ok(MAX_BASE + 17 <= 127 && MAX_BASE + 12 + 17 > 127, 'the highest base is the last that fits');
  assert.is(new KeyboardPiano(61).base, 60, 'bases snap to Cs');
});

keys('a key released after an octave shift ends the note it started', () => {
  const k = new KeyboardPiano(60);
  assert.is(k.keyDown('KeyA'), 60);
  assert.is(k.keyDown('KeyA'), null, 'auto-repeat starts nothing');
  k.shiftOctave(1);
  assert.is(k.keyDown('KeyS'), 74);
  assert.is(k.keyUp('KeyA'), 60);
  assert.is(k.keyUp('KeyA'), null);
  assert.equal(k.releaseAll(), [74]);
  assert.equal(k.releaseAll(), []);
});

keys('velocity steps and clamps; labels follow the octave and the layout map', () => {
  const k = new KeyboardPiano(60, 120);
  assert.is(k.shiftVelocity(1), 127);
  assert.is(k.shiftVelocity(-20), 1);
  const labels = k.labels(new Map([['KeyA', 'q']]));
  assert.is(labels.get(60), 'Q', 'AZERTY: the key at A says Q');
  assert.is(labels.get(62), 'S');
  k.shiftOctave(-1);
  assert.is(k.labels().get(48), 'A');
  assert.not.ok(k.labels().has(60 + 17 + 1));
});

keys('note names and velocity from the touch position', () => {
  assert.is(noteName(60), 'C4');
  assert.is(noteName(21), 'A0');
  assert.is(noteName(61), 'C♯4');
  assert.is(noteName(0), 'C-1');
  assert.is(velocityFromPosition(0), 40);
  assert.is(velocityFromPosition(1), 120);
  assert.is(velocityFromPosition(7), 120);
  assert.is(velocityFromPosition(Number.NaN), 80);
});

const held = suite('client input: held notes and the pedal');

held('a note sounds once however many sources hold it', () => {
  const h = new HeldNotes();
  assert.ok(h.press('pointer:1', 60), 'first holder starts it');
  assert.not.ok(h.press('key:KeyA', 60), 'second holder does not');
  assert.not.ok(h.press('pointer:1', 60), 'the same source twice is one hold');
  assert.not.ok(h.release('pointer:1', 60), 'another source still holds it');
  assert.ok(h.isHeld(60));
  assert.ok(h.release('key:KeyA', 60), 'the last holder ends it');
  assert.not.ok(h.isHeld(60));
  assert.not.ok(h.release('key:KeyA', 60), 'releasing twice ends nothing');
});

held('a lost source lets go of its own notes only', () => {
  const h = new HeldNotes();
  h.press('midi:a', 60);
  h.press('midi:a', 64);
  h.press('midi:b', 64);
  assert.equal(h.releaseSource('midi:a').sort(), [60]);
  assert.equal(h.notes, [64]);
  assert.equal(h.releaseSource('midi:zzz'), []);
});

held('the sustain pedal holds released notes until it lifts, except those still held', () => {
  const p = new SustainPedal();
  assert.ok(p.release(60), 'pedal up: a release stops the note');
  p.set(true, () => false);
  assert.not.ok(p.release(60));
  assert.not.ok(p.release(62));
  p.press(62); // struck again while sustained: the key holds it now
  assert.not.ok(p.release(64));
  const stop = p.set(false, (n) => n === 64);
  assert.equal(stop.sort(), [60], '62 was re-struck, 64 is still held down');
  assert.ok(p.release(64));
});

const geo = suite('client input: keyboard geometry');

geo('five octaves C2..C7: 36 white keys sharing the width, black keys between', () => {
  const layout = keyboardLayout(36, 96);
  assert.is(layout.length, 61);
  const whites = layout.filter((k) => !k.black);
  assert.is(whites.length, 36);
  assert.ok(Math.abs(whites.reduce((s, k) => s + k.w, 0) - 1) < 1e-9);
  const cs = layout.find((k) => k.note === 37)!;
  const c = layout.find((k) => k.note === 36)!;
  const d = layout.find((k) => k.note === 38)!;
  assert.ok(cs.black && Math.abs(cs.x + cs.w / 2 - d.x) < 1e-9, 'C# is centred on the C|D line');
  assert.ok(Math.abs(c.x) < 1e-12 && d.x > c.x);
  assert.ok(layout.every((k, i) => i === 0 || k.note === layout[i - 1].note + 1));
});

const midi = suite('client input: MIDI bytes');

midi('parses notes and controllers, noteon velocity 0 is a noteoff', () => {
  assert.equal(parseMidi([0x93, 60, 100]), { type: 'noteon', channel: 3, note: 60, velocity: 100 });
  assert.equal(parseMidi([0x90, 60, 0]), { type: 'noteoff', channel: 0, note: 60 });
  assert.equal(parseMidi([0x8f, 61, 64]), { type: 'noteoff', channel: 15, note: 61 });
  assert.equal(parseMidi(Uint8Array.of(0xb0, 64, 127)), { type: 'cc', channel: 0, controller: 64, value: 127 });
  assert.is(parseMidi([0xf8]), null, 'clock');
  assert.is(parseMidi([0xe0, 0, 64]), null, 'pitch bend');
  assert.is(parseMidi([0x90, 200, 1]), null, 'data bytes above 127');
});

midi('builds note bytes and the panic sequence for every channel', () => {
  assert.equal(noteOnBytes(2, 60, 0), [0x92, 60, 1]);
  assert.equal(noteOnBytes(20, 60, 200), [0x9f, 60, 127], 'channel and velocity clamped');
  assert.equal(noteOffBytes(1, 61), [0x81, 61, 0]);
  const panic = panicBytes();
  assert.is(panic.length, 48);
  for (let c = 0; c < 16; c++) {
    assert.ok(panic.some((b) => b[0] === (0xb0 | c) && b[1] === 123), `all notes off on channel ${c}`);
    assert.ok(panic.some((b) => b[0] === (0xb0 | c) && b[1] === 64 && b[2] === 0), `sustain off on channel ${c}`);
  }
});

keys.run();
held.run();
geo.run();
midi.run();
