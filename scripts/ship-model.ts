// Copies a training checkpoint into a model folder that `antiphon serve` loads (models/default),
// with its model card: sources and licences, config and steps, hours and machine, validation
// metrics and sampling defaults. The optimizer state stays behind.
//
//   node --import tsx scripts/ship-model.ts --from RUN/checkpoints/step-N --run RUN --to models/default \
//     [--sampling '{"pitch":{"temperature":0.9}}'] [--notes FILE.md] [--hours H] [--machine TEXT]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.ts';
import { loadModel, saveModel } from '../src/engine/model/checkpoint.ts';
import { resolveSampling, type SamplerSettingsInput } from '../src/engine/sampler/settings.ts';

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    run: { type: 'string' },
    to: { type: 'string', default: 'models/default' },
    sampling: { type: 'string' },
    notes: { type: 'string' },
    hours: { type: 'string' },
    machine: { type: 'string', default: 'the project\'s CPU build machines: 2 cores, no GPU, Node 20, tfjs wasm backend' },
  },
});
if (!values.from || !values.run) {
  console.error('usage: ship-model.ts --from CHECKPOINT --run RUN_DIR [--to models/default] [--sampling JSON] [--notes FILE] [--hours H]');
  process.exit(2);
}
await selectBackend('wasm', () => {});
const { model, card } = await loadModel(values.from);

// The validation record nearest the checkpoint's step, from the run's metrics.
const lines = readFileSync(`${values.run}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const evals = lines.filter((m) => typeof m.valLoss === 'number' && (m.step as number) <= card.trainingSteps);
const lastEval = evals[evals.length - 1];
const metrics: Record<string, number> = {};
if (lastEval) {
  for (const [k, v] of Object.entries(lastEval)) if (typeof v === 'number' && k !== 'step' && !k.startsWith('lr')) metrics[k] = Number(v.toFixed(4));
  metrics.evalStep = lastEval.step as number;
}
const sampling = values.sampling ? (JSON.parse(values.sampling) as SamplerSettingsInput) : undefined;
if (sampling) resolveSampling(sampling); // refuses a bad setting here, not at serve time

const notes = [
  card.notes ?? '',
  '',
  '### Sources and licences',
  '',
  '- Pop1K7 (Hsiao et al., AAAI 2021): pop piano covers transcribed by Onsets and Frames, beat-aligned. No licence is given; it was published for research and is used here for training only. The files are not in this repository.',
  '- POP909 (Wang et al., ISMIR 2020): 909 Chinese pop songs arranged for piano, MIT licence. The files are not in this repository.',
  '',
  '### Training',
  '',
  `- Machine: ${values.machine}.`,
  values.hours ? `- Wall-clock training time: about ${values.hours} hours (the run shares the machine with development work; see metrics.jsonl in the run folder for words/s).` : '',
  `- Steps: ${card.trainingSteps}. Config: see config.json.`,
  ...(values.notes ? ['', readFileSync(values.notes, 'utf8').trim()] : []),
]
  .filter((l, i, a) => l !== '' || a[i - 1] !== '')
  .join('\n');

await saveModel(model, values.to, {
  ...card,
  description: 'The default Antiphon model: a Compound Word Transformer trained with antiphon train on Pop1K7 and POP909.',
  dataSources: ['Pop1K7 (research use, no licence given)', 'POP909 (MIT licence)'],
  metrics: { ...card.metrics, ...metrics },
  notes,
  ...(sampling ? { sampling } : {}),
});
model.dispose();
console.log(`shipped ${values.from} (step ${card.trainingSteps}) to ${values.to}`);
