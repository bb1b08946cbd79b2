// The MIDI reader's limits, as options every file-reading command accepts.

import { MidiReaderPool, type MidiReaderOptions } from '../io/midi-pool.ts';
import { intOption, type Options } from './command.ts';

export const POOL_OPTIONS: Options = {
  workers: { type: 'string' },
  'timeout-ms': { type: 'string' },
  'max-heap-mb': { type: 'string' },
  'max-file-mb': { type: 'string' },
};

export function poolHelp(): string {
  const d = MidiReaderPool.defaults();
  return [
    `  --workers N         parser threads (default ${d.workers}, this machine's cores)`,
    `  --timeout-ms N      give up on a file after N ms (default ${d.timeoutMs})`,
    `  --max-heap-mb N     heap per parser thread (default ${d.maxHeapMb})`,
    `  --max-file-mb N     refuse files larger than N MiB (default ${d.maxFileBytes / 2 ** 20})`,
  ].join('\n');
}

export function poolOptions(values: Record<string, unknown>): Partial<MidiReaderOptions> {
  const d = MidiReaderPool.defaults();
  return {
    workers: intOption(values, 'workers', d.workers),
    timeoutMs: intOption(values, 'timeout-ms', d.timeoutMs),
    maxHeapMb: intOption(values, 'max-heap-mb', d.maxHeapMb),
    maxFileBytes: intOption(values, 'max-file-mb', d.maxFileBytes / 2 ** 20) * 2 ** 20,
  };
}
