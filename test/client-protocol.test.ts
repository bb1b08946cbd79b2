// The browser client's protocol module (client/src/protocol.ts), run in Node: the messages it
// sends, how it reads the server's, the settings patches its controls produce, and encodings.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  answerLengthPatch,
  base64ToBytes,
  clampControl,
  closeReason,
  CONTROL_IDS,
  controlChange,
  controlValues,
  encode,
  handoff,
  isEmptyPatch,
  isSmf,
  mergePatches,
  noteOff,
  noteOn,
  parseServerMessage,
  ping,
  recordingFileName,
  restorePatch,
  settingsMessage,
  settingsPatch,
  socketUrl,
  type DuetSettings,
} from '../client/src/protocol.ts';

const SETTINGS: DuetSettings = {
  sampling: {
    type: { temperature: 1, topP: 0.9, topK: 0 },
    barBeat: { temperature: 1.2, topP: 1, topK: 0 },
    tempo: { temperature: 1.2, topP: 0.9, topK: 0 },
    chord: { temperature: 1, topP: 0.99, topK: 0 },
    pitch: { temperature: 1, topP: 0.9, topK: 0 },
    duration: { temperature: 2, topP: 0.9, topK: 0 },
    velocity: { temperature: 5, topP: 1, topK: 0 },
  },
  minBars: 1,
  maxBars: 8,
  silenceMs: 600,
  handoffController: null,
  tempoSource: 'fixed',
  bpm: 100,
  lookaheadMs: 75,
  aiChannel: null,
  pitchBalance: 4,
  densityBalance: 1,
};

const messages = suite('client protocol: messages out');

messages('note messages carry note, velocity and the client time, in range', () => {
  assert.equal(JSON.parse(encode(noteOn(60, 100, 1234.5678))), { type: 'noteon', note: 60, velocity: 100, time: 1234.57 });
  assert.equal(noteOff(61, 99.004), { type: 'noteoff', note: 61, time: 99 });
  assert.equal(noteOn(60, 0), { type: 'noteon', note: 60, velocity: 1 }, 'velocity 0 is not a noteon: clamp to 1');
  assert.equal(noteOn(130, 200), { type: 'noteon', note: 127, velocity: 127 });
  assert.not.ok('time' in noteOff(60), 'no time: the server uses the arrival time');
  assert.throws(() => noteOn(Number.NaN, 10), /note/);
});

messages('a WebMIDI note carries its channel (the AI answers on it); others carry none', () => {
  assert.equal(noteOn(60, 90, 1, 9), { type: 'noteon', note: 60, velocity: 90, time: 1, channel: 9 });
  assert.equal(noteOff(60, 2, 9), { type: 'noteoff', note: 60, time: 2, channel: 9 });
  assert.equal(controlChange(64, 0, 3, 20), { type: 'cc', controller: 64, value: 0, time: 3, channel: 15 });
  assert.not.ok('channel' in noteOn(60, 90, 1), 'keys and pointers: the server default');
});

messages('cc, handoff, ping and settings messages', () => {
  assert.equal(controlChange(64, 127, 5), { type: 'cc', controller: 64, value: 127, time: 5 });
  assert.equal(handoff(), { type: 'handoff' });
  assert.equal(handoff(10.123), { type: 'handoff', time: 10.12 });
  assert.equal(ping(42.4242), { type: 'ping', t: 42.42 });
  assert.equal(JSON.parse(encode(settingsMessage({ bpm: 120 }))), { type: 'settings', bpm: 120 });
});

const parse = suite('client protocol: messages in');

parse('reads every server message type', () => {
  const hello = parseServerMessage(
    JSON.stringify({ type: 'hello', session: 's1', model: { name: 'm' }, settings: SETTINGS, limits: { maxPayload: 4096 } }),
  );
  assert.equal(hello, { type: 'hello', session: 's1', model: { name: 'm' }, settings: SETTINGS, limits: { maxPayload: 4096 }, turn: 'listening' });
  assert.is((parseServerMessage('{"type":"hello","turn":"answering"}') as { turn: string }).turn, 'answering');
  assert.equal(parseServerMessage('{"type":"noteon","note":60,"velocity":90,"time":1000,"channel":2}'), {
    type: 'noteon', note: 60, velocity: 90, time: 1000, channel: 2,
  });
  assert.equal(parseServerMessage('{"type":"noteoff","note":60,"time":900,"channel":0}'), { type: 'noteoff', note: 60, time: 900, channel: 0 });
  assert.equal(parseServerMessage('{"type":"state","turn":"answering"}'), { type: 'state', turn: 'answering' });
  assert.equal(parseServerMessage('{"type":"tempo","bpm":112.5,"source":"call"}'), { type: 'tempo', bpm: 112.5, source: 'call' });
  assert.equal(parseServerMessage('{"type":"pong","t":5,"server":77}'), { type: 'pong', t: 5, server: 77 });
  assert.equal(parseServerMessage('{"type":"recording","midi":"TVRoZA==","name":"x.mid"}'), { type: 'recording', midi: 'TVRoZA==', name: 'x.mid' });
  assert.equal(parseServerMessage('{"type":"error","code":"E_SETTING","message":"bad"}'), { type: 'error', code: 'E_SETTING', message: 'bad' });
  assert.equal(parseServerMessage('{"type":"error","code":"E_BAD_MESSAGE","message":"m","for":"settings"}'), {
    type: 'error', code: 'E_BAD_MESSAGE', message: 'm', for: 'settings',
  });
  assert.equal(parseServerMessage('{"type":"settings","settings":{"bpm":90}}'), { type: 'settings', settings: { bpm: 90 } });
});

parse('fills a note without time or channel (now, channel 0) and ignores extra fields', () => {
  assert.equal(parseServerMessage('{"type":"noteon","note":60,"velocity":90,"extra":true}', 555), {
    type: 'noteon', note: 60, velocity: 90, time: 555, channel: 0,
  });
});

parse('refuses junk instead of throwing', () => {
  for (const bad of ['', 'not json', '[]', 'null', '{"type":"wat"}', '{"note":60}', '{"type":"noteon","note":"60","velocity":1}',
    '{"type":"state","turn":"sleeping"}', '{"type":"pong"}', '{"type":"recording"}', '{"type":"settings","settings":3}']) {
    assert.is(parseServerMessage(bad), null, bad);
  }
});

const controls = suite('client protocol: settings from the controls');

controls('each sampling control sets its families; rhythm sets duration and position', () => {
  assert.equal(settingsPatch('pitch.temperature', 0.8), { sampling: { pitch: { temperature: 0.8 } } });
  assert.equal(settingsPatch('rhythm.temperature', 1.5), { sampling: { duration: { temperature: 1.5 }, barBeat: { temperature: 1.5 } } });
  assert.equal(settingsPatch('rhythm.topP', 0.7), { sampling: { duration: { topP: 0.7 }, barBeat: { topP: 0.7 } } });
  assert.equal(settingsPatch('velocity.topP', 0.95), { sampling: { velocity: { topP: 0.95 } } });
  assert.equal(settingsPatch('silenceMs', 800), { silenceMs: 800 });
  assert.equal(settingsPatch('pitchBalance', 2.5), { pitchBalance: 2.5 });
  assert.equal(settingsPatch('pitchBalance', 0), { pitchBalance: 0 }, '0 is off, and is sent like any value');
  assert.equal(settingsPatch('bpm', '96'), { bpm: 96 });
  assert.equal(settingsPatch('tempoSource', 'call'), { tempoSource: 'call' });
  assert.throws(() => settingsPatch('tempoSource', 'sometimes'), /tempoSource/);
});

controls('values are clamped and snapped to the control steps', () => {
  assert.is(clampControl('pitch.topP', 0), 0.05, 'top-p never reaches 0');
  assert.is(clampControl('pitch.topP', 1.7), 1);
  assert.is(clampControl('pitch.temperature', 0.1 + 0.2), 0.3, 'no float dust');
  assert.is(clampControl('bpm', 999), 300);
  assert.is(clampControl('minBars', 2.6), 3);
  assert.equal(settingsPatch('silenceMs', 612), { silenceMs: 600 });
  assert.throws(() => clampControl('bpm', Number.NaN));
});

controls('pitch balance is kept to 0..16 in half steps, like the other sliders', () => {
  assert.is(clampControl('pitchBalance', 4), 4);
  assert.is(clampControl('pitchBalance', 4.3), 4.5);
  assert.is(clampControl('pitchBalance', 4.2), 4);
  assert.is(clampControl('pitchBalance', 16), 16);
  assert.is(clampControl('pitchBalance', 99), 16);
  assert.is(clampControl('pitchBalance', -3), 0);
  assert.is(clampControl('densityBalance', 9), 8);
  assert.is(clampControl('densityBalance', 1.2), 1);
  assert.equal(settingsPatch('pitchBalance', '20'), { pitchBalance: 16 }, 'a slider value arrives as a string');
  assert.throws(() => clampControl('pitchBalance', Number.NaN), /pitchBalance/);
  assert.throws(() => settingsPatch('pitchBalance', 'lots'), /pitchBalance/);
  assert.equal(JSON.parse(encode(settingsMessage(settingsPatch('pitchBalance', 6)))), { type: 'settings', pitchBalance: 6 });
});

controls('answer length never sends min above max', () => {
  assert.equal(answerLengthPatch(6, 4, 'minBars'), { minBars: 6, maxBars: 6 });
  assert.equal(answerLengthPatch(6, 4, 'maxBars'), { minBars: 4, maxBars: 4 });
  assert.equal(answerLengthPatch(2, 8, 'minBars'), { minBars: 2, maxBars: 8 });
});

controls('patches merge deeply, later values winning', () => {
  const merged = mergePatches(
    settingsPatch('pitch.temperature', 0.5),
    settingsPatch('pitch.topP', 0.8),
    settingsPatch('rhythm.temperature', 1),
    settingsPatch('pitch.temperature', 0.7),
    { bpm: 90 },
  );
  assert.equal(merged, {
    sampling: { pitch: { temperature: 0.7, topP: 0.8 }, duration: { temperature: 1 }, barBeat: { temperature: 1 } },
    bpm: 90,
  });
  assert.ok(isEmptyPatch(mergePatches()));
  assert.ok(isEmptyPatch({ sampling: {} }));
  assert.not.ok(isEmptyPatch({ bpm: 90 }));
});

controls('the controls show a settings object; rhythm shows duration', () => {
  const v = controlValues(SETTINGS);
  assert.is(v['pitch.temperature'], 1);
  assert.is(v['rhythm.temperature'], 2, 'duration, not barBeat (1.2)');
  assert.is(v['rhythm.topP'], 0.9);
  assert.is(v['velocity.temperature'], 5);
  assert.is(v.maxBars, 8);
  assert.is(v.tempoSource, 'fixed');
  assert.is(v.pitchBalance, 4);
  assert.is(controlValues({ ...SETTINGS, pitchBalance: 0 }).pitchBalance, 0, 'off is shown, not skipped');
  assert.equal(Object.keys(v).sort(), [...CONTROL_IDS].sort(), 'a full settings object fills every control');
  assert.equal(controlValues({ bpm: 80 }), { bpm: 80 }, 'a partial object fills only its controls');
});

controls('after a reconnect, only the touched controls are restored, each family from its own value', () => {
  const accepted: DuetSettings = { ...SETTINGS, bpm: 132, silenceMs: 900 };
  const patch = restorePatch(accepted, ['bpm', 'rhythm.temperature']);
  assert.equal(patch, { bpm: 132, sampling: { duration: { temperature: 2 }, barBeat: { temperature: 1.2 } } });
  assert.ok(isEmptyPatch(restorePatch(accepted, [])));
  assert.equal(restorePatch({ ...SETTINGS, pitchBalance: 0 }, ['pitchBalance']), { pitchBalance: 0 });
});

const enc = suite('client protocol: encodings');

enc('socket URL: same host, /ws, wss on https, and the page token', () => {
  assert.is(socketUrl({ protocol: 'http:', host: '127.0.0.1:8080', search: '' }), 'ws://127.0.0.1:8080/ws');
  assert.is(socketUrl({ protocol: 'https:', host: 'duet.example:443', search: '?x=1' }), 'wss://duet.example:443/ws');
  assert.is(socketUrl({ protocol: 'http:', host: 'h:1', search: '?token=a b&x=1' }), 'ws://h:1/ws?token=a%20b');
  assert.is(socketUrl({ protocol: 'http:', host: 'h:1', search: '?token=' }), 'ws://h:1/ws', 'an empty token is no token');
});

enc('base64 decodes to the bytes Node produces', () => {
  for (const len of [0, 1, 2, 3, 4, 5, 31, 256]) {
    const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 37 + 11) & 0xff);
    const b64 = Buffer.from(bytes).toString('base64');
    assert.equal([...base64ToBytes(b64)], [...bytes], `length ${len}`);
    assert.equal([...base64ToBytes(b64.replace(/=+$/, ''))], [...bytes], 'padding optional');
  }
  assert.equal([...base64ToBytes('TVRo\nZA==')], [0x4d, 0x54, 0x68, 0x64], 'whitespace ignored');
  assert.equal([...base64ToBytes('-_8')], [...Buffer.from('-_8', 'base64url')], 'url-safe alphabet');
  assert.throws(() => base64ToBytes('ab*d'), /bad character/);
  assert.throws(() => base64ToBytes('abcde'), /truncated/);
});

enc('close codes read as a reason', () => {
  assert.is(closeReason(1001), 'Server stopped');
  assert.is(closeReason(1009), 'Message too large');
  assert.is(closeReason(1006), 'Offline');
});

enc('recordings: an SMF header is recognised and the name made safe', () => {
  const smf = Buffer.from('4d546864000000060001000201e0', 'hex');
  assert.ok(isSmf(smf));
  assert.not.ok(isSmf(Buffer.from('RIFF0000000000')));
  assert.is(recordingFileName('session 2024-05-01.mid'), 'session 2024-05-01.mid');
  assert.is(recordingFileName('../../etc/passwd'), 'etc-passwd.mid');
  assert.is(recordingFileName(''), 'antiphon-session.mid');
  assert.is(recordingFileName('take.MIDI'), 'take.mid');
});

messages.run();
parse.run();
controls.run();
enc.run();
