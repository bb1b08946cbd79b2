// Duet sessions hosted in engine worker threads: the server thread keeps the sockets and the
// doors, the workers do the model work, so two cores serve sessions side by side. A session
// here is a proxy with the DuetSessionApi: it validates settings on the spot (the same rules
// as the engine), keeps its own recording from what passes through it, and on dispose switches
// off every AI note it forwarded before it returns, as the in-process session does.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Subject, type Observable, type Subscription } from 'rxjs';
import { Recorder } from '../../engine/duet/recorder.ts';
import { checkWorkSliceWords } from '../../engine/duet/session.ts';
import { DEFAULT_DUET_SETTINGS, resolveDuetSettings, withModelSampling } from '../../engine/duet/settings.ts';
import type {
  ClockEvent,
  DuetOutput,
  DuetSessionApi,
  DuetSessionOptions,
  DuetSettings,
  DuetSettingsInput,
  Recording,
  Turn,
} from '../../engine/duet/types.ts';
import { isNoteEvent, type NoteEvent } from '../../engine/note-events.ts';
import type { SamplerSettingsInput } from '../../engine/sampler/settings.ts';
import { AntiphonError } from '../../errors.ts';
import type { EngineWorkerData, FromWorker, ToWorker } from './messages.ts';

const BOOT = new URL('../../io/worker-boot.mjs', import.meta.url);
const ENTRY = new URL('./worker.ts', import.meta.url).href;

/** Default worker count: one per core, at most 2 (the machines this ships for have 2). */
export const defaultEngineWorkers = (): number => Math.max(1, Math.min(2, availableParallelism()));

interface Host {
  worker: Worker;
  sessions: Map<number, WorkerSession>;
  ready: Promise<void>;
  dead: boolean;
}

export interface EngineWorkerPoolOptions {
  modelDir: string;
  backend?: string;
  /** Worker threads to spread sessions over; started as sessions need them. */
  workers?: number;
  /** The model card's sampling defaults, so the proxy's settings match the worker's. */
  sampling?: SamplerSettingsInput;
  /**
   * A factory for sessions in this thread. When given, the first session runs here and workers
   * start only when more sessions play at once: one performer costs no worker's memory.
   */
  local?: (o: DuetSessionOptions) => DuetSessionApi;
  /** The sessions' DuetSessionOptions.workSliceWords (default: the session's). */
  workSliceWords?: number;
  /** The sessions' DuetSessionOptions.forecast (default: the session's). */
  forecast?: boolean;
  log?: (line: string) => void;
}

export class EngineWorkerPool {
  private readonly hosts: Host[] = [];
  private nextId = 1;
  private memReq = 1;
  private closed = false;
  readonly maxWorkers: number;

  constructor(private readonly opts: EngineWorkerPoolOptions) {
    this.maxWorkers = Math.max(1, opts.workers ?? defaultEngineWorkers());
    // Checked here: a bad value would otherwise surface in the worker, on every session.
    checkWorkSliceWords(opts.workSliceWords);
  }

  /**
   * Starts the first worker and waits for its model, so a bad model fails here, not on a
   * connection. With a local factory, workers start only as sessions need them.
   */
  async start(): Promise<void> {
    if (!this.opts.local) await this.spawn().ready;
  }

  private readonly localSessions = new Set<DuetSessionApi>();

  readonly createSession = (o: DuetSessionOptions): DuetSessionApi => {
    if (this.closed) throw new AntiphonError('E_SESSION_CLOSED', 'the engine workers have stopped');
    if (this.opts.local && this.localSessions.size === 0) {
      const s = this.opts.local(o);
      this.localSessions.add(s);
      s.output$.subscribe({ complete: () => this.localSessions.delete(s) });
      return s;
    }
    const live = this.hosts.filter((h) => !h.dead);
    // An idle worker first; another worker while allowed; else the least loaded.
    let host = live.find((h) => h.sessions.size === 0);
    if (!host && live.length < this.maxWorkers) host = this.spawn();
    host ??= live.reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
    const id = this.nextId++;
    const settings = resolveDuetSettings(withModelSampling(o.settings, this.opts.sampling), DEFAULT_DUET_SETTINGS);
    const s = new WorkerSession(id, settings, (m) => host!.worker.postMessage(m), () => host!.sessions.delete(id));
    host.sessions.set(id, s);
    host.worker.postMessage({ t: 'create', id, settings: o.settings, seed: o.seed } satisfies ToWorker);
    return s;
  };

  get workerCount(): number {
    return this.hosts.filter((h) => !h.dead).length;
  }

  /** Live tensors and sessions in every worker (tests check sessions free what they made). */
  async memory(): Promise<Array<{ numTensors: number; sessions: number }>> {
    return Promise.all(
      this.hosts
        .filter((h) => !h.dead)
        .map(
          (h) =>
            new Promise<{ numTensors: number; sessions: number }>((resolve) => {
              const req = this.memReq++;
              const on = (m: FromWorker) => {
                if (m.t === 'memory' && m.req === req) {
                  h.worker.off('message', on);
                  resolve({ numTensors: m.numTensors, sessions: m.sessions });
                }
              };
              h.worker.on('message', on);
              h.worker.postMessage({ t: 'memory', req } satisfies ToWorker);
            }),
        ),
    );
  }

  /** Disposes every session (note-offs first) and stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.localSessions]) s.dispose();
    for (const h of this.hosts) for (const s of [...h.sessions.values()]) s.dispose();
    await Promise.all(this.hosts.map((h) => h.worker.terminate()));
  }

  private spawn(): Host {
    const data: EngineWorkerData = { entry: ENTRY, modelDir: this.opts.modelDir, backend: this.opts.backend ?? 'auto', workSliceWords: this.opts.workSliceWords, forecast: this.opts.forecast };
    const worker = new Worker(BOOT, { workerData: data });
    const host: Host = { worker, sessions: new Map(), ready: Promise.resolve(), dead: false };
    host.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') resolve();
        else if (m.t === 'failed') reject(new AntiphonError(m.code as never, m.message));
        else if (m.t === 'out') host.sessions.get(m.id)?.receive(m.o);
      });
      const die = (why: string) => {
        if (host.dead) return;
        host.dead = true;
        reject(new AntiphonError('E_INTERNAL', why));
        for (const s of [...host.sessions.values()]) s.fail(why);
        if (!this.closed) this.opts.log?.(`engine worker stopped: ${why}`);
      };
      worker.on('error', (e) => die(`the engine worker failed: ${e.message}`));
      worker.on('exit', (code) => die(`the engine worker exited (${code})`));
    });
    host.ready.catch(() => {});
    this.hosts.push(host);
    return host;
  }
}

/** The server thread's face of a session that lives in a worker. */
class WorkerSession implements DuetSessionApi {
  private readonly out = new Subject<DuetOutput>();
  readonly output$: Observable<DuetOutput> = this.out.asObservable();
  private current: DuetSettings;
  private currentTurn: Turn = 'listening';
  private readonly recorder = new Recorder();
  /** AI notes forwarded and not yet switched off, by channel:note, with their note-on time. */
  private readonly sounding = new Map<string, number>();
  private readonly subs: Subscription[] = [];
  private bpm: number | null = null;
  private originMs: number | null = null;
  private ended = false;

  constructor(
    readonly id: number,
    settings: DuetSettings,
    private readonly send: (m: ToWorker) => void,
    private readonly forget: () => void,
  ) {
    this.current = settings;
  }

  get settings(): DuetSettings {
    return this.current;
  }
  get turn(): Turn {
    return this.currentTurn;
  }

  connect(input: Observable<NoteEvent>): Subscription {
    const sub = input.subscribe({ next: (e) => this.push(e) });
    this.subs.push(sub);
    return sub;
  }

  connectClock(clock: Observable<ClockEvent>): Subscription {
    const sub = clock.subscribe({ next: (ev) => !this.ended && this.send({ t: 'clock', id: this.id, ev }) });
    this.subs.push(sub);
    return sub;
  }

  push(ev: NoteEvent): void {
    if (this.ended) return;
    this.send({ t: 'push', id: this.id, ev });
    // The recording keeps what the engine accepts (the worker answers garbage with an error).
    if (!isNoteEvent(ev)) return;
    if (ev.type === 'noteon' && ev.velocity > 0) this.originMs ??= ev.time;
    this.recorder.played(ev);
  }

  update(input: DuetSettingsInput): DuetSettings {
    if (this.ended) throw new AntiphonError('E_SESSION_CLOSED', 'this duet session has ended; open a new one');
    const next = resolveDuetSettings(input, this.current); // throws E_SETTING, nothing changes
    this.send({ t: 'update', id: this.id, input });
    this.current = next;
    return next;
  }

  handOff(): void {
    if (!this.ended) this.send({ t: 'handoff', id: this.id });
  }

  panic(): void {
    if (!this.ended) this.send({ t: 'panic', id: this.id });
  }

  recording(): Recording {
    const now = Date.now();
    return this.recorder.snapshot(this.bpm ?? this.current.bpm, this.originMs ?? now, now);
  }

  dispose(): void {
    if (this.ended) return;
    this.send({ t: 'dispose', id: this.id });
    this.end();
  }

  /** An output from the worker. */
  receive(o: DuetOutput): void {
    if (this.ended) return;
    if (o.type === 'state') this.currentTurn = o.turn;
    else if (o.type === 'tempo') this.bpm ??= o.bpm;
    else if (o.type === 'noteon') {
      this.sounding.set(`${o.channel}:${o.note}`, o.time);
      this.recorder.noteOn('ai', o.note, o.velocity, o.channel, o.time);
    } else if (o.type === 'noteoff') {
      const key = `${o.channel}:${o.note}`;
      const on = this.sounding.get(key);
      this.sounding.delete(key);
      if (on !== undefined && o.time < on) this.recorder.cancel('ai', o.note, o.channel);
      else this.recorder.noteOff('ai', o.note, o.channel, o.time);
    }
    this.out.next(o);
  }

  /** The worker died: tell the player, and switch off what it was sounding. */
  fail(why: string): void {
    if (this.ended) return;
    this.out.next({ type: 'error', code: 'E_INTERNAL', message: `${why}; reconnect to start a new session` });
    this.end();
  }

  /** Note-offs for everything forwarded, then the end of output$. */
  private end(): void {
    this.ended = true;
    const now = Date.now();
    for (const [key] of this.sounding) {
      const [channel, note] = key.split(':').map(Number);
      this.out.next({ type: 'noteoff', note, channel, time: now });
    }
    this.sounding.clear();
    for (const s of this.subs) s.unsubscribe();
    this.forget();
    this.out.complete();
  }
}
