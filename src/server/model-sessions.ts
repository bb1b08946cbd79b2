// The real session factory: a model folder loaded once, one DuetSession per connection, all
// sharing the model's weights. The caller owns the result and disposes it after the sessions.
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, type BackendChoice } from '../engine/backend.ts';
import { DuetSession } from '../engine/duet/session.ts';
import { withModelSampling } from '../engine/duet/settings.ts';
import { loadModel, type ModelCard } from '../engine/model/checkpoint.ts';
import { warmUp } from '../engine/model/warm-up.ts';
import { EngineWorkerPool, defaultEngineWorkers } from './engine-workers/pool.ts';
import type { CPTransformer } from '../engine/model/transformer.ts';
import type { SamplerSettingsInput } from '../engine/sampler/settings.ts';
import { AntiphonError } from '../errors.ts';
import type { ModelInfo } from './protocol.ts';
import type { SessionFactory } from './server.ts';

/** models/default of this repository. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));

export interface ModelSessions {
  createSession: SessionFactory;
  /** The model as loaded in this thread (the first session plays here). */
  model: CPTransformer;
  info: ModelInfo;
  /** Engine worker threads hosting the sessions (0: this thread). */
  engineWorkers: number;
  /** Frees the model's weights or stops the engine workers; call after every session is disposed. */
  dispose(): Promise<void>;
}

export interface ModelSessionsOptions {
  /**
   * Worker threads that host the sessions, so sessions use every core and the server thread
   * only moves messages. 0 runs them in this thread. Default: one per core, at most 2.
   */
  engineWorkers?: number;
  /** Every session's DuetSessionOptions.workSliceWords (default: the session's). */
  workSliceWords?: number;
  /** Every session's DuetSessionOptions.forecast (default: the session's). */
  forecast?: boolean;
}

const shown = (dir: string): string => relative(process.cwd(), dir) || '.';

const infoOf = (card: ModelCard): ModelInfo => ({
  name: card.name,
  description: card.description,
  parameters: card.parameters ?? null,
  trainingSteps: card.trainingSteps,
  dataSources: card.dataSources,
});

/**
 * Loads `dir` (checked against its manifest) and returns the session factory. A missing folder
 * is E_MODEL_MISSING with a message saying how to get one.
 */
export async function loadModelSessions(
  dir: string,
  backend: BackendChoice = 'auto',
  log: (line: string) => void = () => {},
  opts: ModelSessionsOptions = {},
): Promise<ModelSessions> {
  if (!existsSync(dir)) {
    throw new AntiphonError(
      'E_MODEL_MISSING',
      `no model at ${shown(dir)}: train one with "antiphon train --data ../shared/data/pop1k7 --out ${shown(dir)}" (see the README), or pass --model DIR with a model folder`,
      { file: dir },
    );
  }
  const workers = opts.engineWorkers ?? defaultEngineWorkers();
  await selectBackend(backend, log);
  const { model, card } = await loadModel(dir);
  log(`engine: warmed up in ${Math.round(warmUp(model))} ms`);
  const sampling = card.sampling as SamplerSettingsInput | undefined;
  const { workSliceWords, forecast } = opts;
  const local: SessionFactory = (o) => new DuetSession(model, { workSliceWords, forecast, ...o, settings: withModelSampling(o.settings, sampling) });
  const freeModel = () => {
    if (!model.disposed) model.dispose();
  };
  if (workers === 0) return { createSession: local, model, info: infoOf(card), engineWorkers: 0, dispose: async () => freeModel() };
  // The first session plays in this thread; more at once go to workers on the other cores.
  const pool = new EngineWorkerPool({ modelDir: dir, backend, workers, sampling, local, log, workSliceWords, forecast });
  await pool.start();
  log(`engine: one session in this thread, more in up to ${workers} worker thread(s)`);
  return {
    createSession: pool.createSession,
    model,
    info: infoOf(card),
    engineWorkers: workers,
    dispose: async () => {
      await pool.close();
      freeModel();
    },
  };
}
