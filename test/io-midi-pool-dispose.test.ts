import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { POP909, ROOT } from './helpers/data.ts';

test('dispose() resolves even when a worker is still starting and nothing else is pending', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'fixtures', 'pool-dispose-child.ts'), join(POP909, '001', '001.mid')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'done', 'the child ended before all its pools were disposed');
});

test.run();
