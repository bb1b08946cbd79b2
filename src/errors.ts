// Every error a user can meet carries a stable `code` (tests assert it) and a message a musician can act on.

export type ErrorCode =
  | 'E_USAGE'
  | 'E_FILE_NOT_FOUND'
  | 'E_FILE_READ'
  | 'E_MIDI_PARSE'
  | 'E_MIDI_TIMEOUT'
  | 'E_MIDI_TOO_BIG'
  | 'E_MIDI_RANGE'
  | 'E_MIDI_EMPTY'
  | 'E_POP909_BEATS'
  | 'E_WORD_INVALID'
  | 'E_EVENT_INVALID'
  | 'E_DATASET'
  | 'E_MODEL_MISSING'
  | 'E_MODEL_CORRUPT'
  | 'E_MODEL_VOCAB'
  | 'E_MODEL_CONFIG'
  | 'E_BACKEND'
  | 'E_SAMPLER_SETTING'
  | 'E_SETTING'
  | 'E_SESSION_CLOSED'
  | 'E_MIDI_PORT_UNAVAILABLE'
  | 'E_MIDI_PORT_NOT_FOUND'
  | 'E_MIDI_PORT_AMBIGUOUS'
  | 'E_MIDI_PORT_FAILED'
  | 'E_VIRTUAL_UNSUPPORTED'
  | 'E_BAD_JSON'
  | 'E_BAD_MESSAGE'
  | 'E_BINARY_FRAME'
  | 'E_RATE_LIMIT'
  | 'E_SERVER'
  | 'E_INTERNAL';

export class AntiphonError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;

  constructor(code: ErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AntiphonError';
    this.code = code;
    this.file = options.file;
  }

  toJSON(): { code: ErrorCode; message: string; file?: string } {
    return { code: this.code, message: this.message, ...(this.file ? { file: this.file } : {}) };
  }
}

export const isAntiphonError = (e: unknown): e is AntiphonError => e instanceof AntiphonError;
