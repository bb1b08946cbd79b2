// The WebSocket protocol (docs/protocol.md): schemas for what a client may send, types for what
// the server sends. A frame is parsed once here; anything wrong comes back as a stable error
// code and a sentence a musician can act on, never as a throw.
import { z } from 'zod';
import type { DuetSettings, Turn, TempoSource } from '../engine/duet/types.ts';
import { FAMILIES } from '../engine/vocab.ts';
import type { ErrorCode } from '../errors.ts';

export const PROTOCOL_VERSION = 1;

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
};

const missingOr = (rule: string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'is missing' : `${rule}, got ${show(iss.input)}`);

/** A whole number in [lo, hi]. */
const intIn = (lo: number, hi: number) =>
  z.custom<number>((v) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi, {
    error: missingOr(`must be a whole number from ${lo} to ${hi}`),
  });

/** A finite number in [lo, hi], or (lo, hi] when `loOpen`. */
const numIn = (lo: number, hi: number, loOpen = false) =>
  z.custom<number>(
    (v) => typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && v <= hi,
    { error: missingOr(`must be a number ${loOpen ? 'above' : 'from'} ${lo}${loOpen ? ' and at most' : ' to'} ${hi}`) },
  );

/** Milliseconds on the client's clock (performance.now() in a browser). */
const time = z
  .custom<number>((v) => typeof v === 'number' && Number.isFinite(v), { error: missingOr('must be a number of milliseconds on your clock') })
  .optional();
const channel = intIn(0, 15).optional();

const noteon = z.object({ type: z.literal('noteon'), note: intIn(0, 127), velocity: intIn(1, 127), time, channel });
const noteoff = z.object({ type: z.literal('noteoff'), note: intIn(0, 127), time, channel });
const cc = z.object({ type: z.literal('cc'), controller: intIn(0, 127), value: intIn(0, 127), time, channel });

const familySampling = z.strictObject(
  {
    temperature: numIn(0, 100).optional(),
    topP: numIn(0, 1, true).optional(),
    topK: intIn(0, 100_000).optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `has no setting ${iss.keys.join(', ')} (temperature, topP, topK)` : 'must be an object like {"temperature": 1, "topP": 0.9}') },
);

const sampling = z.strictObject(Object.fromEntries(FAMILIES.map((f) => [f, familySampling.optional()])) as Record<(typeof FAMILIES)[number], z.ZodOptional<typeof familySampling>>, {
  error: (iss) => (iss.code === 'unrecognized_keys' ? `has no family ${iss.keys.join(', ')} (families: ${FAMILIES.join(', ')})` : 'must be an object of families'),
});

const TEMPO_SOURCES = ['fixed', 'call', 'clock'] as const;

/**
 * Settings are checked for shape and gross range here (E_BAD_MESSAGE); the session owns the
 * musical limits (E_SETTING). Unknown setting names are refused, since a misspelt one would
 * otherwise change nothing without a word.
 */
const settingsFields = {
  sampling: sampling.optional(),
  minBars: intIn(1, 64).optional(),
  maxBars: intIn(1, 64).optional(),
  silenceMs: numIn(0, 60_000).optional(),
  handoffController: intIn(0, 127).nullable().optional(),
  tempoSource: z.enum(TEMPO_SOURCES, { error: missingOr(`must be one of ${TEMPO_SOURCES.join(', ')}`) }).optional(),
  bpm: numIn(0, 1000, true).optional(),
  lookaheadMs: numIn(0, 10_000).optional(),
  aiChannel: intIn(0, 15).nullable().optional(),
  maxRestBars: intIn(0, 1000).optional(),
  pitchBalance: numIn(0, 1000).optional(),
  densityBalance: numIn(0, 1000).optional(),
};
const settings = z.strictObject(
  { type: z.literal('settings'), ...settingsFields },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `there is no setting ${iss.keys.join(', ')} (settings: ${Object.keys(settingsFields).join(', ')})` : 'is not an object') },
);

const panic = z.object({ type: z.literal('panic') });
const handoff = z.object({ type: z.literal('handoff'), time });
const ping = z.object({ type: z.literal('ping'), t: z.custom<number>((v) => typeof v === 'number' && Number.isFinite(v), { error: missingOr('must be your clock in milliseconds') }) });
const record = z.object({ type: z.literal('record') });

export const CLIENT_SCHEMAS = { noteon, noteoff, cc, settings, panic, handoff, ping, record } as const;
export type ClientMessageType = keyof typeof CLIENT_SCHEMAS;
export const CLIENT_MESSAGE_TYPES = Object.keys(CLIENT_SCHEMAS) as ClientMessageType[];

export type NoteOnMessage = z.output<typeof noteon>;
export type NoteOffMessage = z.output<typeof noteoff>;
export type CcMessage = z.output<typeof cc>;
export type SettingsMessage = z.output<typeof settings>;
export type ClientMessage =
  | NoteOnMessage
  | NoteOffMessage
  | CcMessage
  | SettingsMessage
  | z.output<typeof panic>
  | z.output<typeof handoff>
  | z.output<typeof ping>
  | z.output<typeof record>;

export interface ProtocolError {
  code: Extract<ErrorCode, 'E_BAD_JSON' | 'E_BAD_MESSAGE' | 'E_BINARY_FRAME'>;
  message: string;
  /** The type of the refused message, when it had one. */
  for?: string;
}

export type ParseResult = { ok: true; message: ClientMessage } | ({ ok: false } & ProtocolError);

const isKnownType = (t: unknown): t is ClientMessageType => typeof t === 'string' && Object.hasOwn(CLIENT_SCHEMAS, t);

/** One frame from a client: JSON text in, a validated message or a protocol error out. */
export function parseClientFrame(data: string | Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParseResult {
  if (isBinary) {
    return { ok: false, code: 'E_BINARY_FRAME', message: 'binary frames are not understood: send each message as a JSON text frame' };
  }
  const text = typeof data === 'string' ? data : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'E_BAD_JSON', message: `the message is not JSON (it starts ${show(text.slice(0, 20))}); send one JSON object per frame, like {"type":"noteon","note":60,"velocity":90}` };
  }
  return parseClientMessage(value);
}

/** A parsed JSON value: a validated message or E_BAD_MESSAGE naming the field at fault. */
export function parseClientMessage(value: unknown): ParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'E_BAD_MESSAGE', message: `a message must be a JSON object with a "type", got ${show(value)}` };
  }
  const type = (value as { type?: unknown }).type;
  if (!isKnownType(type)) {
    const what = type === undefined ? 'has no "type"' : `has an unknown type ${show(type)}`;
    return { ok: false, code: 'E_BAD_MESSAGE', message: `the message ${what}; known types: ${CLIENT_MESSAGE_TYPES.join(', ')}` };
  }
  const r = CLIENT_SCHEMAS[type].safeParse(value);
  if (r.success) return { ok: true, message: r.data as ClientMessage };
  const issue = r.error.issues[0];
  const path = issue.path.map(String).join('.');
  return { ok: false, code: 'E_BAD_MESSAGE', message: `${type}: ${path ? `${path} ` : ''}${issue.message}`, for: type };
}

// ---- server → client ----------------------------------------------------------------------

export interface ModelInfo {
  name: string;
  description: string;
  parameters: number | null;
  trainingSteps: number;
  dataSources: string[];
}

/** The limits a client is held to, sent in `hello` so it can stay inside them. */
export interface ClientLimits {
  maxPayloadBytes: number;
  messagesPerSecond: number;
  burst: number;
  pingIntervalMs: number;
}

export type ServerMessage =
  | {
      type: 'hello';
      protocol: number;
      session: string;
      model: ModelInfo;
      settings: DuetSettings;
      turn: Turn;
      limits: ClientLimits;
      /** The server's clock (ms) when hello was sent. */
      server: number;
    }
  | { type: 'noteon'; note: number; velocity: number; time: number; channel: number }
  | { type: 'noteoff'; note: number; time: number; channel: number }
  | { type: 'state'; turn: Turn }
  | { type: 'settings'; settings: DuetSettings }
  | { type: 'tempo'; bpm: number; source: TempoSource }
  | { type: 'pong'; t: number; server: number }
  | { type: 'recording'; midi: string; name: string }
  | { type: 'error'; code: string; message: string; for?: string };

export type ServerMessageType = ServerMessage['type'];
