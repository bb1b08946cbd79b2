// `antiphon`: one entry, one subcommand per job. Errors print one line and exit non-zero.

import { isAntiphonError } from '../errors.ts';
import { helpText, parse, type Command, type CommandIO } from './command.ts';
import { tokenize } from './commands/tokenize.ts';
import { roundtrip } from './commands/roundtrip.ts';
import { datasetBuild } from './commands/dataset.ts';
import { trainCommand } from './commands/train.ts';
import { evalCommand } from './commands/eval.ts';
import { generateCommand } from './commands/generate.ts';
import { judgeCommand } from './commands/judge.ts';
import { portsCommand } from './commands/ports.ts';
import { serveCommand } from './commands/serve.ts';

export const COMMANDS: Command[] = [tokenize, roundtrip, datasetBuild, trainCommand, evalCommand, generateCommand, judgeCommand, portsCommand, serveCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'antiphon: a real-time MIDI duet partner built on a Compound Word Transformer.',
    '',
    'Usage: antiphon <command> [options]     (antiphon <command> --help for its options)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

const defaultIO: CommandIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  tty: Boolean(process.stderr.isTTY),
};

export async function main(argv: string[], io: CommandIO = defaultIO): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    io.out(usage());
    return first ? 0 : 0;
  }
  // "dataset build" is a two-word command.
  const name = first === 'dataset' && rest[0] && !rest[0].startsWith('-') ? `dataset ${rest.shift()}` : first;
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`antiphon: unknown command "${name}". Run antiphon --help for the list.`);
    return 2;
  }
  try {
    const { values, positionals } = parse(command, rest);
    if (values.help) {
      io.out(helpText(command));
      return 0;
    }
    return await command.run(values, positionals, io);
  } catch (e) {
    if (isAntiphonError(e)) {
      io.err(`antiphon ${command.name}: ${e.code}: ${e.message}`);
      return e.code === 'E_USAGE' ? 2 : 1;
    }
    io.err(`antiphon ${command.name}: E_INTERNAL: ${(e as Error)?.message ?? String(e)}`);
    return 1;
  }
}
