// An engine worker: loads the model once and hosts duet sessions for the server thread, so that
// sessions on two cores run side by side and the server's event loop only moves messages.
// Times are Date.now() milliseconds in both threads (RxJS's asyncScheduler clock).
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../../engine/backend.ts';
import { DuetSession } from '../../engine/duet/session.ts';
import { withModelSampling } from '../../engine/duet/settings.ts';
import { loadModel } from '../../engine/model/checkpoint.ts';
import { warmUp } from '../../engine/model/warm-up.ts';
import type { SamplerSettingsInput } from '../../engine/sampler/settings.ts';
import { isAntiphonError } from '../../errors.ts';
import type { EngineWorkerData, FromWorker, ToWorker } from './messages.ts';

const port = parentPort!;
const data = workerData as EngineWorkerData;
const post = (m: FromWorker) => port.postMessage(m);
const sessions = new Map<number, DuetSession>();
const early: ToWorker[] = [];
let handle: ((m: ToWorker) => void) | null = null;

const errorOf = (e: unknown): { code: string; message: string } =>
  isAntiphonError(e) ? e : { code: 'E_INTERNAL', message: String((e as Error)?.message ?? e) };

// Messages that arrive while the model loads wait their turn.
port.on('message', (m: ToWorker) => (handle ? handle(m) : early.push(m)));

try {
  await selectBackend(data.backend as BackendChoice, () => {});
  const { model, card } = await loadModel(data.modelDir);
  warmUp(model);
  const cardSampling = card.sampling as SamplerSettingsInput | undefined;
  handle = (m) => {
    if (m.t === 'memory') {
      post({ t: 'memory', req: m.req, numTensors: tf.memory().numTensors, sessions: sessions.size });
      return;
    }
    if (m.t === 'create') {
      const s = new DuetSession(model, {
        seed: m.seed,
        workSliceWords: data.workSliceWords,
        forecast: data.forecast,
        settings: withModelSampling(m.settings, cardSampling),
      });
      s.output$.subscribe((o) => post({ t: 'out', id: m.id, o }));
      sessions.set(m.id, s);
      return;
    }
    const s = sessions.get(m.id);
    if (!s) return;
    try {
      if (m.t === 'push') s.push(m.ev);
      else if (m.t === 'clock') s.pushClock(m.ev);
      else if (m.t === 'update') s.update(m.input);
      else if (m.t === 'handoff') s.handOff();
      else if (m.t === 'panic') s.panic();
      else if (m.t === 'dispose') {
        s.dispose();
        sessions.delete(m.id);
      }
    } catch (e) {
      const err = errorOf(e);
      post({ t: 'out', id: m.id, o: { type: 'error', code: err.code, message: err.message } });
    }
  };
  post({ t: 'ready' });
  for (const m of early.splice(0)) handle(m);
} catch (e) {
  const err = errorOf(e);
  post({ t: 'failed', code: err.code, message: err.message });
}
