// The settings panel against the page and the server: every control the client knows has its
// element on the page, shows its value readably, and only ever sends what the server accepts.
// Run in Node: the page is read as text, the server's own validators are called directly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import {
  answerLengthPatch,
  clampControl,
  CONTROL_IDS,
  CONTROLS,
  controlValues,
  formatControl,
  settingsMessage,
  settingsPatch,
  type SettingsPatch,
} from '../client/src/protocol.ts';
import { DEFAULT_DUET_SETTINGS, resolveDuetSettings, SETTING_LIMITS } from '../src/engine/duet/settings.ts';
import { parseClientMessage } from '../src/server/protocol.ts';

const HTML = readFileSync(new URL('../client/src/index.html', import.meta.url), 'utf8');

const page = suite('client controls: the page');

page('every control has its input, and every slider shows its value', () => {
  for (const id of CONTROL_IDS) {
    assert.ok(HTML.includes(`data-control="${id}"`), `${id} has no input`);
    if (new RegExp(`<input type="range" data-control="${id.replace('.', '\\.')}"`).test(HTML)) {
      assert.ok(HTML.includes(`<output data-for="${id}"`), `${id} has no output`);
    }
  }
});

const BALANCES = [
  { id: 'pitchBalance', label: /key/i, title: /key you play/i },
  { id: 'densityBalance', label: /density/i, title: /notes per bar/i },
] as const;

page('each balance is a slider with a label and a tooltip that says 0 turns it off', () => {
  for (const b of BALANCES) {
    const m = new RegExp(`<label class="row" title="([^"]+)">\\s*<span>([^<]+)</span>\\s*<input type="range" data-control="${b.id}">\\s*<output data-for="${b.id}"></output>`).exec(HTML);
    assert.ok(m, `${b.id}: a labelled slider with its output`);
    const [, title, label] = m!;
    assert.match(label, b.label);
    assert.match(title, b.title);
    assert.match(title, /\b0 turns it off\b/);
  }
});

page('values read as a musician expects: half steps show, 0 is off', () => {
  assert.is(formatControl('pitchBalance', 0), 'off');
  assert.is(formatControl('pitchBalance', 4), '4');
  assert.is(formatControl('pitchBalance', 4.5), '4.5');
  assert.is(formatControl('pitchBalance', 0.1 + 0.2), '0.3', 'a value from elsewhere, without float dust');
  assert.is(formatControl('densityBalance', 0), 'off');
  assert.is(formatControl('densityBalance', 1.5), '1.5');
  assert.is(formatControl('pitch.temperature', 1), '1.00');
  assert.is(formatControl('silenceMs', 612.4), '612');
});

const server = suite('client controls: the server accepts them');

/** What the server makes of a patch: parsed as a frame, then applied to a fresh session. */
function apply(patch: SettingsPatch) {
  const parsed = parseClientMessage(JSON.parse(JSON.stringify(settingsMessage(patch))));
  if (!parsed.ok) throw new Error(`${JSON.stringify(patch)}: ${parsed.message}`);
  const { type: _type, ...settings } = parsed.message as { type: string };
  return resolveDuetSettings(settings, DEFAULT_DUET_SETTINGS);
}

server('each control at both ends of its range is accepted by the protocol and the session', () => {
  for (const id of CONTROL_IDS) {
    const spec = CONTROLS[id];
    if (spec.kind === 'choice') {
      for (const c of spec.choices) assert.is(apply(settingsPatch(id, c)).tempoSource, c);
      continue;
    }
    for (const v of [spec.min, spec.max]) {
      const patch = id === 'minBars' || id === 'maxBars' ? answerLengthPatch(v, v, id) : settingsPatch(id, v);
      apply(patch);
    }
  }
  assert.is(apply(settingsPatch('pitchBalance', 0)).pitchBalance, 0);
  assert.is(apply(settingsPatch('pitchBalance', 12.5)).pitchBalance, 12.5);
  assert.is(apply(settingsPatch('densityBalance', 0)).densityBalance, 0);
  assert.is(apply(settingsPatch('densityBalance', 2.5)).densityBalance, 2.5);
});

server("each balance offers the session's whole range, and starts at the server's default", () => {
  const shown = controlValues(DEFAULT_DUET_SETTINGS);
  for (const { id } of BALANCES) {
    const spec = CONTROLS[id];
    assert.is(spec.kind, 'number');
    if (spec.kind !== 'number') return;
    assert.equal([spec.min, spec.max], [...SETTING_LIMITS[id]]);
    // Out of range, the session refuses the value; the control never sends one.
    assert.throws(() => resolveDuetSettings({ [id]: spec.max + spec.step }), new RegExp(id));
    assert.is(settingsPatch(id, spec.max + spec.step)[id], spec.max);
    // The page shows whatever hello says; the default must sit on a step so the slider shows it exactly.
    assert.is(shown[id], DEFAULT_DUET_SETTINGS[id]);
    assert.is(clampControl(id, DEFAULT_DUET_SETTINGS[id]), DEFAULT_DUET_SETTINGS[id]);
  }
  assert.equal(Object.keys(shown).sort(), [...CONTROL_IDS].sort(), "the server's settings fill every control");
});

page.run();
server.run();
