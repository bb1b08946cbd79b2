// Public API for reading MIDI files. Parsing happens in worker threads with a heap cap and a
// per-file deadline: a crafted file can loop midi-file until the heap is gone, and only
// terminating the thread stops that. One bad file costs one worker, never the process.
import { availableParallelism } from 'node:os';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { AntiphonError, isAntiphonError } from '../errors.ts';
import { unpackParsed } from './midi-read.ts';
import type { Job, Reply } from './midi-worker.ts';
import type { ParsedMidi } from './midi-types.ts';

export interface MidiReaderOptions {
  /** Parser threads; default: the machine's available parallelism. Never more are started than there are files waiting. */
  workers: number;
  /** Per-file deadline for read + parse, in ms; default 5000. Past it the worker is killed: E_MIDI_TIMEOUT. */
  timeoutMs: number;
  /**
   * Old-generation heap per worker, in MiB; default 64. Running out: E_MIDI_PARSE. A crafted file
   * takes about 10 ms per MiB to exhaust it, so this also bounds how long such a file holds a worker.
   */
  maxHeapMb: number;
  /**
   * Files larger than this are refused unread: E_MIDI_TOO_BIG; default 1 MiB. Parsing needs up to
   * ~50 bytes of heap per file byte (measured on dense note files), so raise maxHeapMb with it.
   */
  maxFileBytes: number;
}

let live = 0;
/** Worker threads alive across all pools; tests use it to prove dispose() leaves none behind. */
export const liveWorkerCount = (): number => live;

type Input = { path: string } | { bytes: Uint8Array; name: string };

interface Task {
  input: Input;
  name: string;
  resolve: (r: ParsedMidi) => void;
  reject: (e: AntiphonError) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task?: Task;
  jobId?: number;
  timer?: NodeJS.Timeout;
  exited: Promise<void>;
}

const BOOT = new URL('./worker-boot.mjs', import.meta.url);
const ENTRY = new URL('./midi-worker.ts', import.meta.url).href;

export class MidiReaderPool {
  readonly options: Readonly<MidiReaderOptions>;
  private readonly queue: Task[] = [];
  private readonly slots = new Set<Slot>();
  private nextId = 1;
  private disposed = false;

  static defaults(): MidiReaderOptions {
    return { workers: availableParallelism(), timeoutMs: 5000, maxHeapMb: 64, maxFileBytes: 1024 * 1024 };
  }

  constructor(opts: Partial<MidiReaderOptions> = {}) {
    const o = { ...MidiReaderPool.defaults(), ...opts };
    for (const key of ['workers', 'timeoutMs', 'maxHeapMb', 'maxFileBytes'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 1) {
        throw new AntiphonError('E_USAGE', `MIDI reader option ${key} must be a whole number of at least 1, got ${o[key]}`);
      }
    }
    this.options = Object.freeze(o);
  }

  read(path: string): Promise<ParsedMidi> {
    return this.submit({ path }, path);
  }

  readBytes(bytes: Uint8Array, name: string): Promise<ParsedMidi> {
    if (bytes.length > this.options.maxFileBytes) {
      return Promise.reject(new AntiphonError('E_MIDI_TOO_BIG',
        `${name}: ${bytes.length} bytes is more than the ${this.options.maxFileBytes}-byte limit for a MIDI file`, { file: name }));
    }
    return this.submit({ bytes, name }, name);
  }

  /** Results come back in the order of `paths`; a bad file yields its error in its place, never a rejection. */
  readMany(
    paths: string[],
    onEach?: (path: string, result: ParsedMidi | AntiphonError, done: number, total: number) => void,
  ): Promise<Array<ParsedMidi | AntiphonError>> {
    let done = 0;
    return Promise.all(paths.map(async (path) => {
      let result: ParsedMidi | AntiphonError;
      try {
        result = await this.read(path);
      } catch (e) {
        result = asAntiphonError(e, path);
      }
      done++;
      onEach?.(path, result, done, paths.length);
      return result;
    }));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const closed = (name: string) => new AntiphonError('E_INTERNAL', `${name}: the MIDI reader was closed before the file was read`, { file: name });
    for (const task of this.queue.splice(0)) task.reject(closed(task.name));
    const slots = [...this.slots];
    for (const slot of slots) {
      if (slot.task) slot.task.reject(closed(slot.task.name));
      this.retire(slot);
    }
    // A terminated worker holds no handle until its 'exit' event is delivered, so with nothing
    // else pending the process would end inside this await (seen with a worker still starting).
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await Promise.all(slots.map((s) => s.exited));
    } finally {
      clearInterval(keepAlive);
    }
  }

  private submit(input: Input, name: string): Promise<ParsedMidi> {
    if (this.disposed) {
      return Promise.reject(new AntiphonError('E_INTERNAL', `${name}: the MIDI reader is already closed`, { file: name }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ input, name, resolve, reject });
      this.pump();
    });
  }

  /** Hands queued files to idle workers, and starts workers only while files are left waiting. */
  private pump(): void {
    if (this.disposed) return;
    for (const slot of this.slots) {
      if (this.queue.length === 0) break;
      if (slot.ready && !slot.task) this.assign(slot, this.queue.shift()!);
    }
    let starting = [...this.slots].filter((s) => !s.ready).length;
    while (this.queue.length > starting && this.slots.size < this.options.workers) {
      this.spawn();
      starting++;
    }
  }

  private assign(slot: Slot, task: Task): void {
    const id = this.nextId++;
    slot.task = task;
    slot.jobId = id;
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      slot.task = undefined;
      this.retire(slot);
      task.reject(new AntiphonError('E_MIDI_TIMEOUT',
        `${task.name}: parsing took longer than ${this.options.timeoutMs} ms and was stopped`, { file: task.name }));
      this.pump();
    }, this.options.timeoutMs);
    const job: Job = 'path' in task.input
      ? { id, path: task.input.path, maxBytes: this.options.maxFileBytes }
      : { id, bytes: task.input.bytes, name: task.input.name };
    slot.worker.postMessage(job);
  }

  private spawn(): void {
    const worker = new Worker(BOOT, {
      workerData: { entry: ENTRY },
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb, maxYoungGenerationSizeMb: 16 },
    });
    live++;
    let markExited!: () => void;
    const slot: Slot = { worker, ready: false, exited: new Promise((r) => (markExited = r)) };
    this.slots.add(slot);

    worker.on('message', (msg: Reply) => {
      if (msg.type === 'ready') {
        slot.ready = true;
        worker.unref();
        this.pump();
        return;
      }
      const task = slot.task;
      // A reply can only belong to the job in hand; anything else is a late answer to a stopped job.
      if (!task || msg.id !== slot.jobId) return;
      clearTimeout(slot.timer);
      slot.task = undefined;
      worker.unref();
      // Hand the worker its next file before unpacking this one, so it parses while we unpack.
      this.pump();
      if (msg.type === 'done') task.resolve(unpackParsed(msg.result));
      else task.reject(new AntiphonError(msg.error.code, msg.error.message, { file: msg.error.file ?? task.name }));
    });

    worker.on('error', (err: Error & { code?: string }) => {
      const task = slot.task;
      slot.task = undefined;
      clearTimeout(slot.timer);
      this.retire(slot);
      if (task) {
        const why = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the parser ran out of its ${this.options.maxHeapMb} MiB memory limit (the file is malformed, or too large for that limit)`
          : `the parser crashed (${err.message})`;
        task.reject(new AntiphonError('E_MIDI_PARSE', `${task.name}: ${why}`, { file: task.name, cause: err }));
      } else if (!slot.ready) {
        // A worker that cannot even start will fail the same way again: fail the waiting files instead of looping.
        for (const t of this.queue.splice(0)) {
          t.reject(new AntiphonError('E_INTERNAL', `${t.name}: the MIDI parser thread could not start (${err.message})`, { file: t.name, cause: err }));
        }
        return;
      }
      this.pump();
    });

    worker.on('exit', () => {
      live--;
      const task = slot.task;
      slot.task = undefined;
      clearTimeout(slot.timer);
      this.slots.delete(slot);
      markExited();
      if (task) {
        task.reject(new AntiphonError('E_MIDI_PARSE', `${task.name}: the parser thread stopped unexpectedly`, { file: task.name }));
      }
      this.pump();
    });
  }

  /** Takes a worker out of service at once, so pump() can start its replacement while it dies. */
  private retire(slot: Slot): void {
    clearTimeout(slot.timer);
    if (!this.slots.delete(slot)) return;
    void slot.worker.terminate();
  }
}

function asAntiphonError(e: unknown, file: string): AntiphonError {
  if (isAntiphonError(e)) return e;
  return new AntiphonError('E_INTERNAL', `${file}: ${e instanceof Error ? e.message : String(e)}`, { file, cause: e });
}

/** Reads one file in a short-lived single-worker pool. */
export async function readMidiFile(path: string, opts: Partial<MidiReaderOptions> = {}): Promise<ParsedMidi> {
  const pool = new MidiReaderPool({ ...opts, workers: 1 });
  try {
    return await pool.read(path);
  } finally {
    await pool.dispose();
  }
}

const MIDI_EXT = /\.midi?$/i;

/** Every .mid/.midi under `dirOrFile` (or the file itself), sorted by code unit so runs are repeatable on any locale. */
export async function listMidiFiles(dirOrFile: string): Promise<string[]> {
  let st;
  try {
    st = await stat(dirOrFile);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new AntiphonError('E_FILE_NOT_FOUND', `${dirOrFile}: no such file or folder`, { file: dirOrFile, cause });
    }
    throw new AntiphonError('E_FILE_READ', `${dirOrFile}: cannot read (${code ?? String(cause)})`, { file: dirOrFile, cause });
  }
  if (!st.isDirectory()) return [dirOrFile];
  const found: string[] = [];
  await walk(dirOrFile, found);
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function walk(dir: string, found: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const full = join(dir, entry.name);
    // Symlinked folders are not followed, so a link loop cannot make the walk endless.
    if (entry.isDirectory()) await walk(full, found);
    else if ((entry.isFile() || entry.isSymbolicLink()) && MIDI_EXT.test(entry.name)) found.push(full);
  }
}
