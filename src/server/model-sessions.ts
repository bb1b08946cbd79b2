// The real session factory: a model folder loaded once, one DuetSession per connection, all
// sharing the model's weights. The caller owns the result and disposes it after the sessions.
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, type BackendChoice, type BackendInfo } from '../engine/backend.ts';
import { DuetSession } from '../engine/duet/session.ts';
import { loadModel } from '../engine/model/checkpoint.ts';
import type { CPTransformer } from '../engine/model/transformer.ts';
import type { SamplerSettingsInput } from '../engine/sampler/settings.ts';
import { AntiphonError } from '../errors.ts';
import type { ModelInfo } from './protocol.ts';
import type { SessionFactory } from './server.ts';

/** models/default of this repository. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));

export interface ModelSessions {
  createSession: SessionFactory;
  model: CPTransformer;
  info: ModelInfo;
  backend: BackendInfo;
  /** Frees the model's weights; call after every session is disposed. */
  dispose(): void;
}

const shown = (dir: string): string => relative(process.cwd(), dir) || '.';

/**
 * Selects the backend, loads `dir` (checked against its manifest) and returns the factory.
 * A missing folder is E_MODEL_MISSING with a message saying how to get one.
 */
export async function loadModelSessions(dir: string, backend: BackendChoice = 'auto', log: (line: string) => void = () => {}): Promise<ModelSessions> {
  if (!existsSync(dir)) {
    throw new AntiphonError(
      'E_MODEL_MISSING',
      `no model at ${shown(dir)}: train one with "antiphon train --data ../shared/data/pop1k7 --out ${shown(dir)}" (see the README), or pass --model DIR with a model folder`,
      { file: dir },
    );
  }
  const backendInfo = await selectBackend(backend, log);
  const { model, card } = await loadModel(dir);
  return {
    // The model card's sampling defaults (chosen for this model) sit under the session's own.
    createSession: (opts) =>
      new DuetSession(model, {
        ...opts,
        settings: { ...opts.settings, sampling: { ...(card.sampling as SamplerSettingsInput | undefined), ...opts.settings?.sampling } },
      }),
    model,
    info: {
      name: card.name,
      description: card.description,
      parameters: card.parameters ?? null,
      trainingSteps: card.trainingSteps,
      dataSources: card.dataSources,
    },
    backend: backendInfo,
    dispose: () => {
      if (!model.disposed) model.dispose();
    },
  };
}
