// The shape every subcommand shares: its own options, its own --help, and a numeric exit code.
// Option parsing is node's util.parseArgs (built in, strict: an unknown flag is a usage error).

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AntiphonError } from '../errors.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../engine/backend.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Lines under "Options:" in --help. */
  help: string;
  options: Options;
  run(values: Record<string, unknown>, positionals: string[], io: CommandIO): Promise<number>;
}

export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** True when stderr is a terminal, so progress can redraw one line. */
  tty: boolean;
}

export function helpText(c: Command): string {
  return `Usage: antiphon ${c.usage}\n\n${c.summary}\n\nOptions:\n${c.help}\n  -h, --help          show this help`;
}

export function parse(c: Command, argv: string[]): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...c.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (e) {
    throw new AntiphonError('E_USAGE', `${(e as Error).message.split('\n')[0]} (see antiphon ${c.name} --help)`);
  }
}

/** A positive integer option, or a usage error naming it. */
export function intOption(values: Record<string, unknown>, name: string, fallback: number, min = 1): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new AntiphonError('E_USAGE', `--${name} must be an integer >= ${min}, got "${String(raw)}"`);
  return n;
}

/** --backend, checked against the engine's choices. */
export function backendOption(values: Record<string, unknown>, fallback: BackendChoice = 'auto'): BackendChoice {
  const raw = (values.backend as string | undefined) ?? fallback;
  if (!BACKEND_CHOICES.includes(raw as BackendChoice)) throw new AntiphonError('E_USAGE', `--backend must be one of ${BACKEND_CHOICES.join(', ')}, got "${raw}"`);
  return raw as BackendChoice;
}
