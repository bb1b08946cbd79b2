// `antiphon serve`: the browser duet. Loads a model, serves the client and one duet session per
// WebSocket, optionally a MIDI duet on ports, and shuts down cleanly on Ctrl-C.
import { resolve } from 'node:path';
import { AntiphonError, isAntiphonError } from '../../errors.ts';
import { installPanicHandlers, panicAll } from '../../io/ports/panic-registry.ts';
import { startMidiDuet, type MidiDuet } from '../../io/ports/start-midi-duet.ts';
import { DEFAULT_LIMITS, type ServerLimits } from '../../server/limits.ts';
import { DEFAULT_MODEL_DIR, loadModelSessions, type ModelSessions } from '../../server/model-sessions.ts';
import { defaultEngineWorkers } from '../../server/engine-workers/pool.ts';
import { DEFAULT_WORK_SLICE_WORDS } from '../../engine/duet/session.ts';
import { createServer, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STATIC_DIR, type AntiphonServer } from '../../server/server.ts';
import { onShutdownSignal, shutdownServer, type SignalSource } from '../../server/shutdown.ts';
import { backendOption, intOption, type Command, type CommandIO } from '../command.ts';
import { midiServeConfig, midiServeHelp, midiServeOptions } from './ports.ts';

/** Each limit's flag. */
const LIMIT_FLAGS: Record<string, keyof ServerLimits> = {
  'max-payload': 'maxPayloadBytes',
  rate: 'messagesPerSecond',
  burst: 'burst',
  'ping-interval': 'pingIntervalMs',
  'drop-above': 'dropAboveBytes',
  'close-above': 'closeAboveBytes',
  'max-sessions': 'maxSessions',
};

const list = (raw: unknown): string[] => (raw === undefined ? [] : (Array.isArray(raw) ? raw : [raw]).flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter(Boolean));

export interface ServeDeps {
  /** Where SIGINT/SIGTERM come from (default process). */
  signals?: SignalSource;
  /** Also panic MIDI outputs on a crash or a second Ctrl-C (default true). */
  panicHandlers?: boolean;
  /** Called once the server listens (tests). */
  onListening?: (server: AntiphonServer) => void;
}

export async function runServe(values: Record<string, unknown>, positionals: string[], io: CommandIO, deps: ServeDeps = {}): Promise<number> {
  // Every flag is checked before anything is loaded.
  const host = (values.host as string | undefined) ?? DEFAULT_HOST;
  const port = intOption(values, 'port', DEFAULT_PORT, 0);
  if (port > 65535) throw new AntiphonError('E_USAGE', `--port must be at most 65535, got ${port}`);
  const backend = backendOption(values);
  const limits: Partial<ServerLimits> = {};
  for (const [flag, key] of Object.entries(LIMIT_FLAGS)) limits[key] = intOption(values, flag, DEFAULT_LIMITS[key]);
  const token = values.token as string | undefined;
  if (token !== undefined && token.length < 8) throw new AntiphonError('E_USAGE', '--token must be at least 8 characters long');
  const midiConfig = midiServeConfig(values, positionals);
  const modelDir = values.model ? resolve(String(values.model)) : DEFAULT_MODEL_DIR;

  const engineWorkers = intOption(values, 'engine-workers', defaultEngineWorkers(), 0);
  const workSliceWords = intOption(values, 'work-slice', DEFAULT_WORK_SLICE_WORDS, 1);
  const forecast = values['no-forecast'] !== true;
  const loaded: ModelSessions = await loadModelSessions(modelDir, backend, io.err, { engineWorkers, workSliceWords, forecast });
  let server: AntiphonServer | null = null;
  let midi: MidiDuet | null = null;
  const removePanic = deps.panicHandlers === false ? () => {} : installPanicHandlers({ report: io.err });
  try {
    server = await createServer({
      host,
      port,
      createSession: loaded.createSession,
      model: loaded.info,
      staticDir: values.static ? resolve(String(values.static)) : DEFAULT_STATIC_DIR,
      token,
      allowHosts: list(values['allow-host']),
      allowOrigins: list(values['allow-origin']),
      limits,
      log: io.err,
    });
    try {
      midi = await startMidiDuet(midiConfig, loaded.createSession);
    } catch (e) {
      // No MIDI system at all: the browser duet still works.
      if (!isAntiphonError(e) || e.code !== 'E_MIDI_PORT_UNAVAILABLE') throw e;
      io.err(`antiphon serve: ${e.code}: ${e.message} (serving the browser duet without MIDI)`);
    }
  } catch (e) {
    await server?.close();
    await loaded.dispose();
    removePanic();
    throw e;
  }

  const s = server;
  const params = loaded.info.parameters ? `, ${loaded.info.parameters.toLocaleString('en-US')} parameters` : '';
  io.err(`model: ${loaded.info.name}${params}, ${loaded.info.trainingSteps} training steps`);
  if (s.token && token === undefined) io.err(`bound to ${host}, beyond this machine: a token is required (generated; pass --token to choose one)`);
  io.out(`Antiphon is listening. Open ${s.url}${s.token ? `?token=${encodeURIComponent(s.token)}` : ''} in a browser (Ctrl-C stops it).`);
  deps.onListening?.(s);

  const signal = await new Promise<string>((done) => onShutdownSignal(deps.signals ?? process, done));
  io.err(`${signal}: ending ${s.sessionCount} session(s) and stopping`);
  try {
    await shutdownServer(s, { before: () => midi?.dispose(), panic: panicAll, log: io.err });
  } finally {
    await loaded.dispose();
    removePanic();
  }
  return 0;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve the browser duet: play in a browser (or on MIDI ports) and the model answers.',
  usage: 'serve [--host H] [--port P] [--model DIR] [--backend B] [--token T] [limits] [MIDI options]',
  help: [
    `  --host H                address to listen on (default ${DEFAULT_HOST}); any other than loopback requires a token`,
    `  --port P                port (default ${DEFAULT_PORT}; 0 picks a free one)`,
    '  --model DIR             model folder (default models/default)',
    '  --backend B             auto | tensorflow | wasm | cpu (default auto)',
    '  --token T               token clients must give (?token=T); one is generated when --host is not loopback',
    '  --allow-host NAME       also accept this Host name (repeatable, or comma-separated); loopback names and the',
    '                          bound address are always accepted, and 403 answers any other',
    '  --allow-origin ORIGIN   also accept WebSockets from pages of this origin, e.g. http://localhost:5173 (repeatable);',
    "                          the server's own origin is always accepted, and 403 answers any other",
    `  --static DIR            the browser client's files (default client/dist)`,
    `  --engine-workers N      worker threads that run the sessions' model work, so sessions use every core`,
    `                          (default ${defaultEngineWorkers()} here: one per core, at most 2; 0 runs them in the server thread)`,
    `  --work-slice WORDS      most words a session puts in its model's cache in one go while listening; smaller gives`,
    `                          the other sessions in its thread their turn sooner, at more total work (default ${DEFAULT_WORK_SLICE_WORDS})`,
    '  --no-forecast           do not prime the words a player is expected to commit next while they play (saves idle',
    '                          work; a pedal change or a half bar then waits for its words to be primed)',
    '',
    '  Limits (every one has a safe default):',
    `  --max-payload BYTES     largest message a client may send; bigger closes with 1009 (default ${DEFAULT_LIMITS.maxPayloadBytes})`,
    `  --rate N                messages a second per connection, on average (default ${DEFAULT_LIMITS.messagesPerSecond})`,
    `  --burst N               ... and at once; extra messages are dropped with one E_RATE_LIMIT error (default ${DEFAULT_LIMITS.burst})`,
    `  --ping-interval MS      ping clients this often; one that misses a ping is dropped (default ${DEFAULT_LIMITS.pingIntervalMs})`,
    `  --drop-above BYTES      unread bytes for a client above which the AI's new notes to it are dropped (default ${DEFAULT_LIMITS.dropAboveBytes})`,
    `  --close-above BYTES     unread bytes above which the client is closed with 1008 (default ${DEFAULT_LIMITS.closeAboveBytes})`,
    `  --max-sessions N        concurrent sessions; more are refused with 503 (default ${DEFAULT_LIMITS.maxSessions})`,
    '',
    '  MIDI (a separate duet on ports, beside the browser sessions):',
    midiServeHelp,
  ].join('\n'),
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    model: { type: 'string' },
    backend: { type: 'string' },
    token: { type: 'string' },
    'allow-host': { type: 'string', multiple: true },
    'allow-origin': { type: 'string', multiple: true },
    static: { type: 'string' },
    'engine-workers': { type: 'string' },
    'work-slice': { type: 'string' },
    'no-forecast': { type: 'boolean' },
    ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((f) => [f, { type: 'string' as const }])),
    ...midiServeOptions,
  },
  run: (values, positionals, io) => runServe(values, positionals, io),
};
