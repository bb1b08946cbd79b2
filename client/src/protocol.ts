// The WebSocket protocol as the client speaks it (docs/protocol.md): message types, builders,
// a defensive parser for what the server sends, the settings patches the controls produce and
// how their values read, and small encoding helpers. Pure: no DOM, no socket, so it runs under
// Node in the tests.

export type Family = 'type' | 'barBeat' | 'tempo' | 'chord' | 'pitch' | 'duration' | 'velocity';
export const FAMILIES: readonly Family[] = ['type', 'barBeat', 'tempo', 'chord', 'pitch', 'duration', 'velocity'];

export interface FamilySampling {
  temperature: number;
  topP: number;
  topK: number;
}

export type Turn = 'listening' | 'answering';
export type TempoSource = 'fixed' | 'call' | 'clock';

export interface DuetSettings {
  sampling: Record<Family, FamilySampling>;
  minBars: number;
  maxBars: number;
  silenceMs: number;
  handoffController: number | null;
  tempoSource: TempoSource;
  bpm: number;
  lookaheadMs: number;
  aiChannel: number | null;
  pitchBalance: number;
  densityBalance: number;
}

/** What a `settings` message carries: any subset, sampling per family per field. */
export interface SettingsPatch {
  sampling?: { [F in Family]?: Partial<FamilySampling> };
  minBars?: number;
  maxBars?: number;
  silenceMs?: number;
  handoffController?: number | null;
  tempoSource?: TempoSource;
  bpm?: number;
  lookaheadMs?: number;
  aiChannel?: number | null;
  pitchBalance?: number;
  densityBalance?: number;
}

export interface ModelInfo {
  name?: string;
  description?: string;
  parameters?: number;
  trainingSteps?: number;
  dataSources?: unknown;
}

export type ClientMessage =
  | { type: 'noteon'; note: number; velocity: number; time?: number; channel?: number }
  | { type: 'noteoff'; note: number; time?: number; channel?: number }
  | { type: 'cc'; controller: number; value: number; time?: number; channel?: number }
  | ({ type: 'settings' } & SettingsPatch)
  | { type: 'panic' }
  | { type: 'handoff'; time?: number }
  | { type: 'ping'; t: number }
  | { type: 'record' };

export type ServerMessage =
  | { type: 'hello'; session: string; model: ModelInfo; settings: Partial<DuetSettings>; limits: Record<string, unknown>; turn: Turn }
  | { type: 'noteon'; note: number; velocity: number; time: number; channel: number }
  | { type: 'noteoff'; note: number; time: number; channel: number }
  | { type: 'state'; turn: Turn }
  | { type: 'settings'; settings: Partial<DuetSettings> }
  | { type: 'tempo'; bpm: number; source: TempoSource }
  | { type: 'pong'; t: number; server: number }
  | { type: 'recording'; midi: string; name: string }
  | { type: 'error'; code: string; message: string; for?: string };

// ---------------------------------------------------------------------------------------------
// Client → server

/** Times go out in ms with two decimals: precise enough, and short frames. */
function ms(t: number): number {
  return Math.round(t * 100) / 100;
}

function midiByte(n: number, what: string, min = 0): number {
  if (!Number.isFinite(n)) throw new RangeError(`${what} must be a number`);
  return Math.min(127, Math.max(min, Math.round(n)));
}

/** A MIDI channel 0..15 for a message, or nothing (the server's default, 0). */
function withChannel<T extends object>(msg: T, channel: number | undefined): T {
  if (channel === undefined) return msg;
  return { ...msg, channel: Math.min(15, Math.max(0, Math.trunc(channel) || 0)) };
}

/** `channel` is the MIDI channel a WebMIDI note came in on; the AI answers on it. */
export function noteOn(note: number, velocity: number, time?: number, channel?: number): ClientMessage {
  const msg: ClientMessage = { type: 'noteon', note: midiByte(note, 'note'), velocity: midiByte(velocity, 'velocity', 1) };
  if (time !== undefined) msg.time = ms(time);
  return withChannel(msg, channel);
}

export function noteOff(note: number, time?: number, channel?: number): ClientMessage {
  const msg: ClientMessage = { type: 'noteoff', note: midiByte(note, 'note') };
  if (time !== undefined) msg.time = ms(time);
  return withChannel(msg, channel);
}

export function controlChange(controller: number, value: number, time?: number, channel?: number): ClientMessage {
  const msg: ClientMessage = { type: 'cc', controller: midiByte(controller, 'controller'), value: midiByte(value, 'value') };
  if (time !== undefined) msg.time = ms(time);
  return withChannel(msg, channel);
}

export function handoff(time?: number): ClientMessage {
  return time === undefined ? { type: 'handoff' } : { type: 'handoff', time: ms(time) };
}

export function ping(t: number): ClientMessage {
  return { type: 'ping', t: ms(t) };
}

export function settingsMessage(patch: SettingsPatch): ClientMessage {
  return { type: 'settings', ...patch };
}

export function encode(msg: ClientMessage): string {
  return JSON.stringify(msg);
}

// ---------------------------------------------------------------------------------------------
// Server → client

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
function str(v: unknown): v is string {
  return typeof v === 'string';
}

/**
 * Parses one text frame from the server. Returns null for anything that is not a message this
 * client understands (bad JSON, an unknown type, a missing field), so a newer server cannot
 * break an older page. `now` fills a note's missing `time` (sound it at once) and `channel`
 * defaults to 0.
 */
export function parseServerMessage(text: string, now = 0): ServerMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(v) || !str(v.type)) return null;
  switch (v.type) {
    case 'hello':
      return {
        type: 'hello',
        session: str(v.session) ? v.session : '',
        model: isObj(v.model) ? (v.model as ModelInfo) : {},
        settings: isObj(v.settings) ? (v.settings as Partial<DuetSettings>) : {},
        limits: isObj(v.limits) ? v.limits : {},
        // Not in every server's hello; a fresh session listens.
        turn: v.turn === 'answering' ? 'answering' : 'listening',
      };
    case 'noteon':
      if (!num(v.note) || !num(v.velocity)) return null;
      return {
        type: 'noteon',
        note: v.note,
        velocity: v.velocity,
        time: num(v.time) ? v.time : now,
        channel: num(v.channel) ? v.channel : 0,
      };
    case 'noteoff':
      if (!num(v.note)) return null;
      return { type: 'noteoff', note: v.note, time: num(v.time) ? v.time : now, channel: num(v.channel) ? v.channel : 0 };
    case 'state':
      if (v.turn !== 'listening' && v.turn !== 'answering') return null;
      return { type: 'state', turn: v.turn };
    case 'settings':
      if (!isObj(v.settings)) return null;
      return { type: 'settings', settings: v.settings as Partial<DuetSettings> };
    case 'tempo':
      if (!num(v.bpm)) return null;
      return { type: 'tempo', bpm: v.bpm, source: v.source === 'call' || v.source === 'clock' ? v.source : 'fixed' };
    case 'pong':
      if (!num(v.t)) return null;
      return { type: 'pong', t: v.t, server: num(v.server) ? v.server : NaN };
    case 'recording':
      if (!str(v.midi)) return null;
      return { type: 'recording', midi: v.midi, name: str(v.name) ? v.name : '' };
    case 'error': {
      const msg: ServerMessage = { type: 'error', code: str(v.code) ? v.code : 'E_UNKNOWN', message: str(v.message) ? v.message : '' };
      if (str(v.for)) msg.for = v.for;
      return msg;
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The settings controls

export type ControlId =
  | 'pitch.temperature'
  | 'pitch.topP'
  | 'rhythm.temperature'
  | 'rhythm.topP'
  | 'velocity.temperature'
  | 'velocity.topP'
  | 'minBars'
  | 'maxBars'
  | 'silenceMs'
  | 'pitchBalance'
  | 'densityBalance'
  | 'tempoSource'
  | 'bpm';

export interface NumberControl {
  kind: 'number';
  min: number;
  max: number;
  step: number;
}
export interface ChoiceControl {
  kind: 'choice';
  choices: readonly string[];
}
export type ControlSpec = NumberControl | ChoiceControl;

/** The range of each control. The server validates again; these keep the UI sensible. */
export const CONTROLS: Readonly<Record<ControlId, ControlSpec>> = {
  'pitch.temperature': { kind: 'number', min: 0, max: 3, step: 0.05 },
  'pitch.topP': { kind: 'number', min: 0.05, max: 1, step: 0.01 },
  'rhythm.temperature': { kind: 'number', min: 0, max: 3, step: 0.05 },
  'rhythm.topP': { kind: 'number', min: 0.05, max: 1, step: 0.01 },
  'velocity.temperature': { kind: 'number', min: 0, max: 6, step: 0.1 },
  'velocity.topP': { kind: 'number', min: 0.05, max: 1, step: 0.01 },
  minBars: { kind: 'number', min: 1, max: 16, step: 1 },
  maxBars: { kind: 'number', min: 1, max: 16, step: 1 },
  silenceMs: { kind: 'number', min: 100, max: 4000, step: 50 },
  // The session's whole range: above 16 a pitch class you did not play is all but forbidden.
  pitchBalance: { kind: 'number', min: 0, max: 16, step: 0.5 },
  // The session's whole range: above 8 the count of notes overrides the model's rhythm.
  densityBalance: { kind: 'number', min: 0, max: 8, step: 0.5 },
  tempoSource: { kind: 'choice', choices: ['fixed', 'call'] },
  bpm: { kind: 'number', min: 30, max: 300, step: 1 },
};

export const CONTROL_IDS = Object.keys(CONTROLS) as ControlId[];

/** The sampling families a control's group drives: rhythm is both duration and position. */
export const GROUP_FAMILIES: Readonly<Record<'pitch' | 'rhythm' | 'velocity', readonly Family[]>> = {
  pitch: ['pitch'],
  rhythm: ['duration', 'barBeat'],
  velocity: ['velocity'],
};

/** Clamps to the control's range and snaps to its step (from min), fixing float dust. */
export function clampControl(id: ControlId, value: number): number {
  const spec = CONTROLS[id];
  if (spec.kind !== 'number') throw new TypeError(`${id} is not a number control`);
  if (!Number.isFinite(value)) throw new RangeError(`${id} must be a number`);
  const snapped = spec.min + Math.round((value - spec.min) / spec.step) * spec.step;
  const clamped = Math.min(spec.max, Math.max(spec.min, snapped));
  const decimals = (String(spec.step).split('.')[1] ?? '').length;
  return Number(clamped.toFixed(decimals));
}

/** The partial settings one control sets. */
export function settingsPatch(id: ControlId, value: number | string): SettingsPatch {
  const spec = CONTROLS[id];
  if (spec.kind === 'choice') {
    if (typeof value !== 'string' || !spec.choices.includes(value)) throw new RangeError(`${id}: ${String(value)} is not one of ${spec.choices.join(', ')}`);
    return { tempoSource: value as TempoSource };
  }
  const v = clampControl(id, Number(value));
  const dot = id.indexOf('.');
  if (dot > 0) {
    const group = id.slice(0, dot) as keyof typeof GROUP_FAMILIES;
    const field = id.slice(dot + 1) as 'temperature' | 'topP';
    const sampling: NonNullable<SettingsPatch['sampling']> = {};
    for (const f of GROUP_FAMILIES[group]) sampling[f] = { [field]: v };
    return { sampling };
  }
  return { [id]: v } as SettingsPatch;
}

/**
 * Answer length as one change: moving min above max drags max along and vice versa, so the
 * server never sees minBars > maxBars.
 */
export function answerLengthPatch(minBars: number, maxBars: number, changed: 'minBars' | 'maxBars'): SettingsPatch {
  let min = clampControl('minBars', minBars);
  let max = clampControl('maxBars', maxBars);
  if (min > max) {
    if (changed === 'minBars') max = min;
    else min = max;
  }
  return { minBars: min, maxBars: max };
}

/** Deep-merges patches, later values winning: several quick slider moves become one message. */
export function mergePatches(...patches: SettingsPatch[]): SettingsPatch {
  const out: SettingsPatch = {};
  for (const p of patches) {
    for (const [k, v] of Object.entries(p) as [keyof SettingsPatch, unknown][]) {
      if (k === 'sampling' && isObj(v)) {
        const s = (out.sampling ??= {});
        for (const [f, fields] of Object.entries(v) as [Family, Partial<FamilySampling>][]) {
          s[f] = { ...s[f], ...fields };
        }
      } else {
        (out as Record<string, unknown>)[k] = v;
      }
    }
  }
  return out;
}

/**
 * The value each control shows for a settings object (from `hello` or `settings`). Fields the
 * object lacks are left out. Rhythm shows duration's values (position's when duration is
 * missing).
 */
export function controlValues(settings: Partial<DuetSettings>): Partial<Record<ControlId, number | string>> {
  const out: Partial<Record<ControlId, number | string>> = {};
  const s = isObj(settings.sampling) ? (settings.sampling as Partial<Record<Family, Partial<FamilySampling>>>) : {};
  for (const group of ['pitch', 'rhythm', 'velocity'] as const) {
    for (const field of ['temperature', 'topP'] as const) {
      for (const f of GROUP_FAMILIES[group]) {
        const v = s[f]?.[field];
        if (num(v)) {
          out[`${group}.${field}`] = v;
          break;
        }
      }
    }
  }
  for (const id of ['minBars', 'maxBars', 'silenceMs', 'pitchBalance', 'densityBalance', 'bpm'] as const) {
    if (num(settings[id])) out[id] = settings[id];
  }
  if (settings.tempoSource === 'fixed' || settings.tempoSource === 'call' || settings.tempoSource === 'clock') {
    out.tempoSource = settings.tempoSource;
  }
  return out;
}

/** The text beside a control, without its unit. */
export function formatControl(id: ControlId, value: number | string): string {
  if (typeof value === 'string') return value;
  if (id.endsWith('.temperature') || id.endsWith('.topP')) return value.toFixed(2);
  // Half steps must show, and 0 is not a weak setting but none at all.
  if (id === 'pitchBalance' || id === 'densityBalance') return value === 0 ? 'off' : String(Math.round(value * 10) / 10);
  return String(Math.round(value));
}

/**
 * After a reconnect the server starts a fresh session with its defaults. This rebuilds what the
 * person had chosen: the last accepted values of the controls they touched.
 */
export function restorePatch(lastAccepted: Partial<DuetSettings>, touched: Iterable<ControlId>): SettingsPatch {
  const values = controlValues(lastAccepted);
  const patches: SettingsPatch[] = [];
  for (const id of touched) {
    const v = values[id];
    if (v === undefined) continue;
    if (id === 'tempoSource' && v === 'clock') continue;
    // A group reflects one family; restore the group's other families from their own values.
    if (id.includes('.')) {
      const [group, field] = id.split('.') as ['pitch' | 'rhythm' | 'velocity', 'temperature' | 'topP'];
      const sampling: NonNullable<SettingsPatch['sampling']> = {};
      for (const f of GROUP_FAMILIES[group]) {
        const own = lastAccepted.sampling?.[f]?.[field];
        if (num(own)) sampling[f] = { [field]: own };
      }
      patches.push({ sampling });
    } else {
      patches.push({ [id]: v } as SettingsPatch);
    }
  }
  return mergePatches(...patches);
}

export function isEmptyPatch(p: SettingsPatch): boolean {
  return Object.keys(p).length === 0 || (Object.keys(p).length === 1 && isObj(p.sampling) && Object.keys(p.sampling).length === 0);
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers

/** The socket's URL for a page location: same host, /ws, ws or wss, and the page's ?token=. */
export function socketUrl(location: { protocol: string; host: string; search: string }): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = new URLSearchParams(location.search).get('token');
  return `${scheme}//${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;
B64_INDEX['-'.charCodeAt(0)] = 62; // base64url too
B64_INDEX['_'.charCodeAt(0)] = 63;

/** Decodes base64 (standard or url-safe, padding optional, whitespace ignored). Throws on junk. */
export function base64ToBytes(b64: string): Uint8Array {
  const clean = b64.replace(/\s+/g, '').replace(/=+$/, '');
  if (clean.length % 4 === 1) throw new RangeError('base64: truncated input');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const c = clean.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) throw new RangeError(`base64: bad character at ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** What a close code means to a musician (docs/protocol.md, "Limits and closing"). */
export function closeReason(code: number): string {
  switch (code) {
    case 1001:
      return 'Server stopped';
    case 1008:
      return 'Dropped: the page fell behind';
    case 1009:
      return 'Message too large';
    case 1011:
      return 'Session failed';
    default:
      return 'Offline';
  }
}

/** True when the bytes start like a Standard MIDI File. */
export function isSmf(bytes: Uint8Array): boolean {
  return bytes.length >= 14 && bytes[0] === 0x4d && bytes[1] === 0x54 && bytes[2] === 0x68 && bytes[3] === 0x64;
}

/** A safe download name ending in .mid, from the server's `name` (which may be anything). */
export function recordingFileName(name: string, fallback = 'antiphon-session'): string {
  let base = name.replace(/\.midi?$/i, '').replace(/[^A-Za-z0-9._ -]+/g, '-').replace(/^[.\s-]+|[.\s-]+$/g, '');
  if (!base) base = fallback;
  return `${base.slice(0, 100)}.mid`;
}
