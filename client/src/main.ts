// Antiphon's page: wires the inputs (on-screen piano, computer keyboard, WebMIDI), the sound,
// the piano roll and the settings to one WebSocket session.

import { Sound, PRESETS } from './audio.ts';
import { Connection, type ConnectionState } from './connection.ts';
import { SettingsControls } from './controls.ts';
import { COMMAND_KEYS, HeldNotes, isBlack, KEY_SLOTS, KeyboardPiano, noteName, SustainPedal } from './keymap.ts';
import type { MidiEvent } from './midi-messages.ts';
import { eventTime, OnScreenPiano } from './piano.ts';
import {
  base64ToBytes,
  closeReason,
  controlChange,
  handoff,
  isSmf,
  noteOff,
  noteOn,
  recordingFileName,
  settingsMessage,
  socketUrl,
  type DuetSettings,
  type ServerMessage,
  type Turn,
} from './protocol.ts';
import { PianoRoll } from './roll.ts';
import { NoteScheduler, type AudioAction } from './scheduler.ts';
import { LatencyMeter, RttMeter, type AnswerLatency } from './timing.ts';
import { Toasts } from './toasts.ts';
import { MidiIO } from './webmidi.ts';

/** The timer worker's URL relative to this bundle, with its content hash (set by the build). */
declare const __TIMER_WORKER__: string;

const LOW = 36; // C2
const HIGH = 96; // C7: five octaves

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
};

// ---- state -------------------------------------------------------------------------------------

const held = new HeldNotes();
const keys = new KeyboardPiano(60, 96);
const pedal = new SustainPedal();
const scheduler = new NoteScheduler(40);
const latency = new LatencyMeter();
const rtt = new RttMeter();
const sound = new Sound();
const toasts = new Toasts($('toasts'));
let turn: Turn = 'listening';
let lastAccepted: Partial<DuetSettings> = {};
let sessions = 0;
let layoutMap: ReadonlyMap<string, string> | undefined;
let recordTimer: ReturnType<typeof setTimeout> | null = null;

// ---- views -------------------------------------------------------------------------------------

const piano = new OnScreenPiano($('piano'), LOW, HIGH, {
  press: (source, note, velocity, time) => personPress(source, note, velocity, time, true),
  release: (source, note, time) => personRelease(source, note, time),
});
const roll = new PianoRoll($<HTMLCanvasElement>('roll'), piano.layout, (notes) => piano.setAi(notes));
roll.start();

const conn = new Connection(socketUrl(location), { message: onMessage, state: onConnection });
const controls = new SettingsControls(document.body, (patch) => conn.send(settingsMessage(patch)));

const midi = new MidiIO({
  event: onMidiEvent,
  devicesChanged: renderMidiDevices,
  inputLost: (source) => releaseSource(source),
});

// ---- the person's notes ------------------------------------------------------------------------

/** The MIDI channel each sounding note started on, so its noteoff goes out on the same one. */
const noteChannel = new Map<number, number | undefined>();

function personPress(source: string, note: number, velocity: number, time: number, audible: boolean, channel?: number): void {
  if (!held.press(source, note)) return;
  latency.personNoteOn();
  noteChannel.set(note, channel);
  conn.send(noteOn(note, velocity, time, channel));
  pedal.press(note);
  if (audible) sound.personOn(note, velocity);
  roll.personOn(note, velocity, time);
  piano.setPerson(note, true);
}

function personRelease(source: string, note: number, time: number): void {
  if (held.release(source, note)) endPersonNote(note, time);
}

function releaseSource(source: string): void {
  const t = performance.now();
  // HeldNotes.releaseSource says which notes ended; each takes the normal path.
  for (const note of held.releaseSource(source)) endPersonNote(note, t);
}

/** A note of the person's is no longer held by any source: off to the server, the sound, the roll, the keys. */
function endPersonNote(note: number, time: number): void {
  conn.send(noteOff(note, time, noteChannel.get(note)));
  noteChannel.delete(note);
  latency.personNoteOff(time);
  if (pedal.release(note)) sound.personOff(note);
  roll.personOff(note, time);
  piano.setPerson(note, false);
}

function setPedal(down: boolean, value: number, time: number, channel?: number): void {
  conn.send(controlChange(64, value, time, channel));
  for (const note of pedal.set(down, (n) => held.isHeld(n))) sound.personOff(note);
  $('pedal').hidden = !down;
}

// ---- the AI's notes ----------------------------------------------------------------------------

function dispatch(actions: AudioAction[]): void {
  for (const a of actions) {
    sound.aiAction(a);
    midi.aiAction(a);
    if (a.kind === 'attack') roll.aiOn(a.id, a.note, a.velocity, a.time);
    else if (a.kind === 'release') roll.aiOff(a.id, a.time);
    else roll.aiAbort(a.id, performance.now());
  }
}

function tick(): void {
  if (scheduler.size > 0) dispatch(scheduler.poll(performance.now()));
}

/** Stops every AI note here: the synth, the MIDI output and the roll. */
function stopAi(): void {
  const { aborts } = scheduler.clear();
  dispatch(aborts);
  sound.silence(false);
  midi.panic();
  roll.aiStopAll(performance.now());
}

function panic(): void {
  conn.send({ type: 'panic' });
  stopAi();
  sound.silence(true);
}

function startTicker(): void {
  try {
    const worker = new Worker(new URL(__TIMER_WORKER__, import.meta.url));
    worker.onmessage = tick;
    worker.onerror = () => {
      worker.terminate();
      setInterval(tick, 10);
    };
  } catch {
    setInterval(tick, 10);
  }
}

// ---- server messages ---------------------------------------------------------------------------

function onMessage(msg: ServerMessage): void {
  const now = performance.now();
  switch (msg.type) {
    case 'hello':
      sessions++;
      lastAccepted = msg.settings;
      controls.hello(msg.settings);
      setTurn(msg.turn);
      showModel(msg);
      if (sessions > 1) toasts.show('Reconnected: a fresh session has started.', { kind: 'info', code: 'reconnected', ms: 4000 });
      break;
    case 'noteon': {
      scheduler.noteOn(msg.note, msg.velocity, msg.time, msg.channel);
      const l = latency.aiNote(msg.time);
      if (l) showLatency(l);
      tick();
      break;
    }
    case 'noteoff': {
      const r = scheduler.noteOff(msg.note, msg.time, msg.channel);
      if (r.cancelled !== null) roll.aiAbort(r.cancelled, now);
      dispatch(r.actions);
      tick();
      break;
    }
    case 'state':
      latency.state(msg.turn, now);
      setTurn(msg.turn);
      break;
    case 'settings':
      lastAccepted = msg.settings;
      controls.reflect(msg.settings);
      break;
    case 'tempo': {
      const bpm = Math.round(msg.bpm * 10) / 10;
      $('tempo-readout').textContent = `${bpm} BPM`;
      const from = msg.source === 'call' ? 'following your call' : msg.source === 'clock' ? 'from MIDI clock' : 'fixed';
      $('tempo-hint').textContent = `Now ${bpm} BPM, ${from}.`;
      break;
    }
    case 'pong': {
      rtt.pong(msg.t, now);
      const m = rtt.median;
      $('rtt').textContent = m === null ? '–' : `${Math.round(m)} ms`;
      break;
    }
    case 'recording':
      saveRecording(msg.midi, msg.name);
      break;
    case 'error':
      if (msg.code === 'E_SETTING') controls.refused(lastAccepted);
      toasts.show(msg.message || 'The server refused that.', { code: msg.for ? `${msg.code} · ${msg.for}` : msg.code });
      break;
  }
}

function setTurn(t: Turn): void {
  turn = t;
  document.body.dataset.turn = t;
  roll.setTurn(t, performance.now());
  $('turn-text').textContent = t === 'answering' ? 'The AI is answering…' : 'Your turn: play a phrase';
}

function showLatency(l: AnswerLatency): void {
  const main = l.fromHandoff ?? l.fromLastNoteOff;
  $('latency').textContent = main === null ? '–' : `${Math.round(main)} ms`;
  $('latency-call').textContent =
    l.fromHandoff !== null && l.fromLastNoteOff !== null ? `(${Math.round(l.fromLastNoteOff)} ms after your last note)` : '';
}

function showModel(msg: Extract<ServerMessage, { type: 'hello' }>): void {
  const m = msg.model;
  const bits: string[] = [];
  if (m.name) bits.push(`Model: ${m.name}`);
  if (typeof m.parameters === 'number') bits.push(`${formatCount(m.parameters)} parameters`);
  if (typeof m.trainingSteps === 'number') bits.push(`${formatCount(m.trainingSteps)} training steps`);
  const el = $('model-info');
  el.textContent = bits.join(' · ') || 'Model: unnamed';
  el.title = m.description ?? '';
  $('session-info').textContent = msg.session ? `Session ${msg.session.slice(0, 8)}` : '';
}

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

// ---- connection --------------------------------------------------------------------------------

let countdown: ReturnType<typeof setInterval> | null = null;
let wasOpen = false;

function onConnection(s: ConnectionState): void {
  const pill = $('conn');
  const text = $('conn-text');
  const opened = wasOpen;
  wasOpen = s.state === 'open';
  pill.dataset.state = s.state;
  document.body.dataset.conn = s.state;
  if (countdown !== null) clearInterval(countdown);
  countdown = null;
  if (s.state === 'connecting') {
    text.textContent = s.attempt > 0 ? 'Reconnecting…' : 'Connecting…';
  } else if (s.state === 'open') {
    text.textContent = 'Connected';
  } else {
    // Whatever was sounding from the AI stops with the session (once, not on every retry).
    if (opened) {
      stopAi();
      setTurn('listening');
    }
    const update = () => {
      const left = Math.max(0, Math.ceil((s.retryAt - performance.now()) / 1000));
      text.textContent = `${closeReason(s.code)} · retry in ${left} s`;
    };
    update();
    countdown = setInterval(update, 500);
    if (s.attempt === 3 && !new URLSearchParams(location.search).has('token')) {
      toasts.show('Cannot reach the server: it may be stopped or full. If it runs on another machine, open the address it printed, including its ?token=.', {
        kind: 'info',
        code: 'unreachable',
        ms: 12000,
      });
    }
  }
}

$('conn').addEventListener('click', () => conn.reconnectNow());

// ---- recording ---------------------------------------------------------------------------------

function setRecordBusy(busy: boolean): void {
  const b = $<HTMLButtonElement>('record');
  b.setAttribute('aria-busy', String(busy));
  b.disabled = busy;
  $('record-text').textContent = busy ? 'Preparing…' : 'Save .mid';
  if (recordTimer !== null) clearTimeout(recordTimer);
  recordTimer = busy
    ? setTimeout(() => {
        setRecordBusy(false);
        toasts.show('The recording did not arrive. Try again.', { code: 'E_RECORD_TIMEOUT' });
      }, 10_000)
    : null;
}

function saveRecording(b64: string, name: string): void {
  setRecordBusy(false);
  let bytes: Uint8Array;
  try {
    bytes = base64ToBytes(b64);
  } catch {
    toasts.show('The recording could not be decoded.', { code: 'E_RECORDING' });
    return;
  }
  if (!isSmf(bytes)) {
    toasts.show('The recording is not a MIDI file.', { code: 'E_RECORDING' });
    return;
  }
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'audio/midi' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = recordingFileName(name, `antiphon-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

$('record').addEventListener('click', () => {
  if (!conn.send({ type: 'record' })) {
    toasts.show('Not connected: nothing to record yet.', { code: 'offline', kind: 'info' });
    return;
  }
  setRecordBusy(true);
});

// ---- transport buttons -------------------------------------------------------------------------

function handOver(): void {
  if (!conn.send(handoff(performance.now()))) toasts.show('Not connected.', { code: 'offline', kind: 'info' });
}

$('handoff').addEventListener('click', handOver);
$('panic').addEventListener('click', panic);

function showOctave(): void {
  $('octave').textContent = noteName(keys.base);
  piano.setLabels(keys.labels(layoutMap));
  renderKeymap();
}

function showVelocity(): void {
  $<HTMLInputElement>('key-velocity').value = String(keys.velocity);
  $('key-velocity-out').textContent = String(keys.velocity);
}

$('octave-down').addEventListener('click', () => {
  keys.shiftOctave(-1);
  showOctave();
});
$('octave-up').addEventListener('click', () => {
  keys.shiftOctave(1);
  showOctave();
});
$<HTMLInputElement>('key-velocity').addEventListener('input', (e) => {
  keys.velocity = Number((e.target as HTMLInputElement).value);
  showVelocity();
});

// ---- computer keyboard -------------------------------------------------------------------------

function isTextEntry(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return true;
  return t instanceof HTMLInputElement && !['range', 'checkbox', 'radio', 'button'].includes(t.type);
}

function isActivatable(t: EventTarget | null): boolean {
  return t instanceof HTMLElement && t.closest('button, a, input, select, summary, [role="button"]') !== null;
}

document.addEventListener('keydown', (e) => {
  if (e.metaKey || e.ctrlKey || e.altKey || isTextEntry(e.target)) return;
  const code = e.code;
  if (keys.noteFor(code) !== null) {
    e.preventDefault();
    if (e.repeat) return;
    const note = keys.keyDown(code);
    if (note !== null) {
      personPress(`key:${code}`, note, keys.velocity, eventTime(e), true);
      keymapDown(code, true);
    }
    return;
  }
  switch (code) {
    case COMMAND_KEYS.octaveDown:
    case COMMAND_KEYS.octaveUp:
      e.preventDefault();
      if (!e.repeat) {
        keys.shiftOctave(code === COMMAND_KEYS.octaveUp ? 1 : -1);
        showOctave();
      }
      break;
    case COMMAND_KEYS.velocityDown:
    case COMMAND_KEYS.velocityUp:
      e.preventDefault();
      keys.shiftVelocity(code === COMMAND_KEYS.velocityUp ? 1 : -1);
      showVelocity();
      break;
    case COMMAND_KEYS.sustain:
      if (isActivatable(e.target)) return;
      e.preventDefault();
      if (!e.repeat) setPedal(true, 127, eventTime(e));
      break;
    case COMMAND_KEYS.handoff:
      if (isActivatable(e.target)) return;
      e.preventDefault();
      if (!e.repeat) handOver();
      break;
    case COMMAND_KEYS.panic:
      panic();
      break;
  }
});

document.addEventListener('keyup', (e) => {
  const note = keys.keyUp(e.code);
  if (note !== null) {
    personRelease(`key:${e.code}`, note, eventTime(e));
    keymapDown(e.code, false);
  } else if (e.code === COMMAND_KEYS.sustain && pedal.down) {
    setPedal(false, 0, eventTime(e));
  }
});

function letGo(): void {
  const t = performance.now();
  for (const code of KEY_SLOTS.map((s) => s.code)) {
    const note = keys.keyUp(code);
    if (note !== null) personRelease(`key:${code}`, note, t);
    keymapDown(code, false);
  }
  piano.releaseAll(t);
  if (pedal.down) setPedal(false, 0, t);
}
window.addEventListener('blur', letGo);
document.addEventListener('visibilitychange', () => {
  if (document.hidden) letGo();
});

// ---- the key map ---------------------------------------------------------------------------------

const keymapCells = new Map<string, HTMLElement>();

function renderKeymap(): void {
  const root = $('keymap');
  root.replaceChildren();
  keymapCells.clear();
  const slots = new Map(KEY_SLOTS.map((s) => [s.offset, s]));
  // Two columns per white key, so each black key sits halfway between its neighbours.
  const whites = KEY_SLOTS.filter((s) => !isBlack(s.offset));
  root.style.gridTemplateColumns = `repeat(${whites.length * 2}, minmax(0, 1fr))`;
  whites.forEach((w, i) => {
    const white = cell(w.code, w.label, keys.base + w.offset, false);
    white.style.gridArea = `2 / ${2 * i + 1} / 3 / span 2`;
    root.append(white);
    const black = slots.get(w.offset + 1);
    if (black && isBlack(black.offset)) {
      const el = cell(black.code, black.label, keys.base + black.offset, true);
      el.style.gridArea = `1 / ${2 * i + 2} / 2 / span 2`;
      root.append(el);
    }
  });
}

function cell(code: string, label: string, note: number, black: boolean): HTMLElement {
  const el = document.createElement('div');
  el.className = `k${black ? ' black' : ''}`;
  const key = document.createElement('span');
  key.textContent = (layoutMap?.get(code) ?? label).toUpperCase();
  const name = document.createElement('small');
  name.textContent = noteName(note);
  el.append(key, name);
  keymapCells.set(code, el);
  return el;
}

function keymapDown(code: string, down: boolean): void {
  keymapCells.get(code)?.classList.toggle('down', down);
}

async function loadLayoutMap(): Promise<void> {
  const kb = (navigator as Navigator & { keyboard?: { getLayoutMap?: () => Promise<ReadonlyMap<string, string>> } }).keyboard;
  if (!kb?.getLayoutMap) return;
  try {
    layoutMap = await kb.getLayoutMap();
    showOctave();
  } catch {
    // not allowed here (e.g. in a frame): the US labels stay
  }
}

// ---- MIDI --------------------------------------------------------------------------------------

const midiIn = $<HTMLSelectElement>('midi-in');
const midiOut = $<HTMLSelectElement>('midi-out');
const midiMonitor = $<HTMLInputElement>('midi-monitor');
const midiStatus = $('midi-status');
const midiEnable = $<HTMLButtonElement>('midi-enable');
const aiInBrowser = $<HTMLInputElement>('ai-in-browser');

function onMidiEvent(ev: MidiEvent, time: number, source: string): void {
  if (ev.type === 'noteon') personPress(source, ev.note, ev.velocity, time, midiMonitor.checked, ev.channel);
  else if (ev.type === 'noteoff') personRelease(source, ev.note, time);
  else if (ev.controller === 64) setPedal(ev.value >= 64, ev.value, time, ev.channel);
  else conn.send(controlChange(ev.controller, ev.value, time, ev.channel));
}

function fill(select: HTMLSelectElement, fixed: [string, string][], devices: { id: string; name: string }[], chosen: string): void {
  select.replaceChildren();
  for (const [value, label] of fixed) select.append(new Option(label, value));
  for (const d of devices) select.append(new Option(d.name, d.id));
  if (![...select.options].some((o) => o.value === chosen)) select.append(new Option('(unplugged)', chosen));
  select.value = chosen;
}

function renderMidiDevices(): void {
  const ins = midi.inputs();
  const outs = midi.outputs();
  fill(midiIn, [['all', 'All inputs'], ['none', 'None']], ins, midi.input);
  fill(midiOut, [['none', 'None']], outs, midi.output);
  midiIn.disabled = false;
  midiOut.disabled = false;
  midiEnable.hidden = true;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  midiStatus.textContent =
    ins.length + outs.length === 0
      ? 'No MIDI devices yet: plug one in, it shows up here.'
      : `${plural(ins.length, 'input')}, ${plural(outs.length, 'output')}.`;
}

async function enableMidi(): Promise<void> {
  try {
    await midi.enable();
  } catch {
    midiStatus.textContent = 'MIDI access was refused. Allow it in the site settings to use your instrument.';
    midiEnable.hidden = false;
  }
}

async function setUpMidi(): Promise<void> {
  if (!midi.supported) {
    midiStatus.textContent = 'This browser has no Web MIDI: use the on-screen piano or the computer keyboard.';
    return;
  }
  if (await midi.permitted()) {
    await enableMidi();
  } else {
    midiStatus.textContent = 'Play your own keyboard or send the AI to it.';
    midiEnable.hidden = false;
  }
}

midiEnable.addEventListener('click', () => void enableMidi());
midiIn.addEventListener('change', () => midi.selectInput(midiIn.value));
midiOut.addEventListener('change', () => {
  midi.selectOutput(midiOut.value);
  // The AI on your own instrument usually means not in the browser as well.
  const external = midiOut.value !== 'none';
  aiInBrowser.checked = !external;
  sound.aiEnabled = !external;
});
aiInBrowser.addEventListener('change', () => {
  sound.aiEnabled = aiInBrowser.checked;
});
window.addEventListener('pagehide', () => midi.panic(0));

// ---- sound settings ----------------------------------------------------------------------------

function setUpSound(): void {
  for (const [who, id, chosen] of [
    ['person', 'person-preset', 'epiano'],
    ['ai', 'ai-preset', 'bells'],
  ] as const) {
    const select = $<HTMLSelectElement>(id);
    for (const [name, p] of Object.entries(PRESETS)) select.append(new Option(p.label, name));
    select.value = chosen;
    select.addEventListener('change', () => sound.setPreset(who, select.value));
  }
  const volume = $<HTMLInputElement>('volume');
  volume.addEventListener('input', () => {
    sound.setVolume(Number(volume.value));
    $('volume-out').textContent = `${volume.value} dB`;
  });
  sound.setVolume(Number(volume.value));
}

/** Browsers allow sound only after a gesture: the first click, tap or key starts it. */
function armAudio(): void {
  const hint = $('audio-hint');
  const events = ['pointerdown', 'keydown', 'touchend'] as const;
  const go = () => {
    if (sound.running) return;
    sound.start().then(
      () => {
        if (!sound.running) return;
        hint.hidden = true;
        for (const t of events) document.removeEventListener(t, go, true);
      },
      () => {
        hint.textContent = 'The browser kept the sound off. Click again to switch it on.';
      },
    );
  };
  for (const t of events) document.addEventListener(t, go, true);
}

// ---- a favicon drawn here, so the page asks for no file ------------------------------------------

function drawFavicon(): void {
  const c = document.createElement('canvas');
  c.width = c.height = 32;
  const g = c.getContext('2d');
  if (!g) return;
  g.fillStyle = '#ffb547';
  g.beginPath();
  g.arc(16, 16, 14, Math.PI / 2, (3 * Math.PI) / 2);
  g.fill();
  g.fillStyle = '#39d0c4';
  g.beginPath();
  g.arc(16, 16, 14, -Math.PI / 2, Math.PI / 2);
  g.fill();
  const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
  if (link) link.href = c.toDataURL('image/png');
}

// ---- start ---------------------------------------------------------------------------------------

setUpSound();
armAudio();
showOctave();
showVelocity();
void loadLayoutMap();
void setUpMidi();
drawFavicon();
startTicker();
conn.connect();
requestAnimationFrame(() => piano.centreOn(60, $('scroller')));

// For the end-to-end test and the curious: the page's live objects.
Object.assign(window, { antiphon: { conn, scheduler, roll, keys, held, sound, midi, get turn() { return turn; } } });
