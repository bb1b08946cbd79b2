// Backend selection. The model is written in tfjs ops only, so the same code runs on
// tfjs-node-gpu (an optional peer that this package never installs), on wasm (the
// default on CPU machines) and on the pure-JS cpu backend as a last resort.
//
// Importing '@tensorflow/tfjs' (not tfjs-core alone) also registers the gradients
// that the trainer needs.
import { registerInferenceKernels } from './kernels/index.ts';
import * as tf from '@tensorflow/tfjs';
import { AntiphonError } from '../errors.ts';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  name: BackendName;
  /** Why each backend tried before this one was not used, in the order tried. */
  fallbacks: { backend: BackendName; reason: string }[];
}

export type Log = (line: string) => void;

// A variable keeps TypeScript from resolving a package that is not installed here.
const NODE_GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type ProcessEvent = (typeof PROCESS_EVENTS)[number];
type Listener = (...args: unknown[]) => void;

function listenersOf(event: ProcessEvent): Listener[] {
  return process.listeners(event as 'uncaughtException') as unknown as Listener[];
}

/**
 * Runs `init` and removes every uncaughtException/unhandledRejection listener it added.
 * The emscripten glue of tfjs-backend-wasm installs listeners that rethrow, so a single
 * stray throw anywhere would otherwise take down a server holding many sessions.
 */
async function withoutNewProcessListeners<T>(init: () => Promise<T>): Promise<{ value: T; removed: number }> {
  const before = new Map(PROCESS_EVENTS.map((e) => [e, new Set(listenersOf(e))]));
  let removed = 0;
  const strip = () => {
    for (const e of PROCESS_EVENTS) {
      for (const l of listenersOf(e)) {
        if (!before.get(e)!.has(l)) {
          process.removeListener(e, l);
          removed++;
        }
      }
    }
  };
  try {
    const value = await init();
    strip();
    return { value, removed };
  } finally {
    strip(); // also when init throws: a half-started wasm module leaves its handlers too
  }
}

async function tryTensorflow(): Promise<void> {
  await import(NODE_GPU_PACKAGE);
  if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise');
  await tf.ready();
}

let wasmRemovedListeners = 0;

/**
 * Emscripten's rethrowing handlers, recognised by their source. A second line of defence
 * for when some other code initialised the wasm backend (plain tf.setBackend('wasm'))
 * before selectBackend could compare listener lists around it.
 */
const EMSCRIPTEN_RETHROW = /ExitStatus|^function\s*\(reason\)\s*\{\s*throw reason;?\s*\}$/;

/** Removes the wasm module's rethrowing process handlers, whoever installed them; returns how many. */
export function stripWasmProcessHandlers(): number {
  let n = 0;
  for (const e of PROCESS_EVENTS) {
    for (const l of listenersOf(e)) {
      if (EMSCRIPTEN_RETHROW.test(String(l).trim())) {
        process.removeListener(e, l);
        n++;
      }
    }
  }
  wasmRemovedListeners += n;
  return n;
}

async function tryWasm(): Promise<void> {
  const { removed } = await withoutNewProcessListeners(async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
    await tf.ready();
  });
  wasmRemovedListeners += removed;
  stripWasmProcessHandlers();
  // Slice/SplitV that read in place (see kernels/index.ts): faster priming and stepping.
  registerInferenceKernels();
}

async function tryCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
  await tf.ready();
}

const TRY: Record<BackendName, () => Promise<void>> = { tensorflow: tryTensorflow, wasm: tryWasm, cpu: tryCpu };

function reasonOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  if (/Cannot find (package|module)|ERR_MODULE_NOT_FOUND/.test(m)) return `${NODE_GPU_PACKAGE} is not installed`;
  return m.split('\n')[0];
}

/** How many process listeners the wasm backend installed and we removed (for tests). */
export const removedWasmListenerCount = (): number => wasmRemovedListeners;

/**
 * Makes `choice` the active tfjs backend. `auto` tries tensorflow (tfjs-node-gpu), then
 * wasm, then cpu, and logs which one it got and why it fell back. A named backend that
 * fails is an E_BACKEND error rather than a silent fallback: the user asked for it.
 */
export async function selectBackend(choice: BackendChoice = 'auto', log: Log = (l) => console.error(l)): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new AntiphonError('E_BACKEND', `unknown backend "${choice}"; choose one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const order: BackendName[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  const fallbacks: BackendInfo['fallbacks'] = [];
  for (const name of order) {
    if (tf.getBackend() === name && tf.engine().backendNames().includes(name)) {
      if (name === 'wasm') stripWasmProcessHandlers();
      log(`backend: ${name} (already active)`);
      return { name, fallbacks };
    }
    try {
      await TRY[name]();
      const note = fallbacks.length ? ` (fell back: ${fallbacks.map((f) => `${f.backend}: ${f.reason}`).join('; ')})` : '';
      log(`backend: ${name}${note}`);
      return { name, fallbacks };
    } catch (e) {
      fallbacks.push({ backend: name, reason: reasonOf(e) });
    }
  }
  const why = fallbacks.map((f) => `${f.backend}: ${f.reason}`).join('; ');
  throw new AntiphonError('E_BACKEND', `no tfjs backend could start (${why})`);
}
