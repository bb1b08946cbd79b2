// Runs every test/**/*.test.ts with uvu and ends with the `N passed, N failed` line CI reads.
// uvu's own summary ("Total: / Passed:") is parsed from its output, which is streamed through unchanged.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pattern = process.argv[2] ?? '\\.test\\.ts$';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
);

let out = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk: string) => {
  out += chunk;
  process.stdout.write(chunk);
});
child.on('close', (code) => {
  // Strip ANSI colours before reading uvu's totals.
  const plain = out.replace(/\u001b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    console.log('0 passed, 1 failed');
    process.exitCode = 1;
    return;
  }
  // uvu's Total counts the tests that ran; skipped ones (test.skip) are counted apart.
  const failed = total - passed;
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = code === 0 && failed === 0 ? 0 : 1;
});
