// Messages between the server thread and an engine worker that hosts duet sessions.
import type { NoteEvent } from '../../engine/note-events.ts';
import type { ClockEvent, DuetOutput, DuetSettingsInput } from '../../engine/duet/types.ts';

export type ToWorker =
  | { t: 'create'; id: number; settings?: DuetSettingsInput; seed?: number }
  | { t: 'push'; id: number; ev: NoteEvent }
  | { t: 'clock'; id: number; ev: ClockEvent }
  | { t: 'update'; id: number; input: DuetSettingsInput }
  | { t: 'handoff'; id: number }
  | { t: 'panic'; id: number }
  | { t: 'dispose'; id: number }
  | { t: 'memory'; req: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; code: string; message: string }
  | { t: 'out'; id: number; o: DuetOutput }
  | { t: 'memory'; req: number; numTensors: number; sessions: number };

export interface EngineWorkerData {
  entry: string;
  modelDir: string;
  backend: string;
  workSliceWords?: number;
  forecast?: boolean;
}
