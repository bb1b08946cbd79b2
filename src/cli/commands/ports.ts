// `antiphon ports`, and the MIDI flags `antiphon serve` shares (so the serve command adds them in
// two lines and gets the same parsing and the same help text).

import { AntiphonError } from '../../errors.ts';
import { listMidiPorts, type PortList } from '../../io/ports/list-ports.ts';
import type { MidiDuetConfig } from '../../io/ports/start-midi-duet.ts';
import { ECHO_DEFAULTS } from '../../io/ports/echo-filter.ts';
import { DEFAULT_VIRTUAL_NAME } from '../../io/ports/open-ports.ts';
import type { Command, CommandIO, Options } from '../command.ts';

export const portsCommand: Command = {
  name: 'ports',
  summary: 'List the MIDI inputs and outputs that serve --midi-in and --midi-out can name.',
  usage: 'ports [--json]',
  help: '  --json              print { "inputs": [...], "outputs": [...] }',
  options: { json: { type: 'boolean' } },
  run: (values, positionals, io) => runPorts(values, positionals, io),
};

/** The command's body, with the listing injectable so tests can walk every branch on any machine. */
export async function runPorts(values: Record<string, unknown>, positionals: string[], io: CommandIO, list: () => Promise<PortList> = listMidiPorts): Promise<number> {
  if (positionals.length) throw new AntiphonError('E_USAGE', `ports takes no file names, got "${positionals[0]}" (see antiphon ports --help)`);
  const ports = await list();
  if (values.json) {
    io.out(JSON.stringify(ports));
    return 0;
  }
  const section = (title: string, names: string[]) => (names.length ? [`${title} (${names.length}):`, ...names.map((n) => `  ${n}`)] : [`${title}: none`]);
  for (const line of [...section('MIDI inputs', ports.inputs), ...section('MIDI outputs', ports.outputs)]) io.out(line);
  if (!ports.inputs.length && !ports.outputs.length) io.out('No MIDI ports. Plug in a device, or start serve with --virtual to create ports for a DAW.');
  return 0;
}

/** Spread into serve's options. */
export const midiServeOptions: Options = {
  'midi-in': { type: 'string' },
  'midi-out': { type: 'string' },
  virtual: { type: 'boolean' },
  'midi-channel': { type: 'string' },
  'answer-channel': { type: 'string' },
  'echo-window': { type: 'string' },
};

/** Lines for serve's --help. */
export const midiServeHelp = [
  '  --midi-in NAME          play from this MIDI input (exact name, or a unique part of it; antiphon ports lists them)',
  '  --midi-out NAME         answer on this MIDI output',
  `  --virtual [NAME]        create virtual ports "NAME In" and "NAME Out" for a DAW (default NAME ${DEFAULT_VIRTUAL_NAME}; Linux, macOS)`,
  '  --midi-channel N|all    listen on MIDI channel 1-16, or all (default all)',
  '  --answer-channel N      answer on MIDI channel 1-16 (default: the channel you played on)',
  `  --echo-window MS        drop incoming notes that repeat what Antiphon sent within MS ms, so a DAW loop does not make it answer itself (default ${ECHO_DEFAULTS.windowMs}; 0 off)`,
].join('\n');

/** Musicians number channels 1-16; the engine numbers them 0-15. */
function channelFlag(raw: unknown, flag: string, allowAll: boolean): number | 'all' | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw).trim().toLowerCase();
  if (allowAll && s === 'all') return 'all';
  const n = Number(s);
  if (s === '' || !Number.isInteger(n) || n < 1 || n > 16) throw new AntiphonError('E_USAGE', `--${flag} must be a MIDI channel 1-16${allowAll ? ' or all' : ''}, got "${String(raw)}"`);
  return n - 1;
}

/**
 * serve's MIDI flags as startMidiDuet's config. `--virtual` is a boolean flag, so its optional
 * NAME arrives as serve's (only) positional: `antiphon serve --virtual "My Duet"`.
 */
export function midiServeConfig(values: Record<string, unknown>, positionals: string[]): MidiDuetConfig {
  if (positionals.length > 1 || (positionals.length === 1 && !values.virtual)) {
    throw new AntiphonError('E_USAGE', `unexpected argument "${positionals[values.virtual ? 1 : 0]}"; only --virtual takes a name (see antiphon serve --help)`);
  }
  const echoRaw = values['echo-window'];
  const echoWindowMs = echoRaw === undefined ? undefined : Number(echoRaw);
  if (echoWindowMs !== undefined && (!Number.isInteger(echoWindowMs) || echoWindowMs < 0 || echoWindowMs > 10_000)) {
    throw new AntiphonError('E_USAGE', `--echo-window must be a whole number of ms from 0 to 10000, got "${String(echoRaw)}"`);
  }
  const answer = channelFlag(values['answer-channel'], 'answer-channel', false);
  return {
    request: {
      input: values['midi-in'] as string | undefined,
      output: values['midi-out'] as string | undefined,
      virtual: values.virtual ? (positionals[0] ?? DEFAULT_VIRTUAL_NAME) : undefined,
    },
    inputChannel: channelFlag(values['midi-channel'], 'midi-channel', true) ?? 'all',
    ...(answer === undefined ? {} : { aiChannel: answer as number }),
    ...(echoWindowMs === undefined ? {} : { echoWindowMs }),
  };
}
