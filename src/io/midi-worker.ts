// Worker entry: reads and parses one MIDI file per message. The pool kills this thread when a
// crafted file sends the parser into a loop, so nothing here needs to defend against that itself.
import { readFileSync, statSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { AntiphonError, isAntiphonError, type ErrorCode } from '../errors.ts';
import { packParsed, parseMidiBytes, type PackedMidi } from './midi-read.ts';

export type Job =
  | { id: number; path: string; maxBytes: number }
  | { id: number; bytes: Uint8Array; name: string };

export interface WireError {
  code: ErrorCode;
  message: string;
  file?: string;
}

export type Reply =
  | { type: 'ready' }
  | { type: 'done'; id: number; result: PackedMidi }
  | { type: 'failed'; id: number; error: WireError };

function load(path: string, maxBytes: number): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new AntiphonError('E_FILE_READ', `${path}: not a regular file`, { file: path });
    size = st.size;
  } catch (cause) {
    if (isAntiphonError(cause)) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new AntiphonError('E_FILE_NOT_FOUND', `${path}: no such file`, { file: path, cause });
    }
    throw new AntiphonError('E_FILE_READ', `${path}: cannot read (${code ?? String(cause)})`, { file: path, cause });
  }
  const tooBig = (n: number) =>
    new AntiphonError('E_MIDI_TOO_BIG', `${path}: ${n} bytes is more than the ${maxBytes}-byte limit for a MIDI file`, { file: path });
  if (size > maxBytes) throw tooBig(size);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new AntiphonError('E_FILE_READ', `${path}: cannot read (${code ?? String(cause)})`, { file: path, cause });
  }
  // The file may have grown between stat and read.
  if (bytes.length > maxBytes) throw tooBig(bytes.length);
  return bytes;
}

function run(job: Job): { reply: Reply; transfer: ArrayBuffer[] } {
  const name = 'path' in job ? job.path : job.name;
  try {
    const bytes = 'path' in job ? load(job.path, job.maxBytes) : job.bytes;
    const { packed, transfer } = packParsed(parseMidiBytes(bytes, name));
    return { reply: { type: 'done', id: job.id, result: packed }, transfer };
  } catch (e) {
    const error: WireError = isAntiphonError(e)
      ? { code: e.code, message: e.message, file: e.file ?? name }
      : { code: 'E_INTERNAL', message: `${name}: ${e instanceof Error ? e.message : String(e)}`, file: name };
    return { reply: { type: 'failed', id: job.id, error }, transfer: [] };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (job: Job) => {
    const { reply, transfer } = run(job);
    port.postMessage(reply, transfer);
  });
  port.postMessage({ type: 'ready' } satisfies Reply);
}
