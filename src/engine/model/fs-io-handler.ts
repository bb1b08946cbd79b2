// A tf.io IOHandler over the file system, so models save and load without tfjs-node.
// It stores only weights: a JSON list of specs and one binary blob, in spec order.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AntiphonError } from '../../errors.ts';

export const WEIGHT_SPECS_FILE = 'weights.json';
export const WEIGHT_DATA_FILE = 'weights.bin';
const FORMAT = 'antiphon-weights/1';

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

async function readOrThrow(dir: string, name: string): Promise<Buffer> {
  const file = join(dir, name);
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'E_MODEL_MISSING' : 'E_MODEL_CORRUPT';
    throw new AntiphonError(code, `cannot read ${name} in ${dir}: ${(e as Error).message}`, { file, cause: e });
  }
}

export type FileSystemHandler = tf.io.IOHandler & Required<Pick<tf.io.IOHandler, 'save' | 'load'>>;

export function fileSystemHandler(dir: string): FileSystemHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (!artifacts.weightSpecs || !artifacts.weightData) throw new AntiphonError('E_INTERNAL', 'nothing to save: no weights');
      const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, WEIGHT_DATA_FILE), new Uint8Array(data));
      await writeFile(join(dir, WEIGHT_SPECS_FILE), JSON.stringify({ format: FORMAT, weightSpecs: artifacts.weightSpecs }, null, 1) + '\n');
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs).length,
          weightDataBytes: data.byteLength,
        },
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const specsFile = join(dir, WEIGHT_SPECS_FILE);
      const dataFile = join(dir, WEIGHT_DATA_FILE);
      let parsed: { format?: string; weightSpecs?: tf.io.WeightsManifestEntry[] };
      try {
        parsed = JSON.parse((await readOrThrow(dir, WEIGHT_SPECS_FILE)).toString('utf8'));
      } catch (e) {
        if (e instanceof AntiphonError) throw e;
        throw new AntiphonError('E_MODEL_CORRUPT', `${WEIGHT_SPECS_FILE} is not valid JSON`, { file: specsFile, cause: e });
      }
      if (parsed.format !== FORMAT || !Array.isArray(parsed.weightSpecs)) {
        throw new AntiphonError('E_MODEL_CORRUPT', `${WEIGHT_SPECS_FILE} is not an ${FORMAT} weight list`, { file: specsFile });
      }
      const buf = await readOrThrow(dir, WEIGHT_DATA_FILE);
      let expected = 0;
      for (const s of parsed.weightSpecs) {
        const per = BYTES_PER[s.dtype];
        if (!per || !Array.isArray(s.shape)) throw new AntiphonError('E_MODEL_CORRUPT', `${WEIGHT_SPECS_FILE}: bad spec for ${s.name}`, { file: specsFile });
        expected += s.shape.reduce((a, b) => a * b, 1) * per;
      }
      if (buf.byteLength !== expected) {
        throw new AntiphonError('E_MODEL_CORRUPT', `${WEIGHT_DATA_FILE} holds ${buf.byteLength} bytes; its specs need ${expected}`, { file: dataFile });
      }
      // Copy out: a Buffer may be a view into a larger shared pool.
      const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
      return { weightSpecs: parsed.weightSpecs, weightData };
    },
  };
}
