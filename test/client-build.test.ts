// The client's build: esbuild bundles client/src into a page that loads nothing from the
// internet, and npm runs the build on install and before start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClient, CLIENT_DIST, findUrls } from '../scripts/build-client.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const out = mkdtempSync(join(tmpdir(), 'antiphon-client-'));
test.before(async () => {
  await buildClient({ outdir: out });
});
test.after(() => rmSync(out, { recursive: true, force: true }));

test('the build writes index.html, app.js, app.css and the timer worker', () => {
  assert.equal(readdirSync(out).sort(), ['app.css', 'app.js', 'index.html', 'timer-worker.js']);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  const js = readFileSync(join(out, 'app.js'), 'utf8');
  assert.match(html, /<script type="module" src="app\.js\?v=[0-9a-f]{10}"><\/script>/);
  assert.match(html, /href="app\.css\?v=[0-9a-f]{10}"/);
  assert.not.match(html, /%[A-Z_]+%/, 'every placeholder filled');
  assert.ok(js.length > 50_000, 'Tone.js is bundled in, not fetched');
  assert.not.match(js, /\bimport\s*[{*"']|\bfrom\s*"tone"/, 'no bare imports left for the browser to resolve');
  assert.match(js, /timer-worker\.js\?v=[0-9a-f]{10}/, 'the worker is found by its hashed name');
});

test('the page refers to no http(s) URL, in any file', () => {
  for (const name of readdirSync(out)) {
    const text = readFileSync(join(out, name), 'utf8');
    assert.equal(findUrls(text), [], name);
  }
  // The check itself finds URLs when there are some.
  assert.equal(findUrls('fetch("https://cdn.example/x.js"); see http://a.b/c'), ['https://cdn.example/x.js', 'http://a.b/c']);
});

test('the page refers only to its own files', () => {
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 3);
  for (const ref of refs) {
    assert.ok(ref === '#settings' || ref === 'data:,' || /^(app\.js|app\.css)\?v=/.test(ref), ref);
  }
});

test('the default output folder is client/dist, and npm builds it on install and before start', () => {
  assert.is(CLIENT_DIST, join(ROOT, 'client', 'dist'));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const script of ['postinstall', 'prestart', 'build:client']) {
    assert.match(pkg.scripts[script] ?? '', /node scripts\/build-client\.mjs/, script);
  }
  assert.ok(pkg.dependencies.esbuild && pkg.dependencies.tone, 'build tools are dependencies, so a production install builds too');
  assert.match(readFileSync(join(ROOT, 'client', '.gitignore'), 'utf8'), /^dist\/$/m, 'dist is built, never committed');
});

test('the command npm runs writes client/dist/index.html and the bundle it names', () => {
  const started = Date.now();
  const out = execFileSync(process.execPath, ['scripts/build-client.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.match(out, /client: built client\/dist in \d+ ms/);
  const index = join(CLIENT_DIST, 'index.html');
  assert.ok(statSync(index).mtimeMs >= started - 1000, 'index.html was written just now');
  const html = readFileSync(index, 'utf8');
  const hash = /app\.js\?v=([0-9a-f]{10})/.exec(html)?.[1];
  const js = readFileSync(join(CLIENT_DIST, 'app.js'));
  assert.is(hash, createHash('sha256').update(js).digest('hex').slice(0, 10), 'the page names the bundle beside it');
});

test.run();
