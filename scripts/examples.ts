// Writes example continuations of held-out songs, for a musician to listen to before playing
// with a model (the build machines have no sound). Each is `antiphon generate` on a POP909
// song that the model's training split held out: POP909 is MIT-licensed, so its primer bars
// may ship; Pop1K7 has no licence and stays out.
//
//   node --import tsx scripts/examples.ts --model models/default --dataset DIR --data ../shared/data \
//     [--out models/default/examples] [--count 4] [--primer-bars 4] [--bars 8] [--seed 1]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { splitSongs } from '../src/trainer/batches.ts';
import { readSplitFromCard } from '../src/trainer/judge/run.ts';
import { TRAIN_DEFAULTS } from '../src/trainer/train-run.ts';
import { INDEX_FILE, type StoreIndex } from '../src/trainer/token-store.ts';

const USAGE =
  'usage: node --import tsx scripts/examples.ts --model DIR --dataset DIR --data DIR [--out DIR] [--count N] [--primer-bars N] [--bars M] [--seed S] [--val-fraction F]';
const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    count: { type: 'string', default: '4' },
    'primer-bars': { type: 'string', default: '4' },
    bars: { type: 'string', default: '8' },
    seed: { type: 'string', default: '1' },
    'val-fraction': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help || !o.model || !o.dataset || !o.data) {
  console.log(USAGE);
  process.exit(o.help ? 0 : 2);
}
const out = o.out ?? join(o.model, 'examples');
const count = Number(o.count);
const index = JSON.parse(readFileSync(join(o.dataset, INDEX_FILE), 'utf8')) as StoreIndex;
// The trainer's split, so these songs were never trained on: the fraction the card records, as the judge reads it.
const valFraction = o['val-fraction'] !== undefined ? Number(o['val-fraction']) : ((await readSplitFromCard(o.model)).valFraction ?? TRAIN_DEFAULTS.valFraction);
const held = splitSongs(index, valFraction).val.map((i) => index.songs[i]).filter((s) => s.source === 'pop909');
if (held.length === 0) {
  console.error('no held-out POP909 songs in this dataset');
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const bin = new URL('../bin/antiphon.js', import.meta.url).pathname;
const rows: string[] = [];
for (const song of held.slice(0, count)) {
  const name = `pop909-${song.file.split('/')[0]}.mid`;
  const args = [bin, 'generate', '--model', o.model, '--primer', join(o.data, 'pop909', song.file), '--out', join(out, name),
    '--primer-bars', o['primer-bars']!, '--bars', o.bars!, '--seed', o.seed!, '--backend', 'wasm', '--json'];
  const p = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (p.status !== 0) {
    console.error(`${song.file}: generate failed (exit ${p.status})\n${p.stderr}`);
    process.exit(1);
  }
  const r = JSON.parse(p.stdout.trim().split('\n').pop()!) as { notes: number; bars: number };
  console.log(`${name}: ${r.notes} notes in ${r.bars} bars`);
  rows.push(`| \`${name}\` | POP909 ${song.file} | ${r.notes} |`);
}
const readme = `# Example continuations

Written by \`scripts/examples.ts\` with \`antiphon generate\`, seed ${o.seed}, the model's default
sampling settings. Each file holds ${o['primer-bars']} bars of a POP909 song (MIT licence) that the
model's training split held out, on the track \`primer\`, then ${o.bars} bars by the model on the
track \`antiphon\`. Open them in any DAW or MIDI player.

| file | primer | notes generated |
|---|---|---|
${rows.join('\n')}
`;
writeFileSync(join(out, 'README.md'), readme);
console.log(`wrote ${rows.length} examples and README.md to ${out}`);
